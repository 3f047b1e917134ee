//! `embed`: texts to sentence vectors, split into batches that fit the inference budget.

use serde::Serialize;

use crate::Error;
use crate::exec::{ExecError, ForwardStats, Run};
use crate::fetch::CancelToken;
use crate::manager::{ModelId, Workload};
use crate::models::bert::{EMBEDDINGS_LAYER, TokenBatch, Tokens, WORD_TABLE};
use crate::runtime::Runtime;
use crate::runtime::batches::{MAX_BATCH_TEXTS, plan_batches};
use crate::runtime::models::entry;

/// The longest text `embed` takes, in characters (Unicode scalar values). The model reads at
/// most its `max_seq_length` tokens (256 for all-MiniLM-L6-v2, about 1,500 characters of
/// English); the cap only keeps a runaway input from filling wasm memory while it is tokenized.
pub const MAX_TEXT_CHARS: usize = 1 << 20;

/// The most characters one `embed` call takes over all its texts.
pub const MAX_CALL_CHARS: usize = 16 << 20;

/// How one `embed` call treats its texts.
#[derive(Clone, Debug)]
pub struct EmbedOptions {
    /// Cut texts longer than the model's `max_seq_length` (as sentence-transformers does, and
    /// reported in [`EmbedReport::truncated`]); `false` refuses them with
    /// [`Error::InvalidInput`] naming the text and its token count.
    pub truncate: bool,
    /// Checked before each batch: once cancelled, the call stops with [`Error::Aborted`].
    pub cancel: Option<CancelToken>,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            truncate: true,
            cancel: None,
        }
    }
}

/// How far an `embed` call is, after each batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedProgress {
    /// Texts embedded so far.
    pub done: usize,
    /// Texts in the call.
    pub total: usize,
    /// Batches run so far.
    pub batch: usize,
    /// Batches in the call.
    pub batches: usize,
}

/// What one `embed` call did, next to its vectors.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedReport {
    /// One unit-length (when the model normalises) vector per text, in input order.
    #[serde(skip)]
    pub vectors: Vec<Vec<f32>>,
    /// What the forward passes did with the weights, over all batches.
    pub forward: ForwardStats,
    /// Batches the call was split into.
    pub batches: usize,
    /// Whether an out-of-memory error stepped the budget down during the call.
    pub stepped_down: bool,
    /// Whether the device was lost and replaced during the call.
    pub device_replaced: bool,
    /// The indices of the texts cut at the model's `max_seq_length`, ascending.
    pub truncated: Vec<usize>,
}

/// Where a batch's word vectors come from.
enum Words<'a> {
    /// Read from the table's file for this batch, one row per token.
    Rows(&'a [f32]),
    /// Gathered from the table pinned in wasm memory (a shared clone).
    Table(crate::exec::HostTensor),
}

/// One batch's vectors and what its forward pass did.
struct BatchRun {
    vectors: Vec<Vec<f32>>,
    forward: ForwardStats,
    stepped_down: bool,
    device_replaced: bool,
}

impl Runtime {
    /// Embeds `texts` with model `id` (see [`embed_with`](Self::embed_with)).
    ///
    /// # Errors
    /// As [`embed_with`](Self::embed_with).
    pub async fn embed(&mut self, id: u32, texts: &[String]) -> Result<EmbedReport, Error> {
        self.embed_with(id, texts, &EmbedOptions::default(), |_| {})
            .await
    }

    /// Embeds `texts` with model `id`. The texts are tokenized, sorted by length and split into
    /// batches whose inference memory fits (see
    /// [`Manager::batch_limit`](crate::manager::Manager::batch_limit)), so a call of any length
    /// holds one batch's activations at a time; vectors come back in input order. For each
    /// batch the layers are placed as the manager plans for that workload (streaming what does
    /// not fit), the encoder runs layer by layer and pools. On out-of-memory the budget steps
    /// down once and the batch is retried; on a lost device a new one is opened, the resident
    /// layers restored, and the batch retried once. `progress` hears after every batch. No texts
    /// give no vectors, without planning anything.
    ///
    /// # Errors
    /// [`Error::UnknownModel`], [`Error::Model`] (tokenizer), [`Error::Exec`] (`OOM` after the
    /// step-down, `DEVICE_LOST` when no new device could be had), [`Error::Manager`];
    /// [`Error::InvalidInput`] for a text over [`MAX_TEXT_CHARS`], texts over
    /// [`MAX_CALL_CHARS`] together, or (with `truncate: false`) a text longer than the model
    /// takes; [`Error::Aborted`] once `options.cancel` is cancelled (checked before each batch).
    pub async fn embed_with(
        &mut self,
        id: u32,
        texts: &[String],
        options: &EmbedOptions,
        mut progress: impl FnMut(EmbedProgress),
    ) -> Result<EmbedReport, Error> {
        self.check_alive()?;
        let model_id = ModelId::new(id);
        let model = self.entry(model_id)?.kind.sentence(model_id, "embed")?;
        check_texts(texts)?;
        if texts.is_empty() {
            return Ok(EmbedReport::default());
        }
        let (tokens, truncated) = model.tokenizer.encode_each(texts)?;
        if !options.truncate
            && let Some(&index) = truncated.first()
        {
            let length = model.tokenizer.full_length(&texts[index])?;
            let most = model.tokenizer.max_length();
            return Err(Error::InvalidInput {
                argument: format!("texts[{index}]"),
                message: format!(
                    "{length} tokens, but the model takes at most {most}; shorten the text or \
                     pass truncate: true to cut it"
                ),
            });
        }
        let pad = model.tokenizer.pad();
        let lengths: Vec<usize> = tokens.iter().map(Tokens::len).collect();
        let manager = &self.manager;
        let limit = |seq: usize| {
            let cap = MAX_BATCH_TEXTS as u64;
            let batch = manager.batch_limit(model_id, seq as u64, cap).unwrap_or(1);
            usize::try_from(batch).unwrap_or(1)
        };
        let batches = plan_batches(&lengths, limit);
        let mut vectors = vec![Vec::new(); texts.len()];
        let mut report = EmbedReport {
            batches: batches.len(),
            truncated,
            ..EmbedReport::default()
        };
        let mut done = 0;
        for (index, batch) in batches.iter().enumerate() {
            if options
                .cancel
                .as_ref()
                .is_some_and(CancelToken::is_cancelled)
            {
                return Err(Error::Aborted);
            }
            let rows: Vec<&Tokens> = batch.iter().map(|&i| &tokens[i]).collect();
            let run = self
                .embed_batch(model_id, &TokenBatch::padded(&rows, pad))
                .await?;
            for (&text, vector) in batch.iter().zip(run.vectors) {
                vectors[text] = vector;
            }
            match index {
                0 => report.forward = run.forward,
                _ => report.forward.absorb(&run.forward),
            }
            report.stepped_down |= run.stepped_down;
            report.device_replaced |= run.device_replaced;
            done += batch.len();
            progress(EmbedProgress {
                done,
                total: texts.len(),
                batch: index + 1,
                batches: batches.len(),
            });
        }
        report.vectors = vectors;
        Ok(report)
    }

