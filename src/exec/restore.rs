//! Device lost: move to a new device and put every resident layer back on it.

use crate::device::GpuContext;
use crate::exec::compute::Compute;
use crate::exec::error::ExecError;
use crate::exec::executor::Executor;
use crate::exec::layer::LayerWeights;
use crate::exec::slot::{Slot, host_bytes_of};
use crate::exec::source::LayerSource;
use crate::exec::watch::DeviceWatch;
use crate::manager::{ConfirmReport, LayerMove, Manager, ModelId, Plan, PlanKind, Tier};

/// What [`Executor::replace_device`] restored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RestoreReport {
    /// Layers uploaded to the new device.
    pub restored_layers: usize,
    /// Their bytes.
    pub restored_bytes: u64,
    /// Bytes brought back through the [`LayerSource`](crate::exec::LayerSource) to do so.
    pub fetched_bytes: u64,
    /// The first failure, if a layer could not be restored. It and every layer after it were
    /// released in the books instead (see `released`), so the next load plans them again.
    pub failure: Option<ExecError>,
    /// The release of the layers that were not restored, as the manager confirmed it.
    pub released: Option<ConfirmReport>,
}

impl Executor {
    /// Moves the executor to `gpu`, a device opened after the old one was lost, and uploads
    /// again every layer that was resident, from its wasm copy or through the source — the same
    /// placement as before, so the next forward call runs as before.
    ///
    /// The old device's copies are dropped (burn keeps its runtime for the dead device
    /// registered; only its handles remain). Open the new device with
    /// [`device::open`](crate::device::open): in a browser a lost device's adapter cannot
    /// give another, so a fresh adapter is needed. If a layer cannot be restored (the new
    /// device is smaller), it and the layers after it are released in the books and the report
    /// says why; the runtime should then load again, stepping down on out-of-memory as usual.
    /// Failures are reported in the [`RestoreReport`], not returned: the executor is on the new
    /// device either way.
    pub async fn replace_device(
        &mut self,
        gpu: GpuContext,
        manager: &mut Manager,
    ) -> RestoreReport {
        self.watch = DeviceWatch::new(Some(&gpu));
        self.compute = Compute::Gpu(gpu);
        let Self {
            compute,
            models,
            source,
            simulated_capacity,
            ..
        } = self;
        let source = source.as_deref();
        let mut report = RestoreReport::default();
        let mut release = Plan::empty(PlanKind::Free, 0);
        for (id, slots) in models.iter_mut() {
            for (index, slot) in slots.iter_mut().enumerate() {
                if slot.gpu.take().is_none() {
                    continue;
                }
                let restored = match report.failure {
                    Some(_) => None,
                    None => restore_one(compute, slot, *id, source, *simulated_capacity)
                        .await
                        .map_err(|err| report.failure = Some(err))
                        .ok(),
                };
                match restored {
                    Some((weights, fetched)) => {
                        report.restored_layers += 1;
                        report.restored_bytes += weights.bytes();
                        report.fetched_bytes += fetched;
                        slot.gpu = Some(weights);
                    }
                    None => {
                        let home = (manager.layer_state(*id, index))
                            .map_or(Tier::Remote, |state| state.gpu_home());
                        if home != Tier::Host && source.is_some() {
                            slot.host = None;
                        }
                        release.moves.push(LayerMove {
                            model: *id,
                            layer: index,
                            name: slot.name.clone(),
                            from: Tier::Gpu,
                            to: home,
                            bytes: slot.bytes,
                            keep_host_copy: false,
                        });
                    }
                }
            }
        }
        if !release.moves.is_empty() {
            release.empty_cache = true;
            report.released = Some(manager.confirm_all(&release));
        }
        report
    }
}

/// Uploads one formerly resident layer to the new device; returns it and the bytes fetched.
async fn restore_one(
    gpu: &Compute,
    slot: &Slot,
    id: ModelId,
    source: Option<&dyn LayerSource>,
    simulated_capacity: Option<u64>,
) -> Result<(LayerWeights, u64), ExecError> {
    host_bytes_of(slot, id, source)
        .await?
        .upload(gpu, simulated_capacity)
        .await
}
