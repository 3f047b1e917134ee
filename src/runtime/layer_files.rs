//! Bringing a layer back from the model's files: the Cache and Remote tiers behind the executor's
//! [`LayerSource`]. With it set, the executor drops wasm copies the books no longer count (on
//! unified memory a GPU layer keeps no second copy) and re-reads them when a plan, a streamed
//! forward or a device-loss restore needs them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;

use crate::exec::{ExecError, HostLayer, HostTensor, HostValues, LayerSource, LocalFuture};
use crate::fetch::{ByteSource, SourceError, read_range};
use crate::manager::ModelId;
use crate::weights::{ConvertTarget, Dtype, Header};

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

    /// Bytes `range` of `url`, where the reader can, held outside wasm memory (a browser's
    /// `ArrayBuffer`) until each tensor copies its part into its own values: one copy into
    /// wasm memory and no second copy of the layer there. The default reads into a `Vec`.
    ///
    /// # Errors
    /// What the source reports.
    fn read_staged<'a>(
        &'a self,
        url: &'a str,
        range: Range<u64>,
    ) -> LocalFuture<'a, Result<Box<dyn Staged>, SourceError>> {
        Box::pin(async move { Ok(Box::new(self.read(url, range).await?) as Box<dyn Staged>) })
    }

    /// The files a read expected in the persistent cache but had to take from the network
    /// since the last call (the user cleared the cache, the browser evicted it): their layers
    /// are booked `remote` from then on. Readers without a cache have none.
    fn take_cache_misses(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Bytes read for a layer, waiting to be copied into its tensors' values.
pub trait Staged {
    /// Bytes held.
    fn size(&self) -> usize;

    /// Copies bytes `at..at + out.len()` into `out` (within [`size`](Self::size)).
    fn copy_to(&self, at: usize, out: &mut [u8]);
}

impl Staged for Vec<u8> {
    fn size(&self) -> usize {
        self.len()
    }

    fn copy_to(&self, at: usize, out: &mut [u8]) {
        out.copy_from_slice(&self[at..at + out.len()]);
    }
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

    /// Records where model `id`'s layers are, from its files' headers (`(url, header)` per
    /// file): `layer_of` maps a checkpoint tensor to (layer, name within the layer), as it does
    /// for the load; tensors it skips are not brought back. Layers read back are converted to
    /// `held_as`, as the load converted them.
    pub fn register<'h>(
        &self,
        id: ModelId,
        files: impl IntoIterator<Item = (&'h str, &'h Header)>,
        layer_of: &dyn Fn(&str) -> Option<(String, String)>,
        held_as: ConvertTarget,
    ) {
        let mut layers: BTreeMap<String, Vec<Located>> = BTreeMap::new();
        for (url, header) in files {
            for tensor in header.tensors() {
                let (Some((layer, name)), Some(range)) =
                    (layer_of(tensor.name()), header.file_range(tensor.name()))
                else {
                    continue;
                };
                layers.entry(layer).or_default().push(Located {
                    name,
                    full: tensor.name().to_owned(),
                    url: url.to_owned(),
                    range,
                    dtype: tensor.dtype(),
                    held_as,
                    shape: tensor.shape().iter().map(|&d| d as usize).collect(),
                });
            }
        }
        for tensors in layers.values_mut() {
            tensors.sort_by(|a, b| (&a.url, a.range.start).cmp(&(&b.url, b.range.start)));
        }
        self.models.borrow_mut().insert(id, layers);
    }

    /// The layers of model `id` whose tensors all lie in files among `urls`.
    pub fn layers_within(&self, id: ModelId, urls: &[String]) -> Vec<String> {
        let models = self.models.borrow();
        let Some(layers) = models.get(&id) else {
            return Vec::new();
        };
        (layers.iter())
            .filter(|(_, tensors)| tensors.iter().all(|t| urls.contains(&t.url)))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The layers (model, name) stored in files that the reader found missing from the cache
    /// since the last call.
    pub fn take_cache_misses(&self) -> Vec<(ModelId, String)> {
        let missing = self.reader.take_cache_misses();
        if missing.is_empty() {
            return Vec::new();
        }
        let models = self.models.borrow();
        let mut layers = Vec::new();
        for (id, located) in models.iter() {
            for (layer, tensors) in located {
                if tensors.iter().any(|t| missing.contains(&t.url)) {
                    layers.push((*id, layer.clone()));
                }
            }
        }
        layers
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
        for run in runs(&tensors) {
            let (url, span) = (
                &run[0].url,
                run[0].range.start..run[run.len() - 1].range.end,
            );
            let staged = (self.reader.read_staged(url, span.clone()).await)
                .map_err(|err| source_error(format!("reading {}: {err}", run[0].full)))?;
            for tensor in run {
                let at = (tensor.range.start - span.start) as usize;
                let end = (tensor.range.end - span.start) as usize;
                if end > staged.size() {
                    let message = format!("{}: the read returned too few bytes", tensor.full);
                    return Err(source_error(message));
                }
                let data = if HostValues::stored_as(tensor.dtype, tensor.held_as)
                    && (end - at).is_multiple_of(tensor.held_as.size())
                {
                    let len = (end - at) / tensor.held_as.size();
                    HostValues::filled(tensor.held_as, len, |out| staged.copy_to(at, out))
                } else {
                    let mut stored = vec![0u8; end - at];
                    staged.copy_to(at, &mut stored);
                    HostValues::convert(&tensor.full, tensor.dtype, &stored, tensor.held_as)
                        .map_err(|err| source_error(err.to_string()))?
                };
                let shape = tensor.shape.clone();
                host.tensors
                    .insert(tensor.name.clone(), HostTensor { shape, data });
            }
        }
        Ok(host)
    }
}

impl LayerFiles {
    /// Rows `ids` of the [rows, …] tensor `name` of `layer`, in the order given, as the load
    /// holds them (`held_as`) widened to f32: a lookup table that stays in its file (Cache
    /// Storage or the network) while each call reads only the rows it needs. Runs of nearby ids
    /// share one read.
    ///
    /// # Errors
    /// [`ExecError::Source`] when the tensor is not registered or a read fails;
    /// [`ExecError::BadInput`] for an id past the table's rows.
    pub async fn rows(
        &self,
        model: ModelId,
        (layer, name): (&str, &str),
        ids: &[u32],
    ) -> Result<Vec<f32>, ExecError> {
        let source_error = |message: String| ExecError::Source {
            layer: layer.to_owned(),
            message,
        };
        let tensor = (self.models.borrow().get(&model))
            .and_then(|layers| layers.get(layer)?.iter().find(|t| t.name == name).cloned())
            .ok_or_else(|| source_error(format!("no file holds {name} of model {model}")))?;
        let rows = tensor.shape.first().copied().unwrap_or(0);
        let width: usize = tensor.shape.iter().skip(1).product();
        let row_bytes = (tensor.range.end - tensor.range.start) / (rows.max(1) as u64);
        if let Some(id) = ids.iter().find(|&&id| id as usize >= rows) {
            let message = format!("row {id} of {}, which has {rows}", tensor.full);
            return Err(ExecError::BadInput(message));
        }
        let mut wanted: Vec<u32> = ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found: BTreeMap<u32, usize> = BTreeMap::new();
        let mut values = Vec::with_capacity(wanted.len() * width);
        for run in row_runs(&wanted, (MERGE_GAP_BYTES / row_bytes.max(1)) as u32) {
            let (first, last) = (run[0], run[run.len() - 1]);
            let start = tensor.range.start + u64::from(first) * row_bytes;
            let end = tensor.range.start + (u64::from(last) + 1) * row_bytes;
            let bytes = (self.reader.read(&tensor.url, start..end).await)
                .map_err(|err| source_error(format!("reading rows of {}: {err}", tensor.full)))?;
            if bytes.len() as u64 != end - start {
                let message = format!("{}: the read returned too few bytes", tensor.full);
                return Err(source_error(message));
            }
            let held = HostValues::convert(&tensor.full, tensor.dtype, &bytes, tensor.held_as)
                .map_err(|err| source_error(err.to_string()))?;
            for &id in run {
                let at = (id - first) as usize * width;
                found.insert(id, values.len());
                held.extend_f32(at..at + width, &mut values);
            }
        }
        let mut out = Vec::with_capacity(ids.len() * width);
        for id in ids {
            let at = found[id];
            out.extend_from_slice(&values[at..at + width]);
        }
        Ok(out)
    }
}

/// Sorted, distinct `ids` as runs that one read each covers: ids at most `gap` apart share one.
fn row_runs(ids: &[u32], gap: u32) -> Vec<&[u32]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=ids.len() {
        if i == ids.len() || ids[i] - ids[i - 1] > gap.max(1) {
            runs.push(&ids[start..i]);
            start = i;
        }
    }
    runs
}

