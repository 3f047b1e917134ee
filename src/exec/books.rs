//! Books = reality: the manager's GPU bytes against what burn's allocator actually holds, and its
//! host bytes against what the executor holds in wasm memory.

use serde::{Deserialize, Serialize};

use crate::exec::executor::Executor;
use crate::manager::Manager;

/// How far burn's bytes in use may sit from the manager's GPU bytes and still agree:
/// `BOOKS_SLACK_BYTES + booked / BOOKS_SLACK_DIVISOR`.
///
/// burn's `bytes_in_use` counts each live allocation at its exact size (padding is reported
/// apart, in `bytes_padding`), so an f32 layer of `n` elements is `4n` bytes there too. What is
/// left over is burn's own bookkeeping — shape metadata and scalars, measured at under 200 bytes
/// on lavapipe — which the fixed slack covers; the proportional part (0.1%) covers per-tensor
/// rounding on backends that round allocation sizes. A single leaked or missing layer of any
/// real model is larger than both.
pub const BOOKS_SLACK_BYTES: u64 = 64 * 1024;

/// See [`BOOKS_SLACK_BYTES`].
pub const BOOKS_SLACK_DIVISOR: u64 = 1000;

/// The manager's books next to the executor's copies and burn's allocator, for `systemStats`
/// and for tests. Serialized in camelCase.
///
/// Meaningful between runs: activations alive while a model runs sit in the pool but not in the
/// books, and so does any tensor made outside the executor on the same device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BooksCheck {
    /// GPU bytes the manager's books hold.
    pub booked_gpu_bytes: u64,
    /// Bytes of device copies the executor holds (equal to the books unless a move failed
    /// half-way, which `apply` does not let happen).
    pub held_gpu_bytes: u64,
    /// burn's pool: bytes of live allocations, padding excluded.
    pub pool_in_use_bytes: u64,
    /// burn's pool: padding inside live allocations.
    pub pool_padding_bytes: u64,
    /// burn's pool: bytes reserved on the device (pages held for reuse included).
    pub pool_reserved_bytes: u64,
    /// Wasm bytes the manager's books hold.
    pub booked_host_bytes: u64,
    /// Wasm bytes the executor holds.
    pub held_host_bytes: u64,
    /// Wasm bytes held beyond the books: copies kept because no
    /// [`LayerSource`](crate::exec::LayerSource) could bring them back.
    pub host_retained_bytes: u64,
    /// The allowed gap between `pool_in_use_bytes` and `booked_gpu_bytes`.
    pub tolerance_bytes: u64,
    /// The allowed gap between `held_host_bytes` and `booked_host_bytes`.
    pub host_tolerance_bytes: u64,
    /// The wasm bytes held match the books within `host_tolerance_bytes` (with a layer source),
    /// or cover them (without one, every copy the executor was given is kept).
    pub host_agrees: bool,
    /// The executor holds what the books say on the device, the pool agrees within the
    /// tolerance, and the host tier agrees (`host_agrees`).
    pub agrees: bool,
}

impl BooksCheck {
    /// `pool_in_use_bytes − booked_gpu_bytes`, signed.
    pub fn gap_bytes(&self) -> i64 {
        self.pool_in_use_bytes as i64 - self.booked_gpu_bytes as i64
    }
}

impl Executor {
    /// Compares the manager's books with the executor's copies and burn's pool (see
    /// [`BooksCheck`] and [`BOOKS_SLACK_BYTES`]).
    pub fn books(&self, manager: &Manager) -> BooksCheck {
        let usage = self.device().memory_pool_usage().unwrap_or_default();
        let booked = manager.gpu_bytes();
        let held = self.gpu_bytes();
        let tolerance = BOOKS_SLACK_BYTES + booked / BOOKS_SLACK_DIVISOR;
        let (booked_host, held_host) = (manager.host_bytes(), self.host_bytes());
        let host_tolerance = BOOKS_SLACK_BYTES + booked_host / BOOKS_SLACK_DIVISOR;
        let host_agrees = match self.has_source() {
            true => held_host.abs_diff(booked_host) <= host_tolerance,
            false => held_host.saturating_add(host_tolerance) >= booked_host,
        };
        let gpu_agrees = held == booked && usage.bytes_in_use.abs_diff(booked) <= tolerance;
        BooksCheck {
            booked_gpu_bytes: booked,
            held_gpu_bytes: held,
            pool_in_use_bytes: usage.bytes_in_use,
            pool_padding_bytes: usage.bytes_padding,
            pool_reserved_bytes: usage.bytes_reserved,
            booked_host_bytes: booked_host,
            held_host_bytes: held_host,
            host_retained_bytes: held_host.saturating_sub(booked_host),
            tolerance_bytes: tolerance,
            host_tolerance_bytes: host_tolerance,
            host_agrees,
            agrees: gpu_agrees && host_agrees,
        }
    }
}
