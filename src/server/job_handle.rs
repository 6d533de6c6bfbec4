//! A submitted job as a front end holds it: its event receiver, and a guard that cancels the job
//! when the front end drops it before the terminal event (the client went away).

use std::sync::Arc;
use std::task::{Context, Poll};

use crate::engine::events::EventReceiver;
use crate::engine::job::JobEvent;
use crate::engine::Engine;

pub struct JobHandle {
    rx: EventReceiver,
    engine: Arc<Engine>,
    pub job_id: String,
    finished: bool,
}

impl JobHandle {
    pub fn new(rx: EventReceiver, engine: Arc<Engine>, job_id: String) -> JobHandle {
        JobHandle { rx, engine, job_id, finished: false }
    }

    /// The next event; None after the terminal one.
    pub fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<JobEvent>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(ev)) => {
                self.finished = ev.is_terminal();
                Poll::Ready(Some(ev))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    pub async fn next_event(&mut self) -> Option<JobEvent> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }
}

impl Drop for JobHandle {
    fn drop(&mut self) {
        if !self.finished {
            self.engine.cancel(&self.job_id);
        }
    }
}
