//! Text generation with a causal LM: the prompt prefilled as one batch per layer, then one
//! token per step, the KV cache owned by the call; every step placed by the manager like any
//! forward, so a model larger than the budget generates (slower) with the same tokens.

use serde::Serialize;
use web_time::Instant;

use crate::Error;
use crate::exec::{ExecError, ForwardStats, NonResident};
use crate::fetch::{CancelToken, SleepFn};
use crate::manager::{LoadRequest, ModelId, Workload};
use crate::models::llama::{EMBED_TABLE, KvCache, Message, check_table, project_on_host};
use crate::runtime::Runtime;
use crate::runtime::generated_text::GeneratedText;
use crate::runtime::models::{Kind, LoadedModel, entry};
use crate::runtime::sampling::{Sampler, SamplingOptions};
use crate::runtime::split::{DecodeSplit, PrefillSplit, SplitChooser};

/// The longest prompt `generate` takes, in characters: the tokenizer's input is bounded before
/// the model's context is checked.
pub const MAX_PROMPT_CHARS: usize = 4 << 20;

/// What to generate from: a text as is, or chat turns through the model's template.
#[derive(Clone, Debug)]
pub enum Prompt {
    /// Tokenized as given (special tokens in it parsed).
    Text(String),
    /// Rendered with the chat template, the assistant's turn opened.
    Messages(Vec<Message>),
}

/// How one `generate` call runs.
#[derive(Clone)]
pub struct GenerateOptions {
    /// Tokens to generate at most.
    pub max_new_tokens: usize,
    /// How each token is chosen.
    pub sampling: SamplingOptions,
    /// Texts that end the generation when they appear in the output (left out of the text).
    pub stop: Vec<String>,
    /// Ids never chosen (e.g. the end-of-sequence ids, to generate exactly `max_new_tokens`).
    pub suppress_tokens: Vec<u32>,
    /// Checked before each step: once cancelled, the call fails with [`Error::Aborted`].
    pub cancel: Option<CancelToken>,
    /// Keep each step's logits (before sampling) in [`Generation::logits`], as transformers'
    /// `output_logits`: for scoring and for tests.
    pub keep_logits: bool,
    /// Awaited (with a zero delay) after each token, so a page's event loop (and whoever
    /// consumes `on_token`) runs between steps; `None` natively.
    pub pause: Option<SleepFn>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            sampling: SamplingOptions::default(),
            stop: Vec::new(),
            suppress_tokens: Vec::new(),
            cancel: None,
            keep_logits: false,
            pause: None,
        }
    }
}

impl std::fmt::Debug for GenerateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateOptions")
            .field("max_new_tokens", &self.max_new_tokens)
            .field("sampling", &self.sampling)
            .field("stop", &self.stop)
            .field("suppress_tokens", &self.suppress_tokens)
            .field("cancel", &self.cancel)
            .field("keep_logits", &self.keep_logits)
            .field("pause", &self.pause.is_some())
            .finish()
    }
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FinishReason {
    /// An end-of-sequence token or a stop text.
    Stop,
    /// `max_new_tokens` (or the model's context) reached.
    Length,
    /// `options.cancel` fired: the result holds what was generated before it. (The JS API
    /// rejects with an `AbortError` carrying that result as `partial`.)
    Abort,
}

/// What a generation measured.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateStats {
    /// Tokens of the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Milliseconds from the prompt's forward pass to its logits (tokenizing not included).
    pub prefill_ms: f64,
    /// Milliseconds of the decode steps (from the first generated token to the last).
    pub decode_ms: f64,
    /// Decode steps per second.
    pub decode_tokens_per_s: f64,
    /// Weight bytes uploaded per decode step (streamed layers), on average.
    pub streamed_bytes_per_token: f64,
    /// Bytes of the KV cache at the end (f32 keys and values of every layer).
    pub peak_kv_cache_bytes: u64,
    /// Layers run per step, and how many of them were streamed in the last step.
    pub layers: usize,
    /// Layers uploaded for the last step (not resident).
    pub streamed_layers: usize,
    /// Where the output projection ran: always `"host"` (it reads the pinned table).
    pub head: &'static str,
    /// Milliseconds spent in the output projection, over all steps.
    pub head_ms: f64,
    /// Whether the device was lost and the generation recomputed its cache on a new one.
    pub device_replaced: bool,
    /// Where the prompt ran the layers the GPU does not hold, and why.
    pub prefill_split: PrefillSplit,
    /// Where the decode steps ran the layers the GPU does not hold, and why.
    pub decode_split: DecodeSplit,
    /// The forward passes' statistics, summed over the steps.
    pub forward: ForwardStats,
}