/// Reads closer than this are merged into one: a layer's tensors lie next to each other in its
/// file, so a layer is usually one read (one request, one `blob.slice`).
const MERGE_GAP_BYTES: u64 = 64 * 1024;

/// `tensors` (sorted by file and offset) as runs that one read each covers.
fn runs(tensors: &[Located]) -> Vec<&[Located]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=tensors.len() {
        let split = i == tensors.len()
            || tensors[i].url != tensors[i - 1].url
            || tensors[i].range.start > tensors[i - 1].range.end + MERGE_GAP_BYTES;
        if split {
            runs.push(&tensors[start..i]);
            start = i;
        }
    }
    runs
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

#[cfg(test)]
mod tests {
    use super::*;

    fn located(start: u64, len: u64) -> Located {
        Located {
            name: format!("t{start}"),
            full: format!("t{start}"),
            url: "model.safetensors".into(),
            range: start..start + len,
            dtype: Dtype::F32,
            held_as: ConvertTarget::F32,
            shape: vec![(len / 4) as usize],
        }
    }

    #[test]
    fn nearby_rows_share_a_read() {
        assert_eq!(row_runs(&[], 4), Vec::<&[u32]>::new());
        assert_eq!(row_runs(&[3, 5, 9, 20, 21], 4), [&[3, 5, 9][..], &[20, 21]]);
        assert_eq!(row_runs(&[3, 5], 0), [&[3][..], &[5]]);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn rows_come_back_in_the_order_asked_as_the_load_holds_them() {
        let dir = std::env::temp_dir().join(format!("webvram-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("table.bin");
        // A 4 × 2 f32 table after 8 bytes of something else.
        let table: Vec<f32> = vec![0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let mut bytes = vec![0u8; 8];
        bytes.extend(table.iter().flat_map(|v| v.to_le_bytes()));
        std::fs::write(&path, &bytes).unwrap();
        let files = LayerFiles::new(Box::new(crate::fetch::FileSource::new()));
        let mut tensor = located(8, 32);
        tensor.url = path.to_str().unwrap().to_owned();
        tensor.shape = vec![4, 2];
        let id = ModelId::new(7);
        let layers = [("@rows".to_owned(), vec![tensor.clone()])].into();
        files.models.borrow_mut().insert(id, layers);
        let rows = |ids: &[u32]| pollster::block_on(files.rows(id, ("@rows", "t8"), ids));
        assert_eq!(rows(&[3, 0, 3]).unwrap(), [6.0, 7.0, 0.5, 1.0, 6.0, 7.0]);
        assert!(matches!(rows(&[4]), Err(ExecError::BadInput(_))));
        // Held in f16, as a load in f16 would: rounded the same way.
        tensor.held_as = ConvertTarget::F16;
        files
            .models
            .borrow_mut()
            .insert(id, [("@rows".to_owned(), vec![tensor])].into());
        assert_eq!(rows(&[1]).unwrap(), [2.0, 3.0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn neighbours_share_a_read_and_distant_tensors_do_not() {
        let lens = |runs: Vec<&[Located]>| runs.iter().map(|r| r.len()).collect::<Vec<_>>();
        let near = [located(0, 400), located(400, 400), located(900, 400)];
        assert_eq!(lens(runs(&near)), [3]);
        let far = [located(0, 400), located(400 + MERGE_GAP_BYTES + 1, 400)];
        assert_eq!(lens(runs(&far)), [1, 1]);
        let mut other_file = located(800, 400);
        other_file.url = "model-2.safetensors".into();
        assert_eq!(lens(runs(&[located(0, 400), other_file])), [1, 1]);
    }

    #[test]
    fn a_layer_is_copied_out_of_one_staged_read_converting_only_where_the_dtype_differs() {
        let bytes: Vec<u8> = [1.5f32, -2.0, 3.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let staged: Box<dyn Staged> = Box::new(bytes.clone());
        let mut out = [0u8; 8];
        staged.copy_to(4, &mut out);
        assert_eq!(out, bytes[4..12]);
        let held = HostValues::filled(ConvertTarget::F32, 2, |out| staged.copy_to(4, out));
        assert_eq!(held, HostValues::from(vec![-2.0f32, 3.25]));
        assert!(HostValues::stored_as(Dtype::F32, ConvertTarget::F32));
        assert!(!HostValues::stored_as(Dtype::F32, ConvertTarget::F16));
        assert!(!HostValues::stored_as(Dtype::BF16, ConvertTarget::F32));
    }
}
