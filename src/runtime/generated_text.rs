//! The text of a generation as its tokens come, for `generate`'s `on_token` and result.

use crate::Error;
use crate::models::llama::TextCodec;

/// The generated text as it grows: decoded from all generated ids each step (byte-level BPE
/// tokens need their neighbours), with a stop text cut off and held-back text for `on_token`.
pub(super) struct GeneratedText {
    pub tokens: Vec<u32>,
    pub text: String,
    /// Bytes of `text` already given to `on_token`.
    emitted: usize,
    stop: Vec<String>,
}

impl GeneratedText {
    pub fn new(stop: Vec<String>) -> Self {
        Self {
            tokens: Vec::new(),
            text: String::new(),
            emitted: 0,
            stop,
        }
    }

    /// Adds `token`; true when a stop text appeared (the text is cut before it).
    pub fn push(
        &mut self,
        token: u32,
        codec: &TextCodec,
        on_token: &mut impl FnMut(u32, &str),
    ) -> Result<bool, Error> {
        self.tokens.push(token);
        self.text = codec.decode(&self.tokens, true)?;
        if let Some(at) = (self.stop.iter())
            .filter_map(|s| self.text.find(s.as_str()))
            .min()
        {
            self.text.truncate(at);
            self.emit(token, self.text.len(), on_token);
            return Ok(true);
        }
        // Hold back an incomplete UTF-8 sequence and anything a stop text could start with.
        let mut safe = self.text.len();
        if self.text.ends_with('\u{FFFD}') {
            safe -= '\u{FFFD}'.len_utf8();
        }
        for s in &self.stop {
            for k in (1..s.len()).rev() {
                if s.is_char_boundary(k) && self.text[..safe].ends_with(&s[..k]) {
                    safe = safe.min(self.text.len() - k);
                    break;
                }
            }
        }
        self.emit(token, safe, on_token);
        Ok(false)
    }

    /// Gives `on_token` the rest of the text.
    pub fn flush(&mut self, on_token: &mut impl FnMut(u32, &str)) {
        if let Some(&last) = self.tokens.last() {
            self.emit(last, self.text.len(), on_token);
        }
    }

    fn emit(&mut self, token: u32, upto: usize, on_token: &mut impl FnMut(u32, &str)) {
        if upto > self.emitted
            && self.text.is_char_boundary(upto)
            && self.text.is_char_boundary(self.emitted)
        {
            on_token(token, &self.text[self.emitted..upto]);
            self.emitted = upto;
        }
    }
}