/// A finished generation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Generation {
    /// The generated text (special tokens and a stop text left out).
    pub text: String,
    /// The generated ids (an end-of-sequence id included).
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// What it measured.
    pub stats: GenerateStats,
    /// Each step's logits, when [`GenerateOptions::keep_logits`] asked for them.
    #[serde(skip)]
    pub logits: Vec<Vec<f32>>,
}

/// One forward step's result.
struct Step {
    logits: Vec<f32>,
    /// Milliseconds of the forward pass and its read-back (the head not included).
    forward_ms: f64,
    head_ms: f64,
    cache: KvCache,
    forward: ForwardStats,
}

impl Runtime {
    /// Token ids of `text` with model `id`'s tokenizer (special tokens parsed).
    ///
    /// # Errors
    /// [`Error::UnknownModel`], [`Error::WrongKind`], [`Error::Model`] (tokenizer).
    pub fn tokenize(&self, id: u32, text: &str) -> Result<Vec<u32>, Error> {
        let model_id = ModelId::new(id);
        check_prompt_chars(text)?;
        let lm = self.entry(model_id)?.kind.causal(model_id, "tokenize")?;
        Ok(lm.codec.encode(text)?)
    }

    /// The text of `ids` (special tokens left out when `skip_special`).
    ///
    /// # Errors
    /// [`Error::UnknownModel`], [`Error::WrongKind`], [`Error::Model`] for ids the tokenizer lacks.
    pub fn decode(&self, id: u32, ids: &[u32], skip_special: bool) -> Result<String, Error> {
        let model_id = ModelId::new(id);
        let lm = self.entry(model_id)?.kind.causal(model_id, "decode")?;
        Ok(lm.codec.decode(ids, skip_special)?)
    }

    /// The last position's logits (one per vocabulary entry) for `ids`, run from an empty cache.
    ///
    /// # Errors
    /// As [`generate`](Self::generate); [`Error::InvalidInput`] for no ids or ids outside the
    /// vocabulary.
    pub async fn logits(&mut self, id: u32, ids: &[u32]) -> Result<Vec<f32>, Error> {
        self.check_alive()?;
        let model_id = ModelId::new(id);
        let lm = self.entry(model_id)?.kind.causal(model_id, "logits")?;
        check_ids(ids, lm.llama.config().vocab, "tokenIds")?;
        let request = self.context_request(model_id, ids.len(), 0)?;
        let mut replaced = false;
        let step = self
            .step(
                model_id,
                &request,
                ids,
                KvCache::new(),
                NonResident::Upload,
                &mut replaced,
            )
            .await?;
        Ok(step.logits)
    }

