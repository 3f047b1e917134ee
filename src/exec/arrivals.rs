//! Layers handed from a load in progress to the executor, so each is placed as soon as its bytes
//! are in, while the rest of the model still streams (see
//! [`Executor::apply_streaming`](crate::exec::Executor::apply_streaming)).
//!
//! A single-threaded queue: the loader's sink and the executor run as two futures joined on one
//! thread (wasm has one), the sink pushing complete layers, the executor awaiting them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::exec::host::HostLayer;

#[derive(Default)]
struct Queue {
    layers: VecDeque<HostLayer>,
    waker: Option<Waker>,
    closed: bool,
}

/// The sending end: give it to the sink ([`HostSink::handing_over`](crate::exec::HostSink::handing_over)).
/// Dropping it ends the stream of arrivals.
pub struct ArrivalSender(Rc<RefCell<Queue>>);

/// The receiving end, for [`Executor::apply_streaming`](crate::exec::Executor::apply_streaming).
pub struct Arrivals(Rc<RefCell<Queue>>);

/// A new queue of arriving layers.
pub fn arrivals() -> (ArrivalSender, Arrivals) {
    let queue = Rc::new(RefCell::new(Queue::default()));
    (ArrivalSender(queue.clone()), Arrivals(queue))
}

impl ArrivalSender {
    /// Queues a complete layer and wakes the receiver.
    pub fn send(&self, layer: HostLayer) {
        let mut queue = self.0.borrow_mut();
        queue.layers.push_back(layer);
        if let Some(waker) = queue.waker.take() {
            waker.wake();
        }
    }
}

impl Drop for ArrivalSender {
    fn drop(&mut self) {
        let mut queue = self.0.borrow_mut();
        queue.closed = true;
        if let Some(waker) = queue.waker.take() {
            waker.wake();
        }
    }
}

impl Arrivals {
    /// The next layer to arrive, or `None` once the sender is gone and the queue is empty.
    pub async fn next(&mut self) -> Option<HostLayer> {
        std::future::poll_fn(|cx| {
            let mut queue = self.0.borrow_mut();
            match queue.layers.pop_front() {
                Some(layer) => Poll::Ready(Some(layer)),
                None if queue.closed => Poll::Ready(None),
                None => {
                    queue.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn layers_arrive_in_order_and_the_stream_ends_with_the_sender() {
        let (sender, mut arrivals) = arrivals();
        let producer = async move {
            sender.send(HostLayer::new("a"));
            sender.send(HostLayer::new("b"));
        };
        let consumer = async move {
            let mut names = Vec::new();
            while let Some(layer) = arrivals.next().await {
                names.push(layer.name);
            }
            names
        };
        let ((), names) = pollster::block_on(futures_util::future::join(producer, consumer));
        assert_eq!(names, ["a", "b"]);
    }
}
