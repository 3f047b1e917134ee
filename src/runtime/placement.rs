//! The one load path: a model's weights registered and planned from their headers, then placed
//! as they stream in — kept in wasm memory where the plan puts them in the host tier, dropped
//! as they pass otherwise (the cache or the network brings them back per forward call). Peak
//! wasm memory during a load is the host tier's share plus the layer being assembled and the
//! loader's chunk, never the model.
//!
//! Architecture-agnostic: a model kind says which layers it runs in which order, how it names
//! checkpoint tensors, which tensors it gathers on the host ([`PINNED_LAYER`]) and what its
//! inference needs.

use std::collections::BTreeMap;

use crate::Error;
use crate::exec::{HostLayer, HostSink, arrivals, expected_tensors};
use crate::fetch::{
    ByteSource, FetchError, LoadOptions, Loaded, OpenedModel, Progress, open_model,
};
use crate::manager::{Dtype, InferenceEstimate, LayerSpec, ManagerError, ModelId, ModelSpec, Tier};
use crate::runtime::Runtime;
use crate::weights::ConvertTarget;

/// The pseudo-layer a model kind's `layer_of` puts tensors in that stay in wasm memory for the
/// model's lifetime (gathered on the host, never uploaded): they are pinned, not planned.
pub(crate) const PINNED_LAYER: &str = "@pinned";

/// The pseudo-layer the layer files record row-read tables under: pinned tensors left in their
/// files because they did not fit the host budget ([`WeightLayout::row_read`]).
pub(crate) const ROWS_LAYER: &str = "@rows";

/// What a model kind tells the load about its weights.
pub(crate) struct WeightLayout<'a> {
    /// The model's name in the books (its folder).
    pub name: &'a str,
    /// The layers it runs, in order: the manager's and the executor's layer list.
    pub layers: Vec<String>,
    /// Checkpoint tensor → (layer, name within the layer); [`PINNED_LAYER`] for pinned tensors,
    /// `None` for tensors the model does not use.
    pub layer_of: &'a dyn Fn(&str) -> Option<(String, String)>,
    /// Inference memory, given the largest layer's bytes as held.
    pub inference: &'a dyn Fn(u64) -> InferenceEstimate,
    /// The pinned tensors the model needs, as (layer they would be in, name): a checkpoint
    /// without one is refused before any data is read.
    pub pinned: &'a [(&'a str, &'a str)],
    /// Pinned tensors the model only reads rows of (a word lookup, not a projection). When the
    /// pinned tensors do not fit the host budget's room and layers can be read back, these stay
    /// in their files (Cache Storage or the network) and each call reads just its rows
    /// ([`LayerFiles::rows`](crate::runtime::LayerFiles::rows)), so the table never has to be
    /// whole in wasm memory.
    pub row_read: &'a [&'a str],
}

/// A model whose weights are placed: its id in the books, the load's record and the bytes of
/// its layers as held. Its pinned tensors are in the executor ([`Executor::pinned`]).
///
/// [`Executor::pinned`]: crate::exec::Executor::pinned
pub(crate) struct Placed {
    pub id: ModelId,
    pub loaded: Loaded,
    pub weight_bytes: u64,
    /// Pinned tensors left in their files, read by rows (see [`WeightLayout::row_read`]).
    pub row_read: Vec<String>,
}

