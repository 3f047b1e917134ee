//! The layered forward pass: resident layers used in place, the others streamed in one at a time
//! with the next one's read and upload issued before the current one's compute (ComfyUI's cast
//! weights), and the one after it read ahead where there is room.

use burn::tensor::Device;

use crate::exec::error::ExecError;
use crate::exec::executor::Executor;
use crate::exec::layer::LayerWeights;
use crate::exec::model::LayeredModel;
use crate::exec::read_ahead::{ReadAhead, poll_once};
use crate::exec::slot::{HostCopy, Slot, host_bytes_of};
use crate::exec::watch::classify;
use crate::manager::ModelId;

/// Where a forward pass on a GPU runs the layers that are not resident there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NonResident {
    /// Uploaded just before their turn and dropped after (ComfyUI's streaming).
    #[default]
    Upload,
    /// Computed on the CPU where their bytes lie in wasm memory, nothing uploaded (llama.cpp's
    /// `-ngl` split). Only for a model that [`can_move`](LayeredModel::can_move); others upload.
    OnCpu,
}

/// What one [`Executor::forward`] call did with the weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardStats {
    /// Layers run.
    pub layers: usize,
    /// Layers that were not resident and were uploaded for this call (on the CPU path: only
    /// those read back through the layer source; the others are used where they lie).
    pub streamed_layers: usize,
    /// Bytes of the layers that were resident (on the CPU path: used in place in wasm memory).
    pub resident_bytes: u64,
    /// Bytes uploaded for this call: the non-resident layers' bytes, each once.
    pub uploaded_bytes: u64,
    /// Of those, bytes first brought back through the [`LayerSource`](crate::exec::LayerSource)
    /// (with [`NonResident::OnCpu`], also those of layers computed on the CPU).
    pub fetched_bytes: u64,
    /// Layers computed on the CPU from wasm memory while the others ran on the GPU
    /// ([`NonResident::OnCpu`]).
    pub cpu_layers: usize,
    /// Times the activation moved between the GPU and the CPU.
    pub device_moves: usize,
    /// The most bytes of streamed weights alive on the device at once.
    pub peak_streamed_bytes: u64,
    /// The bound `peak_streamed_bytes` never exceeds: the largest sum of two streamed layers
    /// that are consecutive among the streamed ones (or the largest one, if it stands alone).
    pub streamed_bound_bytes: u64,
    /// burn's pool bytes in use when the call started (weights, inputs, anything else alive).
    pub pool_in_use_before: u64,
    /// The most pool bytes in use seen after each layer was queued (uploads and the layer's
    /// output included). 0 when the backend reports no pool.
    pub peak_pool_in_use: u64,
    /// Streamed layers whose read started while the streamed layer two before them computed
    /// (one layer earlier than their prefetch), where the room allowed
    /// ([`Executor::set_read_ahead_room`]).
    pub read_ahead_layers: usize,
    /// The most bytes read ahead and waiting at once (at most one layer's).
    pub peak_read_ahead_bytes: u64,
}

impl ForwardStats {
    /// The weights of a streamed layer, with the stats of its streaming added to these.
    fn absorbed<W>(&mut self, (weights, streaming): (W, ForwardStats)) -> W {
        self.absorb(&streaming);
        weights
    }

    /// Adds a later pass's stats (one call split into batches): counts and bytes add up, peaks
    /// and bounds take the larger, `pool_in_use_before` stays this pass's.
    pub fn absorb(&mut self, later: &ForwardStats) {
        self.layers += later.layers;
        self.streamed_layers += later.streamed_layers;
        self.resident_bytes += later.resident_bytes;
        self.uploaded_bytes += later.uploaded_bytes;
        self.fetched_bytes += later.fetched_bytes;
        self.cpu_layers += later.cpu_layers;
        self.device_moves += later.device_moves;
        self.peak_streamed_bytes = self.peak_streamed_bytes.max(later.peak_streamed_bytes);
        self.streamed_bound_bytes = self.streamed_bound_bytes.max(later.streamed_bound_bytes);
        self.peak_pool_in_use = self.peak_pool_in_use.max(later.peak_pool_in_use);
        self.read_ahead_layers += later.read_ahead_layers;
        self.peak_read_ahead_bytes = self.peak_read_ahead_bytes.max(later.peak_read_ahead_bytes);
    }
}

