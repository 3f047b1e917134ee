//! Layer names, and where each checkpoint tensor belongs.

/// The first layer: word, position and token-type embeddings with their LayerNorm.
pub const EMBEDDINGS_LAYER: &str = "embeddings";

/// The name of encoder layer `index` (`"encoder.layer.3"`), as the checkpoint spells it.
pub fn encoder_layer_name(index: usize) -> String {
    format!("encoder.layer.{index}")
}

/// Places a checkpoint tensor: `Some((layer, name within the layer))`, or `None` to skip it.
///
/// Accepts bare `BertModel` names (`embeddings.word_embeddings.weight`) and `BertFor…` names with a
/// `bert.` prefix; renames the TF-era `LayerNorm.gamma`/`beta` to `weight`/`bias`. Skips the integer
/// `embeddings.position_ids` buffer, the pooler (sentence-transformers pools itself) and any task head.
/// Pass it to [`HostSink::new`](crate::exec::HostSink::new).
pub fn layer_of(name: &str) -> Option<(String, String)> {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    let (layer, local) = if let Some(rest) = name.strip_prefix("embeddings.") {
        if rest == "position_ids" {
            return None;
        }
        (EMBEDDINGS_LAYER.to_owned(), rest)
    } else {
        let rest = name.strip_prefix("encoder.layer.")?;
        let (index, local) = rest.split_once('.')?;
        (encoder_layer_name(index.parse().ok()?), local)
    };
    Some((layer, canonical(local)))
}

fn canonical(local: &str) -> String {
    if let Some(stem) = local.strip_suffix("LayerNorm.gamma") {
        format!("{stem}LayerNorm.weight")
    } else if let Some(stem) = local.strip_suffix("LayerNorm.beta") {
        format!("{stem}LayerNorm.bias")
    } else {
        local.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(name: &str) -> Option<(String, String)> {
        layer_of(name)
    }

    #[test]
    fn places_bare_and_prefixed_names() {
        let want = Some((
            "encoder.layer.5".to_owned(),
            "attention.self.query.weight".to_owned(),
        ));
        assert_eq!(placed("encoder.layer.5.attention.self.query.weight"), want);
        assert_eq!(
            placed("bert.encoder.layer.5.attention.self.query.weight"),
            want
        );
        let emb = Some(("embeddings".to_owned(), "word_embeddings.weight".to_owned()));
        assert_eq!(placed("embeddings.word_embeddings.weight"), emb);
        let gamma = placed("bert.embeddings.LayerNorm.gamma");
        assert_eq!(
            gamma,
            Some(("embeddings".to_owned(), "LayerNorm.weight".to_owned()))
        );
    }

    #[test]
    fn skips_what_sentence_transformers_does_not_use() {
        for name in [
            "embeddings.position_ids",
            "bert.embeddings.position_ids",
            "pooler.dense.weight",
            "bert.pooler.dense.bias",
            "cls.predictions.bias",
            "encoder.layer.x.output.dense.weight",
            "encoder.layer.3",
        ] {
            assert_eq!(placed(name), None, "{name}");
        }
    }
}
