//! The executor: the layers of every model, in wasm memory and on the device, kept as the
//! manager's books say.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};

use crate::device::GpuContext;
use crate::exec::compute::Compute;
use crate::exec::error::ExecError;
use crate::exec::host::{HostLayer, HostTensor};
use crate::exec::slot::Slot;
use crate::exec::source::LayerSource;
use crate::exec::watch::{DeviceWatch, read_back};
use crate::manager::{Manager, ModelId};

/// Makes the manager's plans real on one GPU device and runs models over the result.
///
/// The manager decides where each layer lives; the executor holds the bytes and moves them:
/// [`apply`](Self::apply) executes a plan and confirms what happened,
/// [`forward`](Self::forward) runs a model layer by layer, streaming the layers the plan left
/// off the device, [`books`](Self::books) compares the books with burn's allocator,
/// [`recover_from_oom`](Self::recover_from_oom) and [`replace_device`](Self::replace_device)
/// handle the two failures a browser GPU has. It never fetches (see [`LayerSource`]) and never
/// decides policy.
pub struct Executor {
    pub(crate) compute: Compute,
    pub(crate) models: BTreeMap<ModelId, Vec<Slot>>,
    /// Tensors a model keeps in wasm memory outside its layers, by model and name (see
    /// [`pin`](Self::pin)).
    pub(crate) pinned: BTreeMap<(ModelId, String), HostTensor>,
    pub(crate) source: Option<Box<dyn LayerSource>>,
    pub(crate) simulated_capacity: Option<u64>,
    /// The largest layer a forward pass may read ahead (see
    /// [`set_read_ahead_room`](Self::set_read_ahead_room)).
    pub(crate) read_ahead_room: u64,
    pub(crate) watch: DeviceWatch,
}

impl Executor {
    /// An executor on `compute` (a [`GpuContext`] or the CPU), holding no model yet.
    pub fn new(compute: impl Into<Compute>) -> Self {
        let compute = compute.into();
        let watch = DeviceWatch::new(compute.gpu());
        Self {
            compute,
            models: BTreeMap::new(),
            pinned: BTreeMap::new(),
            source: None,
            simulated_capacity: None,
            read_ahead_room: 0,
            watch,
        }
    }

    /// Sets where layers no longer in wasm memory are brought back from. From now on wasm copies
    /// are dropped when the books say they left wasm memory.
    pub fn set_source(&mut self, source: Box<dyn LayerSource>) {
        self.source = Some(source);
    }

    /// Makes every upload fail as out of memory once burn's pool would hold more than
    /// `capacity` bytes, as a device smaller than the budget would: the way native tests force
    /// the out-of-memory path (lavapipe allocates from system RAM and never runs out). `None`
    /// turns it off. Errors it causes say `simulated: true`.
    pub fn set_simulated_capacity(&mut self, capacity: Option<u64>) {
        self.simulated_capacity = capacity;
    }

    /// The shared GPU device (`None` on the CPU).
    pub fn gpu(&self) -> Option<&GpuContext> {
        self.compute.gpu()
    }

    /// Where the executor computes.
    pub fn compute(&self) -> &Compute {
        &self.compute
    }

    /// burn's handle on the device: create model inputs here.
    pub fn device(&self) -> &Device {
        self.compute.device()
    }

    /// Gives the executor a registered model's weights, in wasm memory.
    ///
    /// `layers` maps layer names (as registered with the manager) to their weights, e.g. what a
    /// [`HostSink`](crate::exec::HostSink) collected. Layers left out stay wherever the books say
    /// (cache, network) and are fetched through the [`LayerSource`] when needed. Register the
    /// model with sizes in f32 (the dtype weights are uploaded in), so books and device agree.
    ///
    /// # Errors
    /// [`ExecError::Manager`] for an unregistered id; [`ExecError::LayerMismatch`] when `layers`
    /// holds a name the manager does not list (nothing is inserted then).
    pub fn insert_model(
        &mut self,
        manager: &Manager,
        id: ModelId,
        mut layers: BTreeMap<String, HostLayer>,
    ) -> Result<(), ExecError> {
        manager.layer_state(id, 0)?;
        let entries: Vec<(String, u64)> = (manager.memory_map().layers.into_iter())
            .filter(|entry| entry.model == id)
            .map(|entry| (entry.name, entry.bytes))
            .collect();
        let names: Vec<String> = entries.iter().map(|(name, _)| name.clone()).collect();
        if let Some(stray) = layers.keys().find(|name| !names.contains(name)) {
            return Err(ExecError::LayerMismatch {
                model: id,
                inserted: vec![stray.clone()],
                runs: names,
            });
        }
        let slots = (entries.into_iter())
            .map(|(name, bytes)| Slot {
                host: layers.remove(&name),
                gpu: None,
                bytes,
                name,
            })
            .collect();
        self.models.insert(id, slots);
        Ok(())
    }