    /// Generates from `prompt` with model `id`: prefill, then up to `max_new_tokens` steps, each
    /// token chosen as `options.sampling` says; `on_token` hears each token with the text it
    /// adds (held back while it ends inside a UTF-8 sequence or could start a stop text).
    ///
    /// Memory: the request's inference memory is the KV cache and activations of the whole
    /// context (prompt + `max_new_tokens`), so the manager plans the weights around it as
    /// ComfyUI's `load_models_gpu` does with `memory_required`; a context that cannot fit even
    /// with every weight streamed is refused before any work. On a lost device the cache is
    /// recomputed on the new one and generation goes on.
    ///
    /// # Errors
    /// [`Error::UnknownModel`], [`Error::WrongKind`]; [`Error::InvalidInput`] for an empty or
    /// over-long prompt; [`Error::ContextDoesNotFit`]; [`Error::Model`] (template, tokenizer);
    /// [`Error::Exec`] (`OOM` after the step-down, `DEVICE_LOST`). Once `options.cancel` fires
    /// (checked before each step) the generation ends with [`FinishReason::Abort`] and what it
    /// has so far.
    pub async fn generate(
        &mut self,
        id: u32,
        prompt: &Prompt,
        options: &GenerateOptions,
        mut on_token: impl FnMut(u32, &str),
    ) -> Result<Generation, Error> {
        self.check_alive()?;
        let model_id = ModelId::new(id);
        let lm = self.entry(model_id)?.kind.causal(model_id, "generate")?;
        let text = match prompt {
            Prompt::Text(text) => text.clone(),
            Prompt::Messages(messages) => lm.codec.chat_prompt(messages)?,
        };
        check_prompt_chars(&text)?;
        let prompt_ids = lm.codec.encode(&text)?;
        if prompt_ids.is_empty() {
            return Err(Error::InvalidInput {
                argument: "prompt".into(),
                message: "it has no tokens".into(),
            });
        }
        let most = lm.llama.config().max_positions;
        if prompt_ids.len() >= most {
            return Err(Error::InvalidInput {
                argument: "prompt".into(),
                message: format!(
                    "{} tokens; the model's context is {most} and leaves no room to generate",
                    prompt_ids.len()
                ),
            });
        }
        let eos = lm.eos.clone();
        let new_tokens = options.max_new_tokens.min(most - prompt_ids.len());
        let request = self.context_request(model_id, prompt_ids.len(), new_tokens)?;

        let mut sampler = Sampler::new(options.sampling.clone());
        let mut history = prompt_ids.clone();
        let mut out = GeneratedText::new(options.stop.clone());
        let mut stats = GenerateStats {
            prompt_tokens: prompt_ids.len(),
            head: "host",
            ..GenerateStats::default()
        };
        let mut cache = KvCache::new();
        let mut logits = Vec::new();
        let mut finish = FinishReason::Length;
        let started = Instant::now();
        let mut decode_started = None;
        let mut decode_uploaded = 0u64;
        let known = lm_split(self.entry(model_id)?);
        let mut chooser = SplitChooser::new(known, prompt_ids.len());
        let mut prefill = ForwardStats::default();
        for index in 0..new_tokens {
            if options
                .cancel
                .as_ref()
                .is_some_and(CancelToken::is_cancelled)
            {
                finish = FinishReason::Abort;
                break;
            }
            let split = chooser.for_step(index);
            let replaced = &mut stats.device_replaced;
            let step = self.step(model_id, &request, &history, cache, split, replaced);
            let mut step = step.await?;
            match index {
                0 => {
                    stats.prefill_ms = started.elapsed().as_secs_f64() * 1e3;
                    stats.forward = step.forward;
                    prefill = step.forward;
                    decode_started = Some(Instant::now());
                }
                _ => {
                    stats.forward.absorb(&step.forward);
                    decode_uploaded += step.forward.uploaded_bytes;
                    chooser.record(index, step.forward_ms, &step.forward);
                }
            }
            stats.head_ms += step.head_ms;
            stats.layers = step.forward.layers;
            stats.streamed_layers = step.forward.streamed_layers;
            cache = step.cache;
            if options.keep_logits {
                logits.push(step.logits.clone());
            }
            let token = sampler.next(&mut step.logits, &history, &options.suppress_tokens);
            history.push(token);
            if eos.contains(&token) {
                out.tokens.push(token);
                finish = FinishReason::Stop;
                break;
            }
            let lm = self.entry(model_id)?.kind.causal(model_id, "generate")?;
            if out.push(token, &lm.codec, &mut on_token)? {
                finish = FinishReason::Stop;
                break;
            }
            if let Some(pause) = &options.pause {
                pause(std::time::Duration::ZERO).await;
            }
        }
        out.flush(&mut on_token);
        let on_gpu = self.exec.gpu().is_some();
        stats.prefill_split = chooser.prefill_outcome(on_gpu, &prefill);
        let (split, remember) = chooser.outcome(on_gpu, &prefill);
        if remember
            && let Some(Kind::CausalLm(lm)) = self.models.get_mut(&model_id).map(|m| &mut m.kind)
        {
            lm.decode_split = Some(split.clone());
        }
        stats.decode_split = split;
        let lm = self.entry(model_id)?.kind.causal(model_id, "generate")?;
        stats.generated_tokens = out.tokens.len();
        stats.peak_kv_cache_bytes = lm.llama.cache_bytes(cache.len() as u64);
        if let Some(t) = decode_started {
            stats.decode_ms = t.elapsed().as_secs_f64() * 1e3;
            let steps = stats.generated_tokens.saturating_sub(1);
            if steps > 0 && stats.decode_ms > 0.0 {
                stats.decode_tokens_per_s = steps as f64 / (stats.decode_ms / 1e3);
                stats.streamed_bytes_per_token = decode_uploaded as f64 / steps as f64;
            }
        }
        Ok(Generation {
            text: out.text,
            tokens: out.tokens,
            finish_reason: finish,
            stats,
            logits,
        })
    }

