//! The job engine: a bounded queue in front of one inference thread that runs up to --parallel
//! jobs together on one context (continuous batching, scheduler.rs). HTTP handlers submit and
//! cancel from the async runtime and never block on inference; events travel back on an unbounded
//! channel, so a slow client never stalls the inference thread, and a dropped client is noticed
//! at its next event. A cancel or a timeout ends the job's stream at once (the job's rows leave
//! the step in flight at the next layer boundary, and its sequence at the end of that step).

pub mod event;
pub mod events;
pub mod generation;
pub mod job;
pub mod logprobs;
pub mod queue;
mod scheduler;
pub mod stop;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};


use crate::chat::ChatSupport;
use crate::ffi::{Context, ContextParams, KvStats, Model, ModelInfo};
use crate::metrics::Metrics;
use crate::tokenizer::Tokenizer;
use events::EventSender;
use job::{ErrorCode, Job, JobControl, JobEvent, JobSpec};
use queue::{JobQueue, PushError};
use scheduler::{JobLog, Scheduler};

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
    /// Positions one job may reach (--ctx-size).
    pub n_ctx: u32,
    /// Jobs running together (--parallel).
    pub parallel: usize,
    /// Rows per step (--batch-tokens).
    pub batch_tokens: usize,
    /// The KV pool in positions (--kv-cache-tokens, or what the start-up sizing chose).
    pub kv_cache_tokens: u32,
    /// What was asked for (--kv-cache-tokens, or --parallel full contexts) before memory reduced it.
    pub kv_cache_tokens_wanted: u64,
    pub prefix_cache: bool,
    pub inference_timeout: Duration,
    pub logit_log: Option<PathBuf>,
    pub log_prompts: bool,
}

pub enum SubmitError {
    Duplicate,
    QueueFull,
    ShuttingDown,
}

/// What the inference thread last published for /health and /metrics.
#[derive(Default)]
struct Published {
    running: AtomicUsize,
    /// A job taken from the queue that waits for KV room (still "waiting").
    held: AtomicUsize,
    kv_tokens_total: AtomicU64,
    kv_tokens_used: AtomicU64,
    context_bytes: AtomicU64,
}

pub struct Engine {
    pub loaded: Arc<LoadedModel>,
    pub config: EngineConfig,
    pub metrics: Arc<Metrics>,
    queue: JobQueue,
    /// Every job queued or running, by id (duplicate ids are refused).
    registry: Mutex<HashMap<String, Arc<JobControl>>>,
    published: Published,
}

impl Engine {
    pub fn new(loaded: Arc<LoadedModel>, config: EngineConfig, queue_depth: usize, metrics: Arc<Metrics>) -> Engine {
        metrics.memory_bytes.set(loaded.info.weight_bytes as i64);
        Engine { loaded, config, metrics, queue: JobQueue::new(queue_depth), registry: Mutex::new(HashMap::new()), published: Published::default() }
    }

    pub fn context_params(&self) -> ContextParams {
        ContextParams {
            n_seq_max: self.config.parallel as i32,
            n_ctx: self.config.n_ctx as i32,
            kv_cache_tokens: self.config.kv_cache_tokens as i32,
            n_batch: self.config.batch_tokens as i32,
            prefix_cache: self.config.prefix_cache,
            logit_log: self.config.logit_log.clone(),
            logit_log_top_k: 20,
        }
    }