impl Executor {
    /// Runs `model` (whose weights were inserted as `id`) on `input`, layer by layer.
    ///
    /// Resident layers are used in place. A layer off the device is uploaded just before its
    /// turn and dropped right after, and the *next* non-resident layer's read (from wasm memory,
    /// Cache Storage or the network) and upload are started before the current layer's compute
    /// and finished after it, so the read runs on the browser's threads and the transfer
    /// overlaps that compute where the device allows. At most two streamed layers are alive at
    /// once, so GPU memory during the call stays within
    ///
    /// `resident weights (≤ the weight budget) + streamed_bound_bytes + activations`,
    ///
    /// where `streamed_bound_bytes` (see [`ForwardStats`]) is at most twice the largest
    /// non-resident layer and "activations" is the input, the output and the model's
    /// temporaries of one layer. The streamed layer after the next one is read (not uploaded)
    /// meanwhile too when its bytes fit the read-ahead room
    /// ([`set_read_ahead_room`](Self::set_read_ahead_room)): it takes no device memory, and in a
    /// browser waits outside wasm memory. Reading the output back is the caller's
    /// ([`read`](Self::read)), so a lost device shows up there.
    ///
    /// # Errors
    /// [`ExecError::UnknownModel`]; [`ExecError::LayerMismatch`] when the model's layers are not
    /// the inserted ones; [`ExecError::OutOfMemory`] or [`ExecError::TensorTooLarge`] from a
    /// streamed upload; [`ExecError::NotInMemory`] / [`ExecError::Source`] for a layer with no
    /// bytes at hand; the model's own errors; [`ExecError::DeviceLost`] when the loss is known.
    pub async fn forward<M: LayeredModel>(
        &self,
        id: ModelId,
        model: &M,
        input: M::Activation,
    ) -> Result<(M::Activation, ForwardStats), ExecError> {
        self.forward_split(id, model, input, NonResident::Upload)
            .await
    }

    /// [`forward`](Self::forward), with the non-resident layers run where `split` says. With
    /// [`NonResident::OnCpu`] on a GPU, nothing is uploaded: each layer without GPU weights runs
    /// on burn's CPU backend over its bytes in wasm memory (fetched through the source first
    /// when the host tier does not hold it), and the model moves the activation across
    /// ([`LayeredModel::move_to`]) where consecutive layers run on different devices. The output
    /// stays where the last layer ran ([`read`](Self::read) reads either).
    ///
    /// # Errors
    /// As [`forward`](Self::forward), plus a failed move.
    pub async fn forward_split<M: LayeredModel>(
        &self,
        id: ModelId,
        model: &M,
        input: M::Activation,
        split: NonResident,
    ) -> Result<(M::Activation, ForwardStats), ExecError> {
        self.watch.check()?;
        let slots = self.slots(id)?;
        check_layers(id, slots, model)?;
        let cpu = (split == NonResident::OnCpu && model.can_move() && self.compute.gpu().is_some())
            .then(Device::flex);
        let on_cpu = |slot: &Slot| cpu.is_some() && slot.gpu.is_none();
        let mut stats = ForwardStats {
            layers: slots.len(),
            streamed_bound_bytes: streamed_bound(slots.iter().filter(|s| !on_cpu(s))),
            pool_in_use_before: self.pool_in_use(),
            ..ForwardStats::default()
        };
        stats.peak_pool_in_use = stats.pool_in_use_before;
        let mut prefetched: Option<(usize, LayerWeights)> = None;
        let mut ahead: Option<ReadAhead<'_>> = None;
        let streamed_after = |from: usize| {
            (from + 1..slots.len()).find(|&j| slots[j].gpu.is_none() && !on_cpu(&slots[j]))
        };
        let mut activation = input;
        let mut activation_on_cpu = false;
        for (index, slot) in slots.iter().enumerate() {
            let device = match (&cpu, on_cpu(slot)) {
                (Some(cpu), true) => cpu,
                _ => self.device(),
            };
            if model.can_move() {
                activation = (model.move_to(index, activation, device).await)
                    .map_err(|err| self.classified(err))?;
                if activation_on_cpu != on_cpu(slot) {
                    activation_on_cpu = on_cpu(slot);
                    stats.device_moves += 1;
                }
            }
            if on_cpu(slot) {
                let copy = host_bytes_of(slot, id, self.source()).await?;
                stats.fetched_bytes += copy.fetched_bytes();
                let weights = LayerWeights::share_on_cpu(copy.layer(), device);
                activation = model.run_layer(index, &weights, activation)?;
                stats.cpu_layers += 1;
                continue;
            }
            let streamed = match (&slot.gpu, prefetched.take()) {
                (Some(_), pending) => {
                    prefetched = pending;
                    stats.resident_bytes += slot.bytes;
                    None
                }
                (None, Some((at, weights))) if at == index => Some(weights),
                (None, _) => {
                    let early = ReadAhead::take_for(&mut ahead, index);
                    Some(self.stream_in(id, slot, early, &mut stats).await?)
                }
            };
            let next = streamed_after(index);
            // The next streamed layer's read starts before this layer's compute and ends after
            // it: a browser reads Cache Storage and the network on its own threads meanwhile.
            // The one after it is read too where the room allows, so a read is always queued.
            let mut reading = None;
            if prefetched.is_none()
                && let Some(next) = next
            {
                let early = ReadAhead::take_for(&mut ahead, next);
                let mut read = Box::pin(self.stream_in_alone(id, &slots[next], early));
                match poll_once(&mut read).await {
                    Some(done) => prefetched = Some((next, stats.absorbed(done?))),
                    None => reading = Some((next, read)),
                }
            }
            if ahead.is_none()
                && let Some(after) = next.and_then(streamed_after)
            {
                ahead = self.read_ahead(id, after, &slots[after]).await;
                let waiting = ahead.as_ref().map_or(0, ReadAhead::bytes);
                stats.peak_read_ahead_bytes = stats.peak_read_ahead_bytes.max(waiting);
            }
            let weights = (streamed.as_ref().or(slot.gpu.as_ref())).ok_or_else(|| {
                ExecError::NotInMemory {
                    layer: slot.name.clone(),
                }
            })?;
            activation = model.run_layer(index, weights, activation)?;
            if let Some((next, read)) = reading {
                prefetched = Some((next, stats.absorbed(read.await?)));
            }
            let live = [streamed.as_ref(), prefetched.as_ref().map(|(_, w)| w)];
            let live: u64 = live.into_iter().flatten().map(LayerWeights::bytes).sum();
            stats.peak_streamed_bytes = stats.peak_streamed_bytes.max(live);
            stats.peak_pool_in_use = stats.peak_pool_in_use.max(self.pool_in_use());
            drop(streamed);
        }
        Ok((activation, stats))
    }

