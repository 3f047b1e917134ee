//! Bringing a layer back from the model's files: the Cache and Remote tiers behind the executor's
//! [`LayerSource`]. With it set, the executor drops wasm copies the books no longer count (on
//! unified memory a GPU layer keeps no second copy) and re-reads them when a plan, a streamed
//! forward or a device-loss restore needs them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;

use crate::exec::{ExecError, HostLayer, HostTensor, HostValues, LayerSource, LocalFuture};
use crate::fetch::{ByteSource, Loaded, SourceError, read_range};
use crate::manager::ModelId;
use crate::weights::{ConvertTarget, Dtype};

/// Reads byte ranges of model files: the browser's Cache Storage then the network, or the file
/// system natively.
pub trait RangeReader {
    /// Bytes `range` of `url`.
    ///
    /// # Errors
    /// What the source reports.
    fn read<'a>(
        &'a self,
        url: &'a str,
        range: Range<u64>,
    ) -> LocalFuture<'a, Result<Vec<u8>, SourceError>>;
}

/// Any byte source reads ranges.
impl<S: ByteSource> RangeReader for S {
    fn read<'a>(
        &'a self,
        url: &'a str,
        range: Range<u64>,
    ) -> LocalFuture<'a, Result<Vec<u8>, SourceError>> {
        Box::pin(read_range(self, url, range))
    }
}

/// One tensor of a layer: where its bytes are and how to read them.
#[derive(Clone, Debug)]
struct Located {
    /// The name within the layer (`"attention.self.query.weight"`).
    name: String,
    /// The name in the checkpoint, for errors and conversion.
    full: String,
    url: String,
    range: Range<u64>,
    dtype: Dtype,
    /// What the layer is held in once read (as the load converted it).
    held_as: ConvertTarget,
    shape: Vec<usize>,
}

/// Where every layer of every registered model lies in its files.
pub struct LayerFiles {
    reader: Box<dyn RangeReader>,
    models: RefCell<BTreeMap<ModelId, BTreeMap<String, Vec<Located>>>>,
}

impl LayerFiles {
    /// Layer files read through `reader`.
    pub fn new(reader: Box<dyn RangeReader>) -> Rc<Self> {
        Rc::new(Self {
            reader,
            models: RefCell::default(),
        })
    }

    /// Records where model `id`'s layers are, from its load: `layer_of` maps a checkpoint tensor
    /// to (layer, name within the layer), as it did for the load; tensors it skips are not
    /// brought back. Layers read back are converted to `held_as`, as the load converted them.
    pub fn register(
        &self,
        id: ModelId,
        loaded: &Loaded,
        layer_of: &dyn Fn(&str) -> Option<(String, String)>,
        held_as: ConvertTarget,
    ) {
        let mut layers: BTreeMap<String, Vec<Located>> = BTreeMap::new();
        for shard in loaded.shards() {
            let header = shard.header();
            for tensor in header.tensors() {
                let (Some((layer, name)), Some(range)) =
                    (layer_of(tensor.name()), header.file_range(tensor.name()))
                else {
                    continue;
                };
                layers.entry(layer).or_default().push(Located {
                    name,
                    full: tensor.name().to_owned(),
                    url: shard.url().to_owned(),
                    range,
                    dtype: tensor.dtype(),
                    held_as,
                    shape: tensor.shape().iter().map(|&d| d as usize).collect(),
                });
            }
        }
        self.models.borrow_mut().insert(id, layers);
    }

    /// Forgets model `id`.
    pub fn forget(&self, id: ModelId) {
        self.models.borrow_mut().remove(&id);
    }

    async fn layer(&self, model: ModelId, layer: &str) -> Result<HostLayer, ExecError> {
        let source_error = |message: String| ExecError::Source {
            layer: layer.to_owned(),
            message,
        };
        let tensors = (self.models.borrow().get(&model))
            .and_then(|layers| layers.get(layer).cloned())
            .ok_or_else(|| source_error(format!("no file holds layer {layer} of model {model}")))?;
        let mut host = HostLayer::new(layer);
        for tensor in tensors {
            let bytes = (self.reader.read(&tensor.url, tensor.range.clone()).await)
                .map_err(|err| source_error(format!("reading {}: {err}", tensor.full)))?;
            let data = HostValues::convert(&tensor.full, tensor.dtype, &bytes, tensor.held_as)
                .map_err(|err| source_error(err.to_string()))?;
            let shape = tensor.shape;
            host.tensors.insert(tensor.name, HostTensor { shape, data });
        }
        Ok(host)
    }
}

/// The executor's handle on the runtime's [`LayerFiles`].
pub(crate) struct SharedLayerFiles(pub Rc<LayerFiles>);

impl LayerSource for SharedLayerFiles {
    fn fetch_layer<'a>(
        &'a self,
        model: ModelId,
        layer: &'a str,
    ) -> LocalFuture<'a, Result<HostLayer, ExecError>> {
        Box::pin(self.0.layer(model, layer))
    }
}
