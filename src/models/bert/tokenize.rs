//! Tokenising as sentence-transformers does, with the `tokenizers` crate.

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::models::bert::head::SentenceHead;
use crate::models::bert::tokens::{Pad, TokenBatch, Tokens};
use crate::models::error::ModelError;

/// The file the tokenizer is read from, as errors name it.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Texts encoded at once by [`SentenceTokenizer::encode_each`].
const ENCODE_CHUNK: usize = 256;

/// The padding token looked up when `tokenizer.json` has no padding section.
const FALLBACK_PAD_TOKEN: &str = "[PAD]";

/// A `tokenizer.json` tokenizer set up the way sentence-transformers calls it.
///
/// `tokenizer.json` carries its own truncation and padding (all-MiniLM-L6-v2's: cut at 128, pad to a
/// fixed 128), which sentence-transformers does not use: it truncates longest-first at the head's
/// `max_seq_length` and pads to the longest text in the batch. Both are overridden here.
#[derive(Debug)]
pub struct SentenceTokenizer {
    /// Truncating at `max_seq_length`, not padding: texts are padded per batch
    /// ([`TokenBatch::padded`]) once the caller has grouped them.
    inner: Tokenizer,
    pad: Pad,
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
        inner.with_padding(None);
        Ok(Self {
            inner,
            pad: padding,
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
        let (each, truncated) = self.encode_each(texts)?;
        let rows: Vec<&Tokens> = each.iter().collect();
        Ok((TokenBatch::padded(&rows, self.pad), truncated))
    }

    /// Tokenises each text on its own, unpadded (cut at `max_seq_length`), also saying which
    /// were cut (indices, ascending): the caller groups texts by length and pads each group
    /// with [`TokenBatch::padded`] and [`pad`](Self::pad).
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    pub fn encode_each<S: AsRef<str>>(
        &self,
        texts: &[S],
    ) -> Result<(Vec<Tokens>, Vec<usize>), ModelError> {
        // A tokenizer `Encoding` holds ~100 bytes per token (strings, offsets, masks): encode a
        // chunk at a time and keep only the ids, so a long call never holds them all.
        let mut each = Vec::with_capacity(texts.len());
        let mut truncated = Vec::new();
        for (chunk_index, chunk) in texts.chunks(ENCODE_CHUNK).enumerate() {
            let prepared: Vec<String> = chunk.iter().map(|t| self.prepare(t.as_ref())).collect();
            let encodings = (self.inner.encode_batch(prepared, true)).map_err(tokenizer_error)?;
            for (offset, e) in encodings.iter().enumerate() {
                // With truncation on, the tokens cut off go to `overflowing`.
                if !e.get_overflowing().is_empty() {
                    truncated.push(chunk_index * ENCODE_CHUNK + offset);
                }
                each.push(Tokens {
                    ids: e.get_ids().to_vec(),
                    types: e.get_type_ids().to_vec(),
                });
            }
        }
        Ok((each, truncated))
    }

    /// The padding token and type id batches are padded with.
    pub fn pad(&self) -> Pad {
        self.pad
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

/// The tokenizer's own pad token (right padding to the longest text of a batch, as
/// sentence-transformers pads), or `[PAD]` when `tokenizer.json` has no padding section.
fn padding_params(tokenizer: &Tokenizer) -> Result<Pad, ModelError> {
    match tokenizer.get_padding() {
        Some(p) => Ok(Pad {
            id: p.pad_id,
            type_id: p.pad_type_id,
        }),
        None => {
            let id = tokenizer.token_to_id(FALLBACK_PAD_TOKEN).ok_or_else(|| {
                ModelError::MissingField {
                    file: TOKENIZER_FILE.to_owned(),
                    field: "padding.pad_id".to_owned(),
                }
            })?;
            Ok(Pad { id, type_id: 0 })
        }
    }
}

fn tokenizer_error(e: tokenizers::Error) -> ModelError {
    ModelError::Tokenizer {
        file: TOKENIZER_FILE.to_owned(),
        message: e.to_string(),
    }
}