    /// The load request for a context of `prompt + new` tokens, refused with
    /// [`Error::ContextDoesNotFit`] when even a fully streamed model cannot hold its KV cache.
    fn context_request(
        &self,
        id: ModelId,
        prompt: usize,
        new: usize,
    ) -> Result<LoadRequest, Error> {
        let context = (prompt + new) as u64;
        let fits = self.manager.context_limit(id, context)?;
        if fits < context {
            let needed_bytes = self.manager.inference_memory(
                id,
                Workload {
                    batch: 1,
                    sequence: context,
                },
            )?;
            return Err(Error::ContextDoesNotFit {
                requested: context,
                needed_bytes,
                fits,
            });
        }
        Ok(self.manager.request_for(
            &[id],
            Workload {
                batch: 1,
                sequence: context,
            },
        )?)
    }

    /// One forward over the tokens of `history` after the `cache`d positions, and the last
    /// position's logits. A lost device takes the cache with it: a new device is opened and
    /// the step rerun from an empty cache over the whole history (`replaced` records it; once
    /// per call).
    async fn step(
        &mut self,
        id: ModelId,
        request: &LoadRequest,
        history: &[u32],
        mut cache: KvCache,
        split: NonResident,
        replaced: &mut bool,
    ) -> Result<Step, Error> {
        loop {
            let started = Instant::now();
            let now = self.now_ms();
            self.check_alive()?;
            let lm = entry(&self.models, id)?.kind.causal(id, "generate")?;
            let llama = &lm.llama;
            let c = llama.config();
            let pinned = |name: &str| {
                (self.exec.pinned(id, name).cloned()).ok_or_else(|| ExecError::MissingTensor {
                    layer: "@pinned".into(),
                    tensor: name.into(),
                })
            };
            // Clones share the tables' allocations: the executor is borrowed again below.
            let table = pinned(EMBED_TABLE)?;
            let output = pinned(lm.output_table)?;
            check_table(&output, lm.output_table, [c.vocab, c.hidden])?;
            let fresh = &history[cache.len()..];
            let input = |device: &_| llama.input(fresh, &table, cache.clone(), device);
            let result = (self.exec)
                .load_and_run_split(&mut self.manager, id, llama, request, input, split, now)
                .await;
            // Reading the output is where a lost device shows up natively: inside the loop.
            let result =
                match result.and_then(|run| Ok((llama.finish(run.output)?, run.stats, run.oom))) {
                    Ok(((hidden, cache), stats, oom)) => {
                        (self.exec.read(hidden).await).map(|h| (h, cache, stats, oom))
                    }
                    Err(err) => Err(err),
                };
            match result {
                Ok((hidden, cache, forward, oom)) => {
                    self.note(oom, replaced.then_some(true));
                    self.note_cache_misses();
                    let forward_ms = started.elapsed().as_secs_f64() * 1e3;
                    let head_started = Instant::now();
                    let logits = project_on_host(&output, &hidden);
                    let head_ms = head_started.elapsed().as_secs_f64() * 1e3;
                    return Ok(Step {
                        logits,
                        forward_ms,
                        head_ms,
                        cache,
                        forward,
                    });
                }
                Err(ExecError::DeviceLost { .. }) if !*replaced => {
                    if let Err(err) = self.replace_device().await {
                        self.note(None, Some(false));
                        return Err(err);
                    }
                    *replaced = true;
                    cache = KvCache::new();
                }
                Err(err) => {
                    self.note(None, replaced.then_some(true));
                    return Err(err.into());
                }
            }
        }
    }
}

/// Refuses a prompt over [`MAX_PROMPT_CHARS`].
fn check_prompt_chars(text: &str) -> Result<(), Error> {
    let chars = text.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(Error::InvalidInput {
            argument: "prompt".into(),
            message: format!("{chars} characters; at most {MAX_PROMPT_CHARS} are taken"),
        });
    }
    Ok(())
}

/// Refuses no ids, or ids outside a vocabulary of `vocab`.
fn check_ids(ids: &[u32], vocab: usize, argument: &str) -> Result<(), Error> {
    let bad = |message: String| {
        Err(Error::InvalidInput {
            argument: argument.into(),
            message,
        })
    };
    if ids.is_empty() {
        return bad("no token ids".into());
    }
    match ids.iter().position(|&id| id as usize >= vocab) {
        Some(i) => bad(format!(
            "[{i}] = {} is outside the vocabulary of {vocab}",
            ids[i]
        )),
        None => Ok(()),
    }
}

/// What an earlier generation of the model measured about the decode split.
fn lm_split(model: &LoadedModel) -> Option<DecodeSplit> {
    match &model.kind {
        Kind::CausalLm(lm) => lm.decode_split.clone(),
        Kind::Sentence(_) => None,
    }
}
