//! Tokenising as sentence-transformers does, with the `tokenizers` crate.

use tokenizers::{
    Encoding, PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use crate::models::bert::head::SentenceHead;
use crate::models::bert::tokens::TokenBatch;
use crate::models::error::ModelError;

/// The file the tokenizer is read from, as errors name it.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The padding token looked up when `tokenizer.json` has no padding section.
const FALLBACK_PAD_TOKEN: &str = "[PAD]";

/// A `tokenizer.json` tokenizer set up the way sentence-transformers calls it.
///
/// `tokenizer.json` carries its own truncation and padding (all-MiniLM-L6-v2's: cut at 128, pad to a
/// fixed 128), which sentence-transformers does not use: it truncates longest-first at the head's
/// `max_seq_length` and pads to the longest text in the batch. Both are overridden here.
#[derive(Debug)]
pub struct SentenceTokenizer {
    inner: Tokenizer,
    do_lower_case: bool,
}

impl SentenceTokenizer {
    /// Loads the bytes of `tokenizer.json` and applies `head`'s truncation, padding and casing.
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`] when the file is not a tokenizer the crate can load, or the
    /// truncation length leaves no room for the special tokens; [`ModelError::MissingField`] when
    /// no padding token can be found.
    pub fn from_bytes(tokenizer_json: &[u8], head: &SentenceHead) -> Result<Self, ModelError> {
        let mut inner = Tokenizer::from_bytes(tokenizer_json).map_err(tokenizer_error)?;
        let padding = padding_params(&inner)?;
        let truncation = TruncationParams {
            direction: TruncationDirection::Right,
            max_length: head.max_seq_length(),
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        };
        inner
            .with_truncation(Some(truncation))
            .map_err(tokenizer_error)?;
        inner.with_padding(Some(padding));
        Ok(Self {
            inner,
            do_lower_case: head.do_lower_case(),
        })
    }

    /// Tokenises `texts` as one batch, padded to the longest.
    ///
    /// Like sentence-transformers, each text is first stripped of surrounding whitespace (and
    /// lowercased when the head says `do_lower_case`).
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`] when the tokenizer fails on the input.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<TokenBatch, ModelError> {
        Ok(self.encode_reporting(texts)?.0)
    }

    /// [`encode`](Self::encode), also saying which texts were cut at `max_seq_length` (their
    /// indices, ascending), so a caller can report or refuse truncation.
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    pub fn encode_reporting<S: AsRef<str>>(
        &self,
        texts: &[S],
    ) -> Result<(TokenBatch, Vec<usize>), ModelError> {
        let prepared: Vec<String> = texts.iter().map(|t| self.prepare(t.as_ref())).collect();
        let encodings = self
            .inner
            .encode_batch(prepared, true)
            .map_err(tokenizer_error)?;
        // With truncation on, the tokens cut off go to `overflowing`.
        let truncated = (encodings.iter().enumerate())
            .filter(|(_, e)| !e.get_overflowing().is_empty())
            .map(|(index, _)| index)
            .collect();
        let seq = encodings.first().map_or(0, Encoding::len);
        let mut ids = Vec::with_capacity(encodings.len() * seq);
        let mut types = Vec::with_capacity(ids.capacity());
        let mut mask = Vec::with_capacity(ids.capacity());
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            types.extend_from_slice(e.get_type_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let batch = TokenBatch::new(encodings.len(), seq, ids, types, mask).map_err(|e| {
            ModelError::Tokenizer {
                file: TOKENIZER_FILE.to_owned(),
                message: format!("padded encodings disagree in length: {e}"),
            }
        })?;
        Ok((batch, truncated))
    }

    /// How many tokens `text` has before truncation (special tokens included): for the error
    /// that refuses a text longer than the model takes. Slow (a second tokenizer without
    /// truncation); used only on that path.
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`] when the tokenizer fails on the input.
    pub fn full_length(&self, text: &str) -> Result<usize, ModelError> {
        let mut whole = self.inner.clone();
        whole.with_truncation(None).map_err(tokenizer_error)?;
        whole.with_padding(None);
        let encoding = (whole.encode(self.prepare(text), true)).map_err(tokenizer_error)?;
        Ok(encoding.len())
    }

    /// The most tokens a text keeps (the head's `max_seq_length`).
    pub fn max_length(&self) -> usize {
        self.inner
            .get_truncation()
            .map_or(usize::MAX, |t| t.max_length)
    }

    fn prepare(&self, text: &str) -> String {
        // Python's str.strip(), which sentence-transformers calls: Unicode whitespace plus the
        // four ASCII separators (U+001C–U+001F) that Python also counts as space.
        let trimmed =
            text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
        if self.do_lower_case {
            trimmed.to_lowercase()
        } else {
            trimmed.to_owned()
        }
    }
}

/// Batch-longest right padding with the tokenizer's own pad token.
fn padding_params(tokenizer: &Tokenizer) -> Result<PaddingParams, ModelError> {
    let (pad_id, pad_type_id, pad_token) = match tokenizer.get_padding() {
        Some(p) => (p.pad_id, p.pad_type_id, p.pad_token.clone()),
        None => {
            let id = tokenizer.token_to_id(FALLBACK_PAD_TOKEN).ok_or_else(|| {
                ModelError::MissingField {
                    file: TOKENIZER_FILE.to_owned(),
                    field: "padding.pad_id".to_owned(),
                }
            })?;
            (id, 0, FALLBACK_PAD_TOKEN.to_owned())
        }
    };
    Ok(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        direction: PaddingDirection::Right,
        pad_to_multiple_of: None,
        pad_id,
        pad_type_id,
        pad_token,
    })
}

fn tokenizer_error(e: tokenizers::Error) -> ModelError {
    ModelError::Tokenizer {
        file: TOKENIZER_FILE.to_owned(),
        message: e.to_string(),
    }
}