    /// The context the inference thread runs every job on (KV pool and scratch, allocated once).
    pub fn new_context(&self) -> crate::ffi::Result<Context<'_>> {
        let ctx = Context::new(&self.loaded.model, &self.context_params())?;
        self.published.context_bytes.store(ctx.memory_bytes(), Ordering::Relaxed);
        self.metrics.memory_bytes.set(self.memory_bytes() as i64);
        Ok(ctx)
    }

    pub fn submit(&self, spec: JobSpec, events: EventSender) -> Result<(), SubmitError> {
        let mut reg = self.registry.lock().unwrap();
        if reg.contains_key(&spec.job_id) {
            return Err(SubmitError::Duplicate);
        }
        let id = spec.job_id.clone();
        let control = Arc::new(JobControl::new(events, spec.endpoint));
        match self.queue.push(Job { spec, control: control.clone() }) {
            Ok(()) => {
                reg.insert(id, control);
                self.metrics.queue_depth.set(self.queue.len() as i64);
                self.metrics.requests_waiting.set(self.queued() as i64);
                Ok(())
            }
            Err((PushError::Full, _)) => Err(SubmitError::QueueFull),
            Err((PushError::Closed, _)) => Err(SubmitError::ShuttingDown),
        }
    }

    /// Cancels a queued or running job; unknown and finished ids are ignored (cancel is
    /// idempotent). The job's stream gets `CANCELLED` at once.
    pub fn cancel(&self, job_id: &str) {
        let Some(control) = self.registry.lock().unwrap().get(job_id).cloned() else { return };
        if control.stop_requested() || control.is_finished() {
            return;
        }
        control.request_stop(false);
        let queued = self.queue.remove(job_id).is_some();
        if queued {
            self.forget(job_id);
            self.metrics.queue_depth.set(self.queue.len() as i64);
            self.metrics.requests_waiting.set(self.queued() as i64);
        }
        let message = if queued { "cancelled while queued" } else { "cancelled" };
        let ended = control.finish(JobEvent::error(ErrorCode::Cancelled, message), || self.count_end(&control, "cancelled"));
        if ended {
            self.metrics.cancellations.inc();
            if queued {
                tracing::info!(job_id, outcome = "cancelled", queued = true, "job");
            }
        }
    }

    /// Called periodically: ends running jobs past their deadline with INFERENCE_TIMEOUT.
    pub fn enforce_deadline(&self) {
        let now = Instant::now();
        let late: Vec<Arc<JobControl>> =
            self.registry.lock().unwrap().values().filter(|c| !c.stop_requested() && c.past_deadline(now)).cloned().collect();
        for control in late {
            control.request_stop(true);
            let message = scheduler::stop_message(self, ErrorCode::InferenceTimeout);
            control.finish(JobEvent::error(ErrorCode::InferenceTimeout, message), || self.count_end(&control, "inference_timeout"));
        }
    }

    /// A job is running (admitted to the context).
    pub fn busy(&self) -> bool {
        self.running() > 0
    }

    pub fn running(&self) -> usize {
        self.published.running.load(Ordering::Relaxed)
    }

    /// Jobs waiting: in the queue, or taken from it and waiting for KV room.
    pub fn queued(&self) -> usize {
        self.queue.len() + self.published.held.load(Ordering::Relaxed)
    }

    pub fn kv_tokens(&self) -> (u64, u64) {
        (self.published.kv_tokens_total.load(Ordering::Relaxed), self.published.kv_tokens_used.load(Ordering::Relaxed))
    }

    /// Bytes held for inference: the weights plus the context (KV pool and scratch).
    pub fn memory_bytes(&self) -> u64 {
        self.loaded.info.weight_bytes + self.published.context_bytes.load(Ordering::Relaxed)
    }

    /// Refuses new jobs and cancels the queued ones; running jobs go on.
    pub fn close(&self) {
        for job in self.queue.close() {
            self.cancel_for_shutdown(&job);
        }
        self.metrics.queue_depth.set(0);
    }

    /// Ends every admitted job (shutdown deadline passed).
    pub fn abort_running(&self) {
        let all: Vec<Arc<JobControl>> = self.registry.lock().unwrap().values().cloned().collect();
        for control in all {
            control.request_stop(false);
            let ended = control.finish(JobEvent::error(ErrorCode::Cancelled, "the worker is shutting down"), || {
                self.count_end(&control, "cancelled")
            });
            if ended {
                self.metrics.cancellations.inc();
            }
        }
    }

    /// The inference thread's loop: runs jobs on `ctx` until the queue is closed and drained.
    pub fn run(&self, ctx: Context<'_>) {
        Scheduler::new(self, ctx).run();
    }

    fn cancel_for_shutdown(&self, job: &Job) {
        self.forget(&job.spec.job_id);
        job.control.request_stop(false);
        let ended = job.control.finish(JobEvent::error(ErrorCode::Cancelled, "the worker is shutting down"), || {
            self.count_end(&job.control, "cancelled")
        });
        if ended {
            self.metrics.cancellations.inc();
        }
    }

    fn forget(&self, job_id: &str) {
        self.registry.lock().unwrap().remove(job_id);
    }

    /// Metrics of a job's end, counted before its terminal event goes out (a client that saw
    /// the event must find the job counted).
    fn count_end(&self, control: &JobControl, label: &str) {
        self.metrics.outcome(control.endpoint, label);
        self.metrics.request_duration.observe(control.accepted_at.elapsed().as_secs_f64());
    }

    /// Ends a job from the inference thread: its terminal event (unless a cancel or timeout sent
    /// one already), out of the registry, and its log line.
    fn end_job(&self, job: &Job, terminal: JobEvent, log: &JobLog) {
        let label = match &terminal {
            JobEvent::End { .. } => "completed".to_string(),
            JobEvent::Error { code, .. } => code.as_str().to_ascii_lowercase(),
            _ => unreachable!("end_job takes a terminal event"),
        };
        let error = match &terminal {
            JobEvent::Error { message, .. } => message.clone(),
            _ => String::new(),
        };
        job.control.finish(terminal, || self.count_end(&job.control, &label));
        self.forget(&job.spec.job_id);
        let spec = &job.spec;
        let total_ms = scheduler::round3(log.started.elapsed().as_secs_f64() * 1000.0);
        let (prefill_ms, decode_ms) = (scheduler::round3(log.prefill_ms), scheduler::round3(log.decode_ms));
        if self.config.log_prompts {
            tracing::info!(job_id = %spec.job_id, outcome = %label, prompt_tokens = log.prompt_tokens, cached_prompt_tokens = log.cached,
                tokens_out = log.tokens_out, prefill_ms, decode_ms, total_ms, error, prompt = %spec.prompt, "job");
        } else {
            tracing::info!(job_id = %spec.job_id, outcome = %label, prompt_tokens = log.prompt_tokens, cached_prompt_tokens = log.cached,
                tokens_out = log.tokens_out, prefill_ms, decode_ms, total_ms, error, "job");
        }
    }

    /// The inference thread's view after each step, for /health and the gauges.
    fn publish(&self, running: usize, held: usize, kv: &KvStats) {
        let p = &self.published;
        p.running.store(running, Ordering::Relaxed);
        p.held.store(held, Ordering::Relaxed);
        let block = kv.block_tokens.max(0) as u64;
        p.kv_tokens_total.store(kv.blocks_total.max(0) as u64 * block, Ordering::Relaxed);
        p.kv_tokens_used.store(kv.blocks_referenced.max(0) as u64 * block, Ordering::Relaxed);
        let m = &self.metrics;
        m.requests_running.set(running as i64);
        m.requests_waiting.set(self.queued() as i64);
        m.queue_depth.set(self.queue.len() as i64);
        let ratio = if kv.blocks_total > 0 { kv.blocks_referenced as f64 / kv.blocks_total as f64 } else { 0.0 };
        m.kv_cache_usage_ratio.set(ratio);
    }
}