    /// A move's error, with a lost device recognised as such.
    fn classified(&self, err: ExecError) -> ExecError {
        match err {
            ExecError::Backend { message } => classify(message, &self.watch),
            other => other,
        }
    }

    /// Uploads a non-resident layer for this call: from its wasm copy, the read started `early`
    /// ([`ReadAhead`]), or a read started now.
    async fn stream_in(
        &self,
        id: ModelId,
        slot: &Slot,
        early: Option<ReadAhead<'_>>,
        stats: &mut ForwardStats,
    ) -> Result<LayerWeights, ExecError> {
        let copy = match early {
            Some(read) => {
                stats.read_ahead_layers += 1;
                HostCopy::Fetched(read.finish().await?)
            }
            None => host_bytes_of(slot, id, self.source()).await?,
        };
        let (weights, fetched) = copy.upload(&self.compute, self.simulated_capacity).await?;
        stats.fetched_bytes += fetched;
        // burn's CPU backend computes on the values in wasm memory: nothing moves unless the
        // layer had to be read back in first.
        if self.compute.gpu().is_none() && fetched == 0 {
            stats.resident_bytes += weights.bytes();
            return Ok(weights);
        }
        stats.streamed_layers += 1;
        stats.uploaded_bytes += weights.bytes();
        Ok(weights)
    }

    /// [`stream_in`](Self::stream_in) with stats of its own, so that it can run while the
    /// caller updates the pass's.
    async fn stream_in_alone(
        &self,
        id: ModelId,
        slot: &Slot,
        early: Option<ReadAhead<'_>>,
    ) -> Result<(LayerWeights, ForwardStats), ExecError> {
        let mut stats = ForwardStats::default();
        let weights = self.stream_in(id, slot, early, &mut stats).await?;
        Ok((weights, stats))
    }

    /// burn's pool bytes in use (0 without a report).
    pub(crate) fn pool_in_use(&self) -> u64 {
        self.device()
            .memory_pool_usage()
            .map_or(0, |usage| usage.bytes_in_use)
    }
}

/// The model must run exactly the layers inserted, in order.
fn check_layers<M: LayeredModel>(id: ModelId, slots: &[Slot], model: &M) -> Result<(), ExecError> {
    let runs = model.layer_names();
    if runs.len() == slots.len() && runs.iter().zip(slots).all(|(a, s)| *a == s.name) {
        return Ok(());
    }
    Err(ExecError::LayerMismatch {
        model: id,
        inserted: slots.iter().map(|s| s.name.clone()).collect(),
        runs,
    })
}

/// The largest streamed bytes alive at once: the largest sum of two consecutive non-resident
/// layers (in execution order, resident ones skipped), or the largest single one.
fn streamed_bound<'s>(slots: impl Iterator<Item = &'s Slot>) -> u64 {
    let streamed: Vec<u64> = slots
        .filter(|slot| slot.gpu.is_none())
        .map(|slot| slot.bytes)
        .collect();
    let single = streamed.iter().copied().max().unwrap_or(0);
    let pair = streamed.windows(2).map(|w| w[0] + w[1]).max().unwrap_or(0);
    single.max(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(bytes: u64) -> Slot {
        Slot {
            name: String::new(),
            bytes,
            host: None,
            gpu: None,
        }
    }

    #[test]
    fn the_bound_is_the_largest_adjacent_pair_of_streamed_layers() {
        let bound = |slots: &[Slot]| streamed_bound(slots.iter());
        assert_eq!(bound(&[]), 0);
        assert_eq!(bound(&[slot(7)]), 7);
        assert_eq!(bound(&[slot(1), slot(5), slot(2), slot(4)]), 7);
        assert_eq!(bound(&[slot(9), slot(1), slot(1)]), 10);
    }
}