    /// One padded batch through the executor, with the out-of-memory step-down and one device
    /// replacement.
    async fn embed_batch(
        &mut self,
        model_id: ModelId,
        tokens: &TokenBatch,
    ) -> Result<BatchRun, Error> {
        let workload = Workload {
            batch: tokens.batch() as u64,
            sequence: tokens.seq() as u64,
        };
        let request = self.manager.request_for(&[model_id], workload)?;
        // A word table left in its file: this batch's rows, read once for every retry.
        let rows = match entry(&self.models, model_id)?
            .row_read
            .iter()
            .any(|t| t == WORD_TABLE)
        {
            true => Some(self.table_rows(model_id, WORD_TABLE, tokens.ids()).await?),
            false => None,
        };
        let mut device_replaced = false;
        let (forward, oom, values, width) = loop {
            let now = self.now_ms();
            self.check_alive()?;
            let bert = &entry(&self.models, model_id)?
                .kind
                .sentence(model_id, "embed")?
                .bert;
            // A clone shares the table's allocation: the executor is borrowed again below.
            let words = match &rows {
                Some(rows) => Words::Rows(rows),
                None => Words::Table(self.exec.pinned(model_id, WORD_TABLE).cloned().ok_or_else(
                    || ExecError::MissingTensor {
                        layer: EMBEDDINGS_LAYER.into(),
                        tensor: WORD_TABLE.into(),
                    },
                )?),
            };
            let input = |device: &_| match &words {
                Words::Rows(rows) => bert.input_with_rows(tokens, rows.to_vec(), device),
                Words::Table(table) => bert.input_with_table(tokens, table, device),
            };
            let result = (self.exec)
                .load_and_run(&mut self.manager, model_id, bert, &request, input, now)
                .await;
            // Reading the output is where a lost device shows up natively: inside the loop.
            let result = match result {
                Ok(Run {
                    output, stats, oom, ..
                }) => {
                    let pooled = bert.pool(output)?;
                    let [_, width] = pooled.dims();
                    (self.exec.read(pooled).await).map(|values| (stats, oom, values, width))
                }
                Err(err) => Err(err),
            };
            match result {
                Err(ExecError::DeviceLost { .. }) if !device_replaced => {
                    if let Err(err) = self.replace_device().await {
                        self.note(None, Some(false));
                        return Err(err);
                    }
                    device_replaced = true;
                }
                Ok(done) => break done,
                Err(err) => {
                    self.note(None, device_replaced.then_some(true));
                    return Err(err.into());
                }
            }
        };
        let stepped_down = oom.is_some();
        self.note(oom, device_replaced.then_some(true));
        self.note_cache_misses();
        Ok(BatchRun {
            vectors: values.chunks(width.max(1)).map(<[f32]>::to_vec).collect(),
            forward,
            stepped_down,
            device_replaced,
        })
    }
}

/// Refuses texts over [`MAX_TEXT_CHARS`], or over [`MAX_CALL_CHARS`] together.
fn check_texts(texts: &[String]) -> Result<(), Error> {
    let mut total = 0usize;
    for (index, text) in texts.iter().enumerate() {
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(Error::InvalidInput {
                argument: format!("texts[{index}]"),
                message: format!(
                    "{chars} characters; at most {MAX_TEXT_CHARS} are taken (the model reads only \
                     its first few hundred tokens)"
                ),
            });
        }
        total += chars;
    }
    if total > MAX_CALL_CHARS {
        return Err(Error::InvalidInput {
            argument: "texts".into(),
            message: format!(
                "{total} characters in all; one call takes at most {MAX_CALL_CHARS}: split it"
            ),
        });
    }
    Ok(())
}
