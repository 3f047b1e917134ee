//! BERT encoders with a sentence-transformers head (all-MiniLM-L6-v2 and its family).
//!
//! From the model folder's files, each parsed from bytes:
//!
//! - `config.json` → [`BertConfig`]; `modules.json` → [`SentenceModules`]; the Pooling module's
//!   `config.json` → [`PoolingConfig`]; `sentence_bert_config.json` → [`SentenceBertConfig`]; the
//!   last three combine into a [`SentenceHead`].
//! - `tokenizer.json` → [`SentenceTokenizer`], set up as sentence-transformers uses it (its
//!   `max_seq_length`, padding to the longest text), producing a [`TokenBatch`].
//! - `model.safetensors` → layers through [`HostSink`](crate::exec::HostSink) with [`layer_of`].
//!
//! [`BertModel`] then runs layer by layer ([`LayeredModel`](crate::exec::LayeredModel)) on a
//! [`BertActivation`], and [`BertModel::pool`] gives the sentence embeddings.
#![warn(missing_docs)]

mod activation;
mod config;
mod encoder;
mod head;
mod model;
mod modules;
mod names;
mod ops;
mod pooling;
mod tokenize;
mod tokens;

pub use activation::BertActivation;
pub use config::{BertConfig, CONFIG_FILE};
pub use head::SentenceHead;
pub use model::{BertModel, WORD_TABLE, read_rows};
pub use modules::{MODULES_FILE, SENTENCE_BERT_FILE, SentenceBertConfig, SentenceModules};
pub use names::{EMBEDDINGS_LAYER, encoder_layer_name, layer_of};
pub use pooling::{POOLING_FILE, Pooling, PoolingConfig};
pub use tokenize::{SentenceTokenizer, TOKENIZER_FILE};
pub use tokens::{Pad, TokenBatch, Tokens};
