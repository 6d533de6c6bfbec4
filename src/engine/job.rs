//! A job as the engine sees it: an admitted request in, events out, and the flags that any
//! thread may set on it (cancel, timeout) and the inference thread reads.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use super::event::{ErrorCode, JobEvent, StopReason, TokenLogprobs};
use super::events::{EventSender, Unsent};
use crate::ffi::SamplerParams;

/// Which front end a job came from (metrics are labelled by it). Cancel and Models never carry
/// a job; they label refusals (a wrong API key) of those routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Execute,
    Completions,
    ChatCompletions,
    Cancel,
    Models,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Execute => "/execute",
            Endpoint::Completions => "/v1/completions",
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Cancel => "/cancel",
            Endpoint::Models => "/v1/models",
        }
    }
}

/// A job that passed admission (src/admission/): validated, rendered, tokenized and within its
/// token budget. The engine runs it as given.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub job_id: String,
    /// The prompt as text (the rendered conversation for `messages`), for --log-prompts.
    pub prompt: String,
    /// The prompt as the model sees it.
    pub prompt_tokens: Vec<i32>,
    pub max_tokens: u32,
    pub sampling: SamplerParams,
    /// (token id, bias) pairs added to the logits before sampling.
    pub logit_bias: Vec<(i32, f32)>,
    pub stop: Vec<String>,
    /// Report each token's log-probability and this many top alternatives; None: no logprobs.
    pub logprobs: Option<u32>,
    pub endpoint: Endpoint,
}

/// Per-job state shared between the HTTP handlers, the watchdog and the inference thread.
pub struct JobControl {
    pub cancelled: AtomicBool,
    /// Set when the job was stopped because its client has MAX_UNREAD_EVENTS unread.
    pub stalled: AtomicBool,
    pub timed_out: AtomicBool,
    /// The core's abort flag of the job's sequence: non-zero drops its rows at the next layer.
    pub abort: Arc<AtomicI32>,
    pub accepted_at: Instant,
    pub endpoint: Endpoint,
    /// Set when the job starts running: started + --inference-timeout-sec.
    deadline: Mutex<Option<Instant>>,
    /// Where the events go. Whoever sends the terminal event takes it, so there is exactly one
    /// terminal event even when a cancel or a timeout races the inference thread.
    events: Mutex<Option<EventSender>>,
}

impl JobControl {
    pub fn new(events: EventSender, endpoint: Endpoint) -> JobControl {
        JobControl {
            endpoint,
            cancelled: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            abort: Arc::new(AtomicI32::new(0)),
            accepted_at: Instant::now(),
            deadline: Mutex::new(None),
            events: Mutex::new(Some(events)),
        }
    }

    /// Sends a non-terminal event; false once the job has ended, its client is gone, or its
    /// client stopped reading (then the job is stopped as cancelled, `stalled` set).
    pub fn send(&self, event: JobEvent) -> bool {
        debug_assert!(!event.is_terminal());
        let sent = match self.events.lock().unwrap().as_ref() {
            Some(tx) => tx.send(event),
            None => return false,
        };
        match sent {
            Ok(()) => true,
            Err(Unsent::Closed) => false,
            Err(Unsent::Stalled) => {
                self.stalled.store(true, Ordering::SeqCst);
                self.request_stop(false);
                false
            }
        }
    }

    /// Sends the terminal event unless one was sent already; `before` runs (metrics) only when
    /// this call is the one that ends the job, before the client can see the event.
    pub fn finish(&self, event: JobEvent, before: impl FnOnce()) -> bool {
        debug_assert!(event.is_terminal());
        let Some(tx) = self.events.lock().unwrap().take() else { return false };
        before();
        let _ = tx.send_always(event);
        true
    }

    pub fn is_finished(&self) -> bool {
        self.events.lock().unwrap().is_none()
    }

    /// Marks the job cancelled and stops its rows in the core.
    pub fn request_stop(&self, timed_out: bool) {
        if timed_out {
            self.timed_out.store(true, Ordering::SeqCst);
        } else {
            self.cancelled.store(true, Ordering::SeqCst);
        }
        self.abort.store(1, Ordering::SeqCst);
    }

    pub fn stop_requested(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst) || self.timed_out.load(Ordering::SeqCst)
    }

    pub fn set_deadline(&self, at: Instant) {
        *self.deadline.lock().unwrap() = Some(at);
    }

    pub fn past_deadline(&self, now: Instant) -> bool {
        self.deadline.lock().unwrap().is_some_and(|d| now >= d)
    }
}

/// A job waiting in the queue or running: its spec and its control.
pub struct Job {
    pub spec: JobSpec,
    pub control: Arc<JobControl>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("job_id", &self.spec.job_id).finish_non_exhaustive()
    }
}
