//! A batch of tokenised texts, padded to one length: the encoder's input.

use crate::exec::ExecError;

/// One text's tokens, unpadded (special tokens included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Token type (segment) ids, one per token.
    pub types: Vec<u32>,
}

impl Tokens {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What a batch is padded with: the tokenizer's pad token id and its type id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pad {
    /// The pad token's id.
    pub id: u32,
    /// The type id of padding.
    pub type_id: u32,
}

/// Token ids, token types and attention mask of `batch` texts padded to `seq` tokens, row-major.
///
/// Built by [`SentenceTokenizer::encode`](super::SentenceTokenizer::encode), or by hand for
/// pre-tokenised input; the constructor checks that every array holds `batch × seq` values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBatch {
    batch: usize,
    seq: usize,
    ids: Vec<u32>,
    token_type_ids: Vec<u32>,
    attention_mask: Vec<u32>,
}

impl TokenBatch {
    /// A batch from flat row-major arrays of `batch × seq` values each; `attention_mask` holds 1
    /// for real tokens and 0 for padding.
    ///
    /// # Errors
    /// [`ExecError::BadInput`] when an array's length is not `batch × seq` or the mask holds
    /// anything but 0 and 1.
    pub fn new(
        batch: usize,
        seq: usize,
        ids: Vec<u32>,
        token_type_ids: Vec<u32>,
        attention_mask: Vec<u32>,
    ) -> Result<Self, ExecError> {
        let len = batch
            .checked_mul(seq)
            .ok_or_else(|| ExecError::BadInput(format!("batch {batch} × seq {seq} overflows")))?;
        for (name, values) in [
            ("ids", &ids),
            ("token_type_ids", &token_type_ids),
            ("attention_mask", &attention_mask),
        ] {
            if values.len() != len {
                let got = values.len();
                return Err(ExecError::BadInput(format!(
                    "{name} holds {got} values; batch {batch} × seq {seq} needs {len}"
                )));
            }
        }
        if attention_mask.iter().any(|&m| m > 1) {
            return Err(ExecError::BadInput(
                "attention_mask holds values other than 0 and 1".into(),
            ));
        }
        Ok(Self {
            batch,
            seq,
            ids,
            token_type_ids,
            attention_mask,
        })
    }

    /// `rows` padded on the right to the longest of them, with mask 0 over the padding (as the
    /// tokenizer's batch-longest padding does).
    pub fn padded(rows: &[&Tokens], pad: Pad) -> Self {
        let seq = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let len = rows.len() * seq;
        let (mut ids, mut types, mut mask) = (
            Vec::with_capacity(len),
            Vec::with_capacity(len),
            Vec::with_capacity(len),
        );
        for row in rows {
            let fill = seq - row.len();
            ids.extend_from_slice(&row.ids);
            ids.extend(std::iter::repeat_n(pad.id, fill));
            // A row built by hand with fewer type ids than ids gets type 0 for the rest.
            types.extend((0..seq).map(|k| match k < row.len() {
                true => row.types.get(k).copied().unwrap_or(0),
                false => pad.type_id,
            }));
            mask.extend(std::iter::repeat_n(1, row.len()));
            mask.extend(std::iter::repeat_n(0, fill));
        }
        Self {
            batch: rows.len(),
            seq,
            ids,
            token_type_ids: types,
            attention_mask: mask,
        }
    }

    /// Number of texts.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Tokens per text after padding (the longest text's length).
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// Token ids, `batch × seq`, row-major.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Token type (segment) ids, `batch × seq`, row-major.
    pub fn token_type_ids(&self) -> &[u32] {
        &self.token_type_ids
    }

    /// 1 for real tokens, 0 for padding, `batch × seq`, row-major.
    pub fn attention_mask(&self) -> &[u32] {
        &self.attention_mask
    }

    /// Text `row`'s token ids without its padding.
    ///
    /// # Panics
    /// If `row >= batch`.
    pub fn row_ids(&self, row: usize) -> Vec<u32> {
        assert!(row < self.batch, "row {row} of a batch of {}", self.batch);
        let span = row * self.seq..(row + 1) * self.seq;
        let pairs = self.ids[span.clone()]
            .iter()
            .zip(&self.attention_mask[span]);
        pairs.filter(|(_, m)| **m == 1).map(|(id, _)| *id).collect()
    }
}
