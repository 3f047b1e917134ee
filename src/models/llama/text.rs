//! A decoder's text side: `tokenizer.json` (byte-level BPE and its special tokens) and the chat
//! template and special tokens of `tokenizer_config.json`.

use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::models::error::ModelError;
use crate::models::json::parse;
use crate::models::llama::chat::{ChatTemplate, Message, TOKENIZER_CONFIG_FILE};

/// The tokenizer file, as errors name it.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Encoding, decoding and chat formatting for one decoder.
#[derive(Debug)]
pub struct TextCodec {
    inner: Tokenizer,
    template: Option<ChatTemplate>,
    bos: Option<u32>,
}

/// A token in `tokenizer_config.json`: a string, or an `AddedToken` object.
#[derive(Deserialize)]
#[serde(untagged)]
enum TokenEntry {
    Text(String),
    Added { content: String },
}

impl TokenEntry {
    fn text(self) -> String {
        match self {
            Self::Text(t) | Self::Added { content: t } => t,
        }
    }
}

/// `chat_template`: one template, or a list of named ones (the `default` is used).
#[derive(Deserialize)]
#[serde(untagged)]
enum TemplateEntry {
    One(String),
    Named(Vec<NamedTemplate>),
}

#[derive(Deserialize)]
struct NamedTemplate {
    name: String,
    template: String,
}

#[derive(Deserialize, Default)]
struct RawTokenizerConfig {
    chat_template: Option<TemplateEntry>,
    bos_token: Option<TokenEntry>,
    eos_token: Option<TokenEntry>,
    add_bos_token: Option<bool>,
}

impl TextCodec {
    /// Loads `tokenizer.json` and, when the folder has one, `tokenizer_config.json`.
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`] for a tokenizer the crate cannot load; [`ModelError::InvalidJson`]
    /// / [`ModelError::InvalidValue`] for a broken config or chat template.
    pub fn from_bytes(tokenizer_json: &[u8], config: Option<&[u8]>) -> Result<Self, ModelError> {
        let inner = Tokenizer::from_bytes(tokenizer_json).map_err(|e| tokenizer_error(&e))?;
        let raw: RawTokenizerConfig = match config {
            Some(bytes) => parse(TOKENIZER_CONFIG_FILE, bytes)?,
            None => RawTokenizerConfig::default(),
        };
        let bos_token = raw.bos_token.map(TokenEntry::text).unwrap_or_default();
        let eos_token = raw.eos_token.map(TokenEntry::text).unwrap_or_default();
        let source = match raw.chat_template {
            Some(TemplateEntry::One(t)) => Some(t),
            Some(TemplateEntry::Named(list)) => list
                .into_iter()
                .find(|t| t.name == "default")
                .map(|t| t.template),
            None => None,
        };
        let template = source
            .map(|s| ChatTemplate::new(&s, &bos_token, &eos_token))
            .transpose()?;
        let bos = match raw.add_bos_token.unwrap_or(false) {
            true => inner.token_to_id(&bos_token),
            false => None,
        };
        Ok(Self {
            inner,
            template,
            bos,
        })
    }

    /// Token ids of `text`, special tokens in it parsed (`<|im_start|>` is one id), with the
    /// BOS token first when the tokenizer config asks for it.
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| tokenizer_error(&e))?;
        let ids = encoding.get_ids();
        Ok(match self.bos {
            Some(bos) if ids.first() != Some(&bos) => {
                std::iter::once(bos).chain(ids.iter().copied()).collect()
            }
            _ => ids.to_vec(),
        })
    }

    /// The text of `ids`; special tokens left out when `skip_special`.
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`] (an id outside the vocabulary).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, ModelError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| tokenizer_error(&e))
    }

    /// The prompt text for `messages` through the model's chat template.
    ///
    /// # Errors
    /// [`ModelError::MissingField`] when the model has no chat template; template errors.
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<String, ModelError> {
        let template = self
            .template
            .as_ref()
            .ok_or_else(|| ModelError::MissingField {
                file: TOKENIZER_CONFIG_FILE.into(),
                field: "chat_template".into(),
            })?;
        template.render(messages, true)
    }

    /// The vocabulary size the tokenizer knows (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of token `text`, if the tokenizer has it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }
}

fn tokenizer_error(e: &tokenizers::Error) -> ModelError {
    ModelError::Tokenizer {
        file: TOKENIZER_FILE.into(),
        message: e.to_string(),
    }
}