impl Runtime {
    /// Opens the weights in `base` (a single `model.safetensors`, else the sharded index), then
    /// registers, plans and streams them (see the module docs). On any error the model is
    /// forgotten again: nothing stays booked or held.
    ///
    /// # Errors
    /// [`Error::Fetch`], [`Error::Manager`] (`DoesNotFit` when the pinned tensors do not fit
    /// the host budget), [`Error::Exec`].
    pub(crate) async fn place_weights<S: ByteSource>(
        &mut self,
        source: &S,
        base: &str,
        layout: &WeightLayout<'_>,
        options: &LoadOptions,
        progress: impl FnMut(&Progress<'_>),
    ) -> Result<Placed, Error> {
        let opened = open_weights(source, base, options).await?;
        check_pinned(&opened, layout)?;
        let held_as = self.weight_dtype();
        let mut sizes = layer_sizes(&opened, layout.layer_of, held_as);
        let pinned = sizes.remove(PINNED_LAYER).unwrap_or(0);
        let (row_read, on_file) = self.row_read_tables(&opened, layout, held_as, pinned);
        let id = self.register_weights(layout, &sizes, pinned - on_file, held_as)?;
        match self
            .stream_into_tiers(
                id,
                source,
                opened,
                layout,
                (held_as, &row_read),
                options,
                progress,
            )
            .await
        {
            Ok(loaded) => {
                let weight_bytes = sizes.values().sum();
                Ok(Placed {
                    id,
                    loaded,
                    weight_bytes,
                    row_read,
                })
            }
            Err(err) => {
                self.drop_weights(id);
                Err(err)
            }
        }
    }

    /// The pinned tensors to leave in their files and read by rows, with their bytes as held:
    /// every [`row_read`](WeightLayout::row_read) one when the `pinned` bytes do not fit the
    /// host budget's room and layers can be read back; none otherwise.
    fn row_read_tables(
        &self,
        opened: &OpenedModel,
        layout: &WeightLayout<'_>,
        held_as: ConvertTarget,
        pinned: u64,
    ) -> (Vec<String>, u64) {
        if pinned <= self.manager.host_room() || self.files.is_none() {
            return (Vec::new(), 0);
        }
        let mut tables = (Vec::new(), 0u64);
        for (_, header) in opened.headers() {
            for tensor in header.tensors() {
                if let Some((layer, name)) = (layout.layer_of)(tensor.name())
                    && layer == PINNED_LAYER
                    && layout.row_read.contains(&name.as_str())
                {
                    tables.0.push(name);
                    tables.1 = tables.1.saturating_add(held_bytes(tensor.numel(), held_as));
                }
            }
        }
        tables
    }

    /// Registers the layers (`sizes`, by name) with the manager and books the `pinned` bytes,
    /// refusing them when they do not fit the host budget's room.
    fn register_weights(
        &mut self,
        layout: &WeightLayout<'_>,
        sizes: &BTreeMap<String, u64>,
        pinned: u64,
        held_as: ConvertTarget,
    ) -> Result<ModelId, Error> {
        let dtype = Dtype::from(held_as);
        let specs = (layout.layers.iter().enumerate())
            .map(|(order, name)| {
                let bytes = sizes.get(name).copied().unwrap_or(0);
                LayerSpec::new(name.clone(), order as u32, dtype, bytes)
            })
            .collect();
        let largest = sizes.values().copied().max().unwrap_or(0);
        let room = self.manager.host_room();
        if pinned > room {
            return Err(ManagerError::DoesNotFit {
                model: layout.name.to_owned(),
                needed: pinned,
                available: room,
                tier: Tier::Host,
                what: "the tables it gathers from in wasm memory (raise `hostBudget`)",
            }
            .into());
        }
        let spec = ModelSpec {
            name: layout.name.to_owned(),
            dtype,
            layers: specs,
            inference: (layout.inference)(largest),
            cached: false,
        };
        let id = self.manager.register(spec)?;
        self.manager.set_pinned_host_bytes(id, pinned)?;
        if let Err(err) = self.exec.insert_model(&self.manager, id, BTreeMap::new()) {
            let _ = self.manager.unregister(id);
            return Err(err.into());
        }
        Ok(id)
    }

    /// Streams the checkpoint while the executor places each layer as it completes: into the
    /// host tier as far as the plan puts it there, nowhere otherwise (when layers can be read
    /// back). Pinned tensors go to the executor once the stream is done.
    #[allow(clippy::too_many_arguments)]
    async fn stream_into_tiers<S: ByteSource>(
        &mut self,
        id: ModelId,
        source: &S,
        opened: OpenedModel,
        layout: &WeightLayout<'_>,
        (held_as, row_read): (ConvertTarget, &[String]),
        options: &LoadOptions,
        progress: impl FnMut(&Progress<'_>),
    ) -> Result<Loaded, Error> {
        // Pinned tensors left in their files are read by rows, and not assembled by the load.
        let on_file =
            |(layer, name): &(String, String)| layer == PINNED_LAYER && row_read.contains(name);
        let layer_of = |tensor: &str| (layout.layer_of)(tensor).filter(|l| !on_file(l));
        if let Some(files) = &self.files {
            let refetched = |tensor: &str| match (layout.layer_of)(tensor) {
                Some(located) if on_file(&located) => Some((ROWS_LAYER.to_owned(), located.1)),
                located => located.filter(|(l, _)| l != PINNED_LAYER),
            };
            files.register(id, opened.files(), &refetched, held_as);
        }
        let plan = self.manager.loaded_into_host(id, self.now_ms())?;
        // Layers the plan does not keep are not even assembled, when they can be read back.
        let streamed = self.exec.has_source();
        let kept: Vec<&str> = (layout.layers.iter().enumerate())
            .filter(|&(index, _)| plan.keeps_in_memory(id, index))
            .map(|(_, name)| name.as_str())
            .chain([PINNED_LAYER])
            .collect();
        let wanted = |tensor: &str| {
            layer_of(tensor).filter(|(layer, _)| !streamed || kept.contains(&layer.as_str()))
        };
        let headers = opened.headers().map(|(_, header)| header);
        let mut expected = expected_tensors(headers, &wanted);
        expected.remove(PINNED_LAYER);
        let (sender, mut queue) = arrivals();
        let sink = HostSink::new(&wanted)
            .storing(held_as)
            .handing_over(expected, sender);
        let stream = async move {
            let mut sink = sink;
            let loaded = opened.stream(source, &mut sink, options, progress).await;
            // The sink, and with it the sender, drops here: the arrivals end.
            (loaded, sink.into_layers())
        };
        let place = self
            .exec
            .apply_streaming(&mut self.manager, &plan, id, &mut queue);
        let ((loaded, mut rest), placed) = futures_util::future::join(stream, place).await;
        let loaded = loaded?;
        placed?;
        let pinned = rest
            .remove(PINNED_LAYER)
            .unwrap_or_else(|| HostLayer::new(PINNED_LAYER));
        for (name, tensor) in pinned.tensors {
            self.exec.pin(id, &name, tensor);
        }
        Ok(loaded)
    }

    /// Takes a model out of the executor, the books and the layer files. Dropping the
    /// executor's copies frees every byte the eviction plan names, so confirming that plan
    /// keeps the books true without executing each move.
    pub(super) fn drop_weights(&mut self, id: ModelId) {
        if let Some(files) = &self.files {
            files.forget(id);
        }
        let plan = self.manager.evict_model(id);
        // Its pinned tables go with it.
        self.exec.remove_model(id);
        if let Ok(plan) = plan {
            self.manager.confirm_all(&plan);
        }
        let _ = self.manager.set_pinned_host_bytes(id, 0);
        let _ = self.manager.unregister(id);
    }
}

impl Runtime {
    /// Rows `ids` of model `id`'s pinned tensor `name`, which the load left in its file
    /// ([`WeightLayout::row_read`]), in order and widened to f32.
    ///
    /// # Errors
    /// [`ExecError::Source`](crate::exec::ExecError::Source) when no layer reader is set or a
    /// read fails; `BadInput` for an id past the table.
    pub(crate) async fn table_rows(
        &mut self,
        id: ModelId,
        name: &str,
        ids: &[u32],
    ) -> Result<Vec<f32>, Error> {
        let files = self
            .files
            .clone()
            .ok_or_else(|| crate::exec::ExecError::Source {
                layer: ROWS_LAYER.into(),
                message: format!("{name} is left in its file but no layer reader is set"),
            })?;
        let rows = files.rows(id, (ROWS_LAYER, name), ids).await;
        self.note_cache_misses();
        Ok(rows?)
    }

    /// Records that the files at `urls` of model `id` are in the persistent cache (the load
    /// stored them, or read them from there): every layer read only from those files is booked
    /// `cache` rather than `remote` from now on. Unknown ids and URLs are ignored.
    pub fn mark_files_cached(&mut self, id: u32, urls: &[String]) {
        let id = ModelId::new(id);
        let Some(files) = &self.files else {
            return;
        };
        for name in files.layers_within(id, urls) {
            if let Some(layer) = self.manager.layer_index(id, &name) {
                let _ = self.manager.mark_cached(id, layer);
            }
        }
    }

    /// Moves the layers whose files the cache turned out not to have (a read fell back to the
    /// network) from `cache` to `remote` in the books.
    pub(crate) fn note_cache_misses(&mut self) {
        let Some(files) = &self.files else {
            return;
        };
        for (id, name) in files.take_cache_misses() {
            if let Some(layer) = self.manager.layer_index(id, &name) {
                let _ = self.manager.mark_uncached(id, layer);
            }
        }
    }
}

/// Refuses a checkpoint that lacks one of the pinned tensors the model needs.
fn check_pinned(opened: &OpenedModel, layout: &WeightLayout<'_>) -> Result<(), Error> {
    let present: Vec<String> = (opened.headers())
        .flat_map(|(_, header)| header.tensors())
        .filter_map(|tensor| (layout.layer_of)(tensor.name()))
        .filter(|(layer, _)| layer == PINNED_LAYER)
        .map(|(_, name)| name)
        .collect();
    match layout
        .pinned
        .iter()
        .find(|(_, name)| !present.iter().any(|p| p == name))
    {
        Some((layer, tensor)) => Err(crate::exec::ExecError::MissingTensor {
            layer: (*layer).to_owned(),
            tensor: (*tensor).to_owned(),
        }
        .into()),
        None => Ok(()),
    }
}

/// Bytes of `numel` values held as `held_as`.
fn held_bytes(numel: u64, held_as: ConvertTarget) -> u64 {
    numel.saturating_mul(held_as.size() as u64)
}

/// Bytes of each layer as held (pinned tensors under [`PINNED_LAYER`]), from the headers.
fn layer_sizes(
    opened: &OpenedModel,
    layer_of: &dyn Fn(&str) -> Option<(String, String)>,
    held_as: ConvertTarget,
) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    for (_, header) in opened.headers() {
        for tensor in header.tensors() {
            if let Some((layer, _)) = layer_of(tensor.name()) {
                let total: &mut u64 = sizes.entry(layer).or_default();
                *total = total.saturating_add(held_bytes(tensor.numel(), held_as));
            }
        }
    }
    sizes
}

/// Reads the headers of the weights in `base`: a single `model.safetensors` first (the common
/// case, and the one a 404 probe would otherwise make noisy in the console), then the sharded
/// index.
async fn open_weights<S: ByteSource>(
    source: &S,
    base: &str,
    options: &LoadOptions,
) -> Result<OpenedModel, Error> {
    let single = format!("{base}/model.safetensors");
    match open_model(source, &single, options).await {
        Ok(opened) => return Ok(opened),
        Err(FetchError::NotFound { url }) if url == single => {}
        Err(err) => return Err(err.into()),
    }
    let index = format!("{base}/model.safetensors.index.json");
    Ok(open_model(source, &index, options).await?)
}
