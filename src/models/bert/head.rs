//! The sentence-transformers head: pooling, then optional L2 normalisation, plus the input limits
//! its Transformer module sets.

use burn::tensor::Tensor;

use crate::models::bert::modules::{SentenceBertConfig, SentenceModules};
use crate::models::bert::pooling::{Pooling, PoolingConfig};
use crate::models::error::ModelError;

/// What padding tokens are set to before max pooling, as sentence-transformers does.
const MAX_POOL_PAD: f32 = -1e9;
/// The smallest token count mean pooling divides by (sentence-transformers' clamp).
const MEAN_MIN_COUNT: f32 = 1e-9;
/// The smallest norm L2 normalisation divides by (`torch.nn.functional.normalize`'s eps).
const NORM_EPS: f32 = 1e-12;

/// Everything after the encoder, from the model folder's sentence-transformers files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentenceHead {
    pooling: Pooling,
    dimension: Option<usize>,
    normalize: bool,
    max_seq_length: usize,
    do_lower_case: bool,
}

impl SentenceHead {
    /// Combines the three parsed head files.
    pub fn new(
        modules: &SentenceModules,
        pooling: PoolingConfig,
        transformer: SentenceBertConfig,
    ) -> Self {
        Self {
            pooling: pooling.mode(),
            dimension: pooling.dimension(),
            normalize: modules.normalize(),
            max_seq_length: transformer.max_seq_length(),
            do_lower_case: transformer.do_lower_case(),
        }
    }

    /// Parses the bytes of `modules.json`, the Pooling module's `config.json` (at
    /// [`SentenceModules::pooling_config_path`]) and `sentence_bert_config.json`.
    ///
    /// # Errors
    /// Whatever [`SentenceModules::from_json`], [`PoolingConfig::from_json`] and
    /// [`SentenceBertConfig::from_json`] return.
    pub fn from_json(
        modules: &[u8],
        pooling: &[u8],
        sentence_bert: &[u8],
    ) -> Result<Self, ModelError> {
        Ok(Self::new(
            &SentenceModules::from_json(modules)?,
            PoolingConfig::from_json(pooling)?,
            SentenceBertConfig::from_json(sentence_bert)?,
        ))
    }

    /// The pooling mode.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// The width the pooling config expects, when it states one.
    pub fn dimension(&self) -> Option<usize> {
        self.dimension
    }

    /// Whether the pooled vector is L2-normalised.
    pub fn normalize(&self) -> bool {
        self.normalize
    }

    /// The most tokens per text, `[CLS]` and `[SEP]` included.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Whether texts are lowercased before tokenising.
    pub fn do_lower_case(&self) -> bool {
        self.do_lower_case
    }

    /// Pools `hidden` [batch, seq, hidden] over the tokens `mask` [batch, seq] (1 = real token,
    /// 0 = padding) keeps, then normalises: [batch, hidden].
    pub(crate) fn apply(&self, hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
        let pooled = pool(self.pooling, hidden, mask);
        if self.normalize {
            l2_normalize(pooled)
        } else {
            pooled
        }
    }
}

fn pool(mode: Pooling, hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let keep = mask.clone().reshape([batch, seq, 1]);
    match mode {
        Pooling::Mean => {
            let sum = (hidden * keep).sum_dim(1).reshape([batch, width]);
            sum / mask.sum_dim(1).clamp_min(MEAN_MIN_COUNT)
        }
        Pooling::Cls => hidden.narrow(1, 0, 1).reshape([batch, width]),
        Pooling::Max => {
            let padding = keep.equal_elem(0.0).expand([batch, seq, width]);
            hidden
                .mask_fill(padding, MAX_POOL_PAD)
                .max_dim(1)
                .reshape([batch, width])
        }
    }
}

fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = (x.clone() * x.clone())
        .sum_dim(1)
        .sqrt()
        .clamp_min(NORM_EPS);
    x / norm
}