    /// Forgets a model's weights (device copies are dropped, their pages given back) and its
    /// pinned tensors. Plan and apply its unload first, so the books agree.
    pub fn remove_model(&mut self, id: ModelId) {
        self.pinned.retain(|(model, _), _| *model != id);
        if self.models.remove(&id).is_some() {
            self.device().memory_cleanup();
        }
    }

    /// Keeps `tensor` in wasm memory for model `id` outside its layers, until the model is
    /// removed: a table the model gathers from on the host (a text model's token embeddings),
    /// which never goes to the device. Book it with `Manager::set_pinned_host_bytes`.
    pub fn pin(&mut self, id: ModelId, name: &str, tensor: HostTensor) {
        self.pinned.insert((id, name.to_owned()), tensor);
    }

    /// A tensor pinned with [`pin`](Self::pin).
    pub fn pinned(&self, id: ModelId, name: &str) -> Option<&HostTensor> {
        self.pinned.get(&(id, name.to_owned()))
    }

    /// Forgets a model like [`remove_model`](Self::remove_model) and hands back the wasm copies
    /// it held (every layer, when no [`LayerSource`] is set): to run the same weights under
    /// another manager without a second copy.
    pub fn take_model(&mut self, id: ModelId) -> BTreeMap<String, HostLayer> {
        self.pinned.retain(|(model, _), _| *model != id);
        let slots = self.models.remove(&id).unwrap_or_default();
        self.device().memory_cleanup();
        (slots.into_iter())
            .filter_map(|slot| Some((slot.name, slot.host?)))
            .collect()
    }

    /// Bytes of weights the executor holds on the device.
    pub fn gpu_bytes(&self) -> u64 {
        self.models.values().flatten().map(Slot::gpu_bytes).sum()
    }

    /// Bytes of weights the executor holds in wasm memory, pinned tensors included.
    pub fn host_bytes(&self) -> u64 {
        let layers: u64 = self.models.values().flatten().map(Slot::host_bytes).sum();
        let pinned: u64 = self.pinned.values().map(HostTensor::bytes).sum();
        layers + pinned
    }

    /// Whether layers dropped from wasm memory can be brought back (a
    /// [`LayerSource`] is set): without one, the executor keeps every copy it was given.
    pub fn has_source(&self) -> bool {
        self.source.is_some()
    }

    /// Whether layer `layer` of `model` is on the device now.
    pub fn is_resident(&self, model: ModelId, layer: usize) -> bool {
        self.slots(model)
            .ok()
            .and_then(|slots| slots.get(layer))
            .is_some_and(|slot| slot.gpu.is_some())
    }

    /// Why the device was lost, once the executor knows it was (a failed read, or in a browser
    /// the device-lost callback).
    pub fn device_lost(&self) -> Option<String> {
        self.watch.lost()
    }

    /// Reads a tensor back as f32 values. Use this for model outputs: it is how a lost device
    /// shows up natively.
    ///
    /// # Errors
    /// [`ExecError::DeviceLost`], or [`ExecError::Backend`] for other read failures.
    pub async fn read<const D: usize>(&self, tensor: Tensor<D>) -> Result<Vec<f32>, ExecError> {
        read_back(tensor, &self.watch).await
    }

    /// A model's slots.
    pub(crate) fn slots(&self, model: ModelId) -> Result<&Vec<Slot>, ExecError> {
        self.models
            .get(&model)
            .ok_or(ExecError::UnknownModel { model })
    }

    /// The source, borrowed.
    pub(crate) fn source(&self) -> Option<&dyn LayerSource> {
        self.source.as_deref()
    }
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("models", &self.models.len())
            .field("gpu_bytes", &self.gpu_bytes())
            .field("host_bytes", &self.host_bytes())
            .field("source", &self.source.is_some())
            .field("simulated_capacity", &self.simulated_capacity)
            .field("read_ahead_room", &self.read_ahead_room)
            .field("device_lost", &self.watch.lost())
            .finish()
    }
}
