//! The channel a job's events travel from the inference thread to its front end. It is
//! unbounded (the inference thread must never block on a client), so it counts the events sent
//! and not yet taken: past MAX_UNREAD_EVENTS the client is not reading its stream, and the job is
//! stopped instead of queueing its whole generation in memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::event::JobEvent;

/// Events a job may have waiting for its front end. Events wait here only once the connection's
/// buffers are full (hyper's 64 KiB and the kernel's, server/listener.rs); a client that reads at
/// all empties them faster than a step fills them, so 256 events of slack beyond those is ample.
/// One event is a token's text (bytes; about 2 KiB with 20 logprob alternatives), so this bounds
/// a stalled client's queue to under 1 MiB.
pub const MAX_UNREAD_EVENTS: usize = 256;

/// Why an event was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// The receiver is gone (the client went away).
    Closed,
    /// MAX_UNREAD_EVENTS are waiting: the client stopped reading.
    Stalled,
}

pub struct EventSender {
    tx: UnboundedSender<JobEvent>,
    unread: Arc<AtomicUsize>,
}

pub struct EventReceiver {
    rx: UnboundedReceiver<JobEvent>,
    unread: Arc<AtomicUsize>,
}

pub fn event_channel() -> (EventSender, EventReceiver) {
    let (tx, rx) = unbounded_channel();
    let unread = Arc::new(AtomicUsize::new(0));
    (EventSender { tx, unread: unread.clone() }, EventReceiver { rx, unread })
}

impl EventSender {
    /// Sends a non-terminal event unless the receiver has MAX_UNREAD_EVENTS waiting.
    pub fn send(&self, event: JobEvent) -> Result<(), Unsent> {
        if self.tx.is_closed() {
            return Err(Unsent::Closed);
        }
        if self.unread.load(Ordering::Acquire) >= MAX_UNREAD_EVENTS {
            return Err(Unsent::Stalled);
        }
        self.send_always(event)
    }

    /// Sends whatever is waiting: the terminal event must always go out.
    pub fn send_always(&self, event: JobEvent) -> Result<(), Unsent> {
        self.unread.fetch_add(1, Ordering::AcqRel);
        self.tx.send(event).map_err(|_| Unsent::Closed)
    }
}

impl EventReceiver {
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<JobEvent>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &polled {
            self.unread.fetch_sub(1, Ordering::AcqRel);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(i: u32) -> JobEvent {
        JobEvent::Token { text: "x".into(), index: i, id: 1, logprobs: None }
    }

    #[test]
    fn a_receiver_that_does_not_read_stalls_the_sender_and_reading_frees_it() {
        let (tx, mut rx) = event_channel();
        for i in 0..MAX_UNREAD_EVENTS as u32 {
            tx.send(token(i)).unwrap();
        }
        assert_eq!(tx.send(token(0)), Err(Unsent::Stalled));
        assert!(tx.send_always(JobEvent::error(crate::engine::job::ErrorCode::Cancelled, "x")).is_ok());
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Some(_))));
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Some(_))));
        tx.send(token(1)).unwrap();
        drop(rx);
        assert_eq!(tx.send(token(2)), Err(Unsent::Closed));
    }
}
