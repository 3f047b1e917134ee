//! Typed errors from the model folder's config files, built from hand-made JSON (no model needed).

use webvram::models::ModelError;
use webvram::models::bert::{
    BertConfig, BertModel, SentenceHead, SentenceModules, SentenceTokenizer,
};

const CONFIG: &str = r#"{"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
  "intermediate_size": 1536, "vocab_size": 30522, "hidden_act": "gelu", "layer_norm_eps": 1e-12}"#;

fn config_with(
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Result<BertConfig, ModelError> {
    let mut value: serde_json::Value = serde_json::from_str(CONFIG).unwrap();
    edit(value.as_object_mut().unwrap());
    BertConfig::from_json(value.to_string().as_bytes())
}

#[test]
fn config_errors_name_the_file_and_field() {
    let c = config_with(|_| {}).unwrap();
    assert_eq!(
        (
            c.hidden_size(),
            c.head_size(),
            c.max_position_embeddings(),
            c.type_vocab_size()
        ),
        (384, 32, 512, 2)
    );
    let missing = config_with(|m| drop(m.remove("hidden_size"))).unwrap_err();
    assert_eq!(
        missing,
        ModelError::MissingField {
            file: "config.json".into(),
            field: "hidden_size".into()
        }
    );
    assert!(missing.to_string().contains("config.json"), "{missing}");
    let tanh = config_with(|m| drop(m.insert("hidden_act".into(), "gelu_new".into()))).unwrap_err();
    assert!(
        matches!(&tanh, ModelError::Unsupported { file, field, value, .. }
        if file == "config.json" && field == "hidden_act" && value == "gelu_new"),
        "{tanh}"
    );
    assert_eq!(tanh.code(), "UNSUPPORTED");
    let heads =
        config_with(|m| drop(m.insert("num_attention_heads".into(), 7.into()))).unwrap_err();
    assert!(
        matches!(&heads, ModelError::InvalidValue { field, .. } if field == "num_attention_heads"),
        "{heads}"
    );
    let zero = config_with(|m| drop(m.insert("num_hidden_layers".into(), 0.into()))).unwrap_err();
    assert!(
        matches!(&zero, ModelError::InvalidValue { field, .. } if field == "num_hidden_layers"),
        "{zero}"
    );
    let typed = config_with(|m| drop(m.insert("vocab_size".into(), "big".into()))).unwrap_err();
    assert!(
        matches!(&typed, ModelError::InvalidJson { file, .. } if file == "config.json"),
        "{typed}"
    );
    let roberta =
        config_with(|m| drop(m.insert("model_type".into(), "roberta".into()))).unwrap_err();
    assert!(
        matches!(&roberta, ModelError::Unsupported { field, .. } if field == "model_type"),
        "{roberta}"
    );
}

const MODULES: &str = r#"[
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
  {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#;

#[test]
fn head_errors_name_the_file_and_field() {
    let modules = SentenceModules::from_json(MODULES.as_bytes()).unwrap();
    assert_eq!(modules.pooling_config_path(), "1_Pooling/config.json");
    assert!(modules.normalize());
    let dense = MODULES.replace("models.Normalize", "models.Dense");
    let err = SentenceModules::from_json(dense.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, ModelError::Unsupported { file, .. } if file == "modules.json"),
        "{err}"
    );

    let sbert = br#"{"max_seq_length": 256}"#;
    let head =
        |pooling: &str| SentenceHead::from_json(MODULES.as_bytes(), pooling.as_bytes(), sbert);
    let sqrt = head(r#"{"pooling_mode_mean_sqrt_len_tokens": true}"#).unwrap_err();
    assert!(
        matches!(&sqrt, ModelError::Unsupported { file, field, .. }
        if file == "1_Pooling/config.json" && field == "pooling_mode_mean_sqrt_len_tokens"),
        "{sqrt}"
    );
    let two =
        head(r#"{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true}"#).unwrap_err();
    assert!(
        matches!(&two, ModelError::Unsupported { field, .. } if field == "pooling_mode"),
        "{two}"
    );
    let none = head("{}").unwrap_err();
    assert!(
        matches!(&none, ModelError::Unsupported { field, .. } if field == "pooling_mode"),
        "{none}"
    );

    let no_len = SentenceHead::from_json(
        MODULES.as_bytes(),
        br#"{"pooling_mode_mean_tokens": true}"#,
        b"{}",
    )
    .unwrap_err();
    assert_eq!(
        no_len,
        ModelError::MissingField {
            file: "sentence_bert_config.json".into(),
            field: "max_seq_length".into()
        }
    );

    let config = config_with(|_| {}).unwrap();
    let wide =
        head(r#"{"pooling_mode_mean_tokens": true, "word_embedding_dimension": 768}"#).unwrap();
    let err = BertModel::new(config.clone(), wide).unwrap_err();
    assert!(
        matches!(&err, ModelError::InvalidValue { field, .. } if field == "word_embedding_dimension"),
        "{err}"
    );
    let long = SentenceHead::from_json(
        MODULES.as_bytes(),
        br#"{"pooling_mode_mean_tokens": true}"#,
        br#"{"max_seq_length": 1024}"#,
    )
    .unwrap();
    let err = BertModel::new(config, long).unwrap_err();
    assert!(
        matches!(&err, ModelError::InvalidValue { file, .. } if file == "sentence_bert_config.json"),
        "{err}"
    );
}

#[test]
fn a_broken_tokenizer_file_is_a_typed_error() {
    let head = SentenceHead::from_json(
        MODULES.as_bytes(),
        br#"{"pooling_mode_mean_tokens": true}"#,
        br#"{"max_seq_length": 256}"#,
    )
    .unwrap();
    let err = SentenceTokenizer::from_bytes(b"{\"not\": \"a tokenizer\"}", &head)
        .err()
        .unwrap();
    assert!(
        matches!(&err, ModelError::Tokenizer { file, .. } if file == "tokenizer.json"),
        "{err}"
    );
}
