//! The job engine: a bounded queue in front of one inference thread that owns the model's
//! session (batch 1). HTTP handlers submit and cancel from the async runtime and never block on
//! inference; events travel back on an unbounded channel, so a slow client never stalls the
//! inference thread, and a dropped client is noticed at its next event.

pub mod generation;
pub mod job;
pub mod queue;
pub mod stop;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ffi::{Model, ModelInfo};
use crate::metrics::Metrics;
use crate::chat::ChatSupport;
use crate::tokenizer::Tokenizer;
use job::{ErrorCode, Job, JobEvent};
use queue::{JobQueue, PushError};

/// A loaded model with everything a job needs from it.
pub struct LoadedModel {
    pub model: Model,
    pub tokenizer: Tokenizer,
    /// Renders `messages` requests.
    pub chat: ChatSupport,
    pub info: ModelInfo,
    /// The name reported in `started` and /health (the file name).
    pub name: String,
}

pub struct EngineConfig {
    /// Context size of every job's session (tokens).
    pub n_ctx: u32,
    pub inference_timeout: Duration,
    pub logit_log: Option<PathBuf>,
    pub log_prompts: bool,
}

/// Per-job flags the inference thread reads between tokens.
#[derive(Default)]
pub struct JobControl {
    pub cancelled: AtomicBool,
    pub timed_out: AtomicBool,
}

#[derive(Default)]
struct Registry {
    /// Every job queued or running, by id (duplicate ids are refused).
    active: HashMap<String, Arc<JobControl>>,
    /// The running job and its deadline.
    running: Option<(String, Instant)>,
}

pub enum SubmitError {
    Duplicate,
    QueueFull,
    ShuttingDown,
}

pub struct Engine {
    pub loaded: Arc<LoadedModel>,
    pub config: EngineConfig,
    pub metrics: Arc<Metrics>,
    queue: JobQueue,
    registry: Mutex<Registry>,
    /// The session's abort flag, checked by the core between layers.
    abort: Arc<AtomicI32>,
    session_bytes: AtomicU64,
}

impl Engine {
    pub fn new(loaded: Arc<LoadedModel>, config: EngineConfig, queue_depth: usize, metrics: Arc<Metrics>) -> Engine {
        metrics.memory_bytes.set(loaded.info.weight_bytes as i64);
        Engine {
            loaded,
            config,
            metrics,
            queue: JobQueue::new(queue_depth),
            registry: Mutex::new(Registry::default()),
            abort: Arc::new(AtomicI32::new(0)),
            session_bytes: AtomicU64::new(0),
        }
    }

    pub fn submit(&self, job: Job) -> Result<(), SubmitError> {
        let mut reg = self.registry.lock().unwrap();
        if reg.active.contains_key(&job.spec.job_id) {
            return Err(SubmitError::Duplicate);
        }
        let id = job.spec.job_id.clone();
        match self.queue.push(job) {
            Ok(()) => {
                reg.active.insert(id, Arc::new(JobControl::default()));
                self.metrics.queue_depth.set(self.queue.len() as i64);
                Ok(())
            }
            Err((PushError::Full, _)) => Err(SubmitError::QueueFull),
            Err((PushError::Closed, _)) => Err(SubmitError::ShuttingDown),
        }
    }

    /// Cancels a queued or running job; unknown and finished ids are ignored (cancel is
    /// idempotent). A queued job gets its `CANCELLED` event here; a running one stops at the next
    /// layer boundary and the inference thread sends it.
    pub fn cancel(&self, job_id: &str) {
        let mut reg = self.registry.lock().unwrap();
        let Some(control) = reg.active.get(job_id).cloned() else { return };
        if control.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        self.metrics.cancellations.inc();
        if let Some(job) = self.queue.remove(job_id) {
            reg.active.remove(job_id);
            drop(reg);
            self.metrics.queue_depth.set(self.queue.len() as i64);
            self.metrics.outcome("cancelled");
            let _ = job.events.send(JobEvent::error(ErrorCode::Cancelled, "cancelled while queued"));
            tracing::info!(job_id, outcome = "cancelled", queued = true, "job");
        } else if reg.running.as_ref().is_some_and(|(id, _)| id == job_id) {
            self.abort.store(1, Ordering::SeqCst);
        }
    }

    /// Called periodically: aborts the running job once it passes its deadline.
    pub fn enforce_deadline(&self) {
        let reg = self.registry.lock().unwrap();
        if let Some((id, deadline)) = &reg.running {
            if Instant::now() >= *deadline {
                if let Some(c) = reg.active.get(id) {
                    if !c.timed_out.swap(true, Ordering::SeqCst) {
                        self.abort.store(1, Ordering::SeqCst);
                    }
                }
            }
        }
    }

    pub fn busy(&self) -> bool {
        self.registry.lock().unwrap().running.is_some()
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Bytes held for inference right now: the weights plus the running job's session.
    pub fn memory_bytes(&self) -> u64 {
        self.loaded.info.weight_bytes + self.session_bytes.load(Ordering::Relaxed)
    }

    /// Refuses new jobs and cancels the queued ones; the running job goes on.
    pub fn close(&self) {
        let left = self.queue.close();
        let mut reg = self.registry.lock().unwrap();
        for job in left {
            reg.active.remove(&job.spec.job_id);
            self.metrics.outcome("cancelled");
            self.metrics.cancellations.inc();
            let _ = job.events.send(JobEvent::error(ErrorCode::Cancelled, "the worker is shutting down"));
        }
        self.metrics.queue_depth.set(0);
    }

    /// Aborts whatever is running (shutdown deadline passed).
    pub fn abort_running(&self) {
        let reg = self.registry.lock().unwrap();
        if let Some((id, _)) = &reg.running {
            if let Some(c) = reg.active.get(id) {
                c.cancelled.store(true, Ordering::SeqCst);
            }
            self.abort.store(1, Ordering::SeqCst);
        }
    }

    /// The inference thread's loop: runs queued jobs one at a time until the queue is closed.
    pub fn run_inference_loop(&self) {
        while let Some(job) = self.queue.pop() {
            self.metrics.queue_depth.set(self.queue.len() as i64);
            let control = {
                let mut reg = self.registry.lock().unwrap();
                let control = reg.active.get(&job.spec.job_id).cloned().unwrap_or_default();
                reg.running = Some((job.spec.job_id.clone(), Instant::now() + self.config.inference_timeout));
                self.abort.store(0, Ordering::SeqCst);
                control
            };
            let id = job.spec.job_id.clone();
            generation::run_job(self, job, &control);
            let mut reg = self.registry.lock().unwrap();
            reg.running = None;
            reg.active.remove(&id);
            self.session_bytes.store(0, Ordering::Relaxed);
            self.metrics.memory_bytes.set(self.memory_bytes() as i64);
        }
    }

    fn abort_flag(&self) -> Arc<AtomicI32> {
        self.abort.clone()
    }

    fn set_session_bytes(&self, bytes: u64) {
        self.session_bytes.store(bytes, Ordering::Relaxed);
        self.metrics.memory_bytes.set(self.memory_bytes() as i64);
    }
}
