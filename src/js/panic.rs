//! After a Rust panic: in wasm a panic aborts (a trap) wherever it happens, leaving whatever it
//! held (the runtime's lock, half-made books) as it was. Nothing webvram does afterwards can be
//! trusted, so the panic hook marks the module poisoned: every later call of every runtime
//! rejects with `code: 'PANIC'`, calls waiting for a lock the panicking call held are woken and
//! reject too (none hangs), and each live runtime fires an `error` event.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use wasm_bindgen::prelude::*;

use super::runtime::Shared;
use super::to_js_error;
use crate::Error;

thread_local! {
    static POISONED: Cell<bool> = const { Cell::new(false) };
    /// Tasks waiting for a runtime's lock, to wake when the module is poisoned, by waiter.
    static WAITERS: RefCell<BTreeMap<u64, Waker>> = const { RefCell::new(BTreeMap::new()) };
    static NEXT_WAITER: Cell<u64> = const { Cell::new(0) };
    /// Every runtime created, to tell its listeners.
    static RUNTIMES: RefCell<Vec<Weak<Shared>>> = const { RefCell::new(Vec::new()) };
}

/// Installs the panic hook (once; later calls do nothing).
pub(crate) fn install_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            console_error_panic_hook::hook(info);
            poison(&info.to_string());
        }));
    });
}

/// Marks the module poisoned, wakes the waiters and schedules the `error` events (after the
/// trap has unwound, so listeners never run inside the panic).
fn poison(message: &str) {
    if POISONED.replace(true) {
        return;
    }
    let waiters = WAITERS.with(|w| std::mem::take(&mut *w.borrow_mut()));
    waiters.into_values().for_each(Waker::wake);
    let runtimes: Vec<Rc<Shared>> =
        RUNTIMES.with(|r| r.borrow().iter().filter_map(Weak::upgrade).collect());
    let message = message.to_owned();
    wasm_bindgen_futures::spawn_local(async move {
        for shared in runtimes {
            shared.dispatch_error(&message);
        }
    });
}

/// Registers a runtime whose listeners hear about a panic.
pub(crate) fn register(shared: &Rc<Shared>) {
    RUNTIMES.with(|r| {
        let mut runtimes = r.borrow_mut();
        runtimes.retain(|weak| weak.strong_count() > 0);
        runtimes.push(Rc::downgrade(shared));
    });
}

/// `Err` with the `PANIC` error once the module is poisoned: the first line of every entry
/// point.
pub(crate) fn check() -> Result<(), JsValue> {
    match POISONED.get() {
        true => Err(to_js_error(Error::Panicked)),
        false => Ok(()),
    }
}

/// A future that completes when the module is poisoned: raced against a lock, so a call
/// waiting for a lock that a panicking call held never hangs. Dropping it forgets its waker.
pub(crate) struct Poisoned {
    waiter: u64,
}

impl Poisoned {
    pub(crate) fn new() -> Self {
        let waiter = NEXT_WAITER.with(|n| n.replace(n.get() + 1));
        Self { waiter }
    }
}

impl Future for Poisoned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if POISONED.get() {
            return Poll::Ready(());
        }
        let waker = cx.waker().clone();
        WAITERS.with(|w| w.borrow_mut().insert(self.waiter, waker));
        Poll::Pending
    }
}

impl Drop for Poisoned {
    fn drop(&mut self) {
        // `try_with`: this may run while thread-locals are torn down.
        let _ = WAITERS.try_with(|w| w.borrow_mut().remove(&self.waiter));
    }
}
