//! Continuous batching on the inference thread. Each step carries one decode row for every
//! running job that has a sampled token to evaluate, then chunks of pending prompts (oldest job
//! first) up to --batch-tokens rows, so a long prompt is prefilled over several steps while the
//! other jobs keep streaming. Jobs are admitted from the FIFO queue in order, up to --parallel at
//! once, and only when the KV pool can reserve room for prompt + max_tokens (shared prefix blocks
//! counted once): an admitted job never fails for lack of KV space, and one that waits blocks
//! those behind it. A job that ends frees its slot before the next step is built.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use super::generation::{rfc3339, Generation, Next};
use super::job::{ErrorCode, Job, JobEvent, StopReason};
use super::logprobs::token_logprobs;
use super::Engine;
use crate::ffi::{Backend, BatchRow, Context, CoreError, ErrorKind, RowOutcome, Sampler};

/// A job taken from the queue, tokenized, waiting for KV room.
struct Candidate {
    job: Job,
    prompt: Vec<i32>,
}

/// A job with a sequence in the context.
struct Running {
    job: Job,
    prompt: Vec<i32>,
    seq: i32,
    cached: usize,
    /// Positions in the KV cache (cached prefix + evaluated rows).
    evaluated: usize,
    /// The sampled token the next step evaluates (None while the prompt is being prefilled).
    pending: Option<i32>,
    sampler: Sampler,
    gen: Generation,
    admitted_at: Instant,
    first_sample_at: Option<Instant>,
}

/// How a job ended, for its terminal event, the metrics and its log line.
enum Outcome {
    End(StopReason),
    Failed(ErrorCode, String),
    /// Ended elsewhere (cancel, timeout, shutdown): the terminal event went out already.
    Stopped,
}

/// The rows one job has in the step being evaluated.
struct Share {
    job: usize,
    first_row: usize,
    n_rows: usize,
    /// The row whose logits are sampled (the last prompt token or the decoded token).
    sample_row: Option<usize>,
}

pub(super) struct Scheduler<'e, 'm> {
    engine: &'e Engine,
    ctx: Context<'m>,
    running: Vec<Running>,
    head: Option<Candidate>,
    rows: Vec<BatchRow>,
    shares: Vec<Share>,
}

impl<'e, 'm> Scheduler<'e, 'm> {
    pub(super) fn new(engine: &'e Engine, ctx: Context<'m>) -> Self {
        Scheduler { engine, ctx, running: Vec::new(), head: None, rows: Vec::new(), shares: Vec::new() }
    }

    /// Runs jobs until the queue is closed and every admitted job has ended.
    pub(super) fn run(mut self) {
        self.publish_state();
        loop {
            if !self.admit() && self.running.is_empty() {
                break;
            }
            self.publish_state();
            if !self.running.is_empty() {
                self.step();
                self.publish_state();
            }
        }
        self.publish_state();
    }

    /// Admits queued jobs while slots and KV room allow. Blocks when nothing runs. Returns false
    /// once the queue is closed and drained.
    fn admit(&mut self) -> bool {
        let engine = self.engine;
        while self.running.len() < engine.config.parallel {
            let cand = match self.head.take() {
                Some(c) => c,
                None => {
                    let job = if self.running.is_empty() { engine.queue.pop() } else { engine.queue.try_pop() };
                    match job {
                        Some(job) => Candidate { prompt: job.spec.prompt_tokens.clone(), job },
                        None => return !engine.queue.is_closed() || !self.running.is_empty(),
                    }
                }
            };
            let control = cand.job.control.clone();
            if control.stop_requested() || control.is_finished() {
                engine.forget(&cand.job.spec.job_id);
                continue;
            }
            if engine.queue.is_closed() {
                // Shutting down: a job that never started is cancelled, like the queued ones.
                engine.cancel_for_shutdown(&cand.job);
                continue;
            }
            let n_ctx = engine.config.n_ctx as usize;
            if cand.prompt.len() >= n_ctx {
                let message = format!("the prompt has {} tokens; the context holds {n_ctx}, leaving no room to generate", cand.prompt.len());
                self.refuse(cand, ErrorCode::ContextLengthExceeded, message);
                continue;
            }
            let reserve = (cand.prompt.len() + cand.job.spec.max_tokens as usize).min(n_ctx);
            // The last prompt token is always evaluated: its logits give the first token.
            let prefix = &cand.prompt[..cand.prompt.len() - 1];
            match self.ctx.add_sequence(prefix, reserve as i32) {
                Ok((seq, cached)) => self.start(cand, seq, cached as usize),
                Err(e) if e.kind == ErrorKind::NoKvSpace && !self.running.is_empty() => {
                    self.head = Some(cand);
                    return true;
                }
                Err(e) => {
                    let code = match e.kind {
                        ErrorKind::ContextFull | ErrorKind::NoKvSpace => ErrorCode::ContextLengthExceeded,
                        _ => error_code(engine, &e),
                    };
                    let message = match code {
                        ErrorCode::ContextLengthExceeded => format!("the job can never fit the KV cache: {}", e.message),
                        _ => format!("admitting the job: {e}"),
                    };
                    self.refuse(cand, code, message);
                }
            }
        }
        true
    }

    fn started_event(&self, cand: &Candidate) -> JobEvent {
        JobEvent::Started {
            started_at: rfc3339(SystemTime::now()),
            seed: cand.job.spec.sampling.seed,
            prompt_tokens: cand.prompt.len() as u32,
        }
    }

    /// A job that cannot run: `started`, then its error.
    fn refuse(&self, cand: Candidate, code: ErrorCode, message: String) {
        if !cand.prompt.is_empty() {
            cand.job.control.send(self.started_event(&cand));
        }
        let now = Instant::now();
        self.engine.end_job(&cand.job, Outcome::Failed(code, message).terminal(0, 0.0, 0.0, 0), &JobLog {
            prompt_tokens: cand.prompt.len(),
            cached: 0,
            tokens_out: 0,
            prefill_ms: 0.0,
            decode_ms: 0.0,
            started: now,
        });
    }

    fn start(&mut self, cand: Candidate, seq: i32, cached: usize) {
        let engine = self.engine;
        let control = cand.job.control.clone();
        let mut setup = || -> crate::ffi::Result<Sampler> {
            self.ctx.set_abort(seq, control.abort.clone())?;
            if engine.config.logit_log.is_some() {
                self.ctx.set_log_tag(seq, &cand.job.spec.job_id)?;
            }
            let mut sampler = Sampler::new(cand.job.spec.sampling, self.ctx.n_vocab())?;
            if !cand.job.spec.logit_bias.is_empty() {
                sampler.set_logit_bias(&cand.job.spec.logit_bias)?;
            }
            for &t in &cand.prompt {
                sampler.accept(t)?;
            }
            Ok(sampler)
        };
        let sampler = match setup() {
            Ok(s) => s,
            Err(e) => {
                let _ = self.ctx.remove_sequence(seq);
                let code = error_code(engine, &e);
                self.refuse(cand, code, format!("starting the job: {e}"));
                return;
            }
        };
        let now = Instant::now();
        control.set_deadline(now + engine.config.inference_timeout);
        let m = &engine.metrics;
        m.prompt_tokens.inc_by(cand.prompt.len() as u64);
        if engine.config.prefix_cache {
            m.prefix_cache_queries.inc_by(cand.prompt.len() as u64);
            m.prefix_cache_hits.inc_by(cached as u64);
        }
        control.send(self.started_event(&cand));
        let gen = Generation::new(cand.job.spec.stop.clone(), cand.job.spec.max_tokens);
        self.running.push(Running {
            job: cand.job,
            prompt: cand.prompt,
            seq,
            cached,
            evaluated: cached,
            pending: None,
            sampler,
            gen,
            admitted_at: now,
            first_sample_at: None,
        });
    }

    /// One step: build the rows, evaluate, then sample and stream for every job that asked.
    fn step(&mut self) {
        // Jobs ended meanwhile (cancel, timeout, client gone) leave before the step is built.
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].job.control.stop_requested() || self.running[i].job.control.is_finished() {
                self.finish(i, Outcome::Stopped);
            } else {
                i += 1;
            }
        }
        if self.running.is_empty() {
            return;
        }
        self.build_rows();
        let result = self.ctx.decode(&self.rows);
        self.engine.metrics.batch_rows.observe(self.rows.len() as f64);
        let outcomes = match result {
            Ok(o) => o,
            Err(e) => {
                // Nothing was evaluated: every job of the step fails (the worker goes on).
                let code = error_code(self.engine, &e);
                let mut jobs: Vec<usize> = self.shares.iter().map(|s| s.job).collect();
                jobs.sort_unstable();
                jobs.dedup();
                // Last first, so the indices of the others stay valid.
                for &j in jobs.iter().rev() {
                    self.finish(j, Outcome::Failed(code, format!("evaluating the step: {e}")));
                }
                return;
            }
        };
        // Results in job order; jobs that end are removed afterwards, last first.
        let mut ended: Vec<(usize, Outcome)> = Vec::new();
        let shares = std::mem::take(&mut self.shares);
        for share in &shares {
            if outcomes[share.first_row] == RowOutcome::Aborted {
                ended.push((share.job, Outcome::Stopped));
                continue;
            }
            self.running[share.job].evaluated += share.n_rows;
            if let Some(row) = share.sample_row {
                if let Some(outcome) = self.sample(share.job, row) {
                    ended.push((share.job, outcome));
                }
            }
        }
        self.shares = shares;
        ended.sort_by_key(|(j, _)| std::cmp::Reverse(*j));
        for (j, outcome) in ended {
            self.finish(j, outcome);
        }
    }

    fn build_rows(&mut self) {
        self.rows.clear();
        self.shares.clear();
        for (j, r) in self.running.iter().enumerate() {
            if let Some(token) = r.pending {
                self.shares.push(Share { job: j, first_row: self.rows.len(), n_rows: 1, sample_row: Some(self.rows.len()) });
                self.rows.push(BatchRow { token, pos: r.evaluated as i32, seq: r.seq, logits: true });
            }
        }
        let mut budget = self.engine.config.batch_tokens.saturating_sub(self.rows.len());
        for (j, r) in self.running.iter().enumerate() {
            if budget == 0 {
                break;
            }
            if r.pending.is_some() || r.evaluated >= r.prompt.len() {
                continue;
            }
            let take = budget.min(r.prompt.len() - r.evaluated);
            let first_row = self.rows.len();
            for k in 0..take {
                let pos = r.evaluated + k;
                self.rows.push(BatchRow { token: r.prompt[pos], pos: pos as i32, seq: r.seq, logits: pos + 1 == r.prompt.len() });
            }
            let last = r.evaluated + take == r.prompt.len();
            self.shares.push(Share { job: j, first_row, n_rows: take, sample_row: last.then_some(first_row + take - 1) });
            budget -= take;
        }
    }

    /// Samples job `j`'s next token from `row` and streams it; Some(outcome) when the job ends.
    fn sample(&mut self, j: usize, row: usize) -> Option<Outcome> {
        let engine = self.engine;
        let r = &mut self.running[j];
        let token = match self.ctx.sample(row, &mut r.sampler) {
            Ok(t) => t,
            Err(e) => return Some(Outcome::Failed(ErrorCode::Internal, format!("sampling: {e}"))),
        };
        let now = Instant::now();
        r.first_sample_at.get_or_insert(now);
        let before = r.gen.tokens_out;
        // Sampling leaves the row's logits as the core computed them.
        let logprobs = match r.job.spec.logprobs {
            None => None,
            Some(top_n) => match self.ctx.logits(row) {
                Ok(logits) => Some(token_logprobs(logits, token as u32, top_n as usize)),
                Err(e) => return Some(Outcome::Failed(ErrorCode::Internal, format!("reading logits: {e}"))),
            },
        };
        let next = match r.gen.push(token as u32, logprobs, &engine.loaded.tokenizer, &r.job.control) {
            Ok(n) => n,
            Err(_) => return Some(Outcome::Stopped),
        };
        if r.gen.tokens_out > before {
            engine.metrics.generated_tokens.inc();
            if before == 0 {
                engine.metrics.first_token(r.job.control.endpoint, r.job.control.accepted_at.elapsed().as_secs_f64());
            }
            if let Err(e) = r.sampler.accept_output(token) {
                return Some(Outcome::Failed(ErrorCode::Internal, format!("sampler history: {e}")));
            }
        }
        match next {
            Next::Done(reason) => Some(Outcome::End(reason)),
            Next::Continue if r.evaluated >= engine.config.n_ctx as usize => Some(Outcome::Failed(
                ErrorCode::ContextLengthExceeded,
                format!("generation reached the context size ({} tokens) after {} tokens", engine.config.n_ctx, r.gen.tokens_out),
            )),
            Next::Continue => {
                r.pending = Some(token);
                None
            }
        }
    }

    /// Ends running job `j`: its terminal event (unless one went out already), its sequence out
    /// of the context (full blocks stay cached), metrics and log line.
    fn finish(&mut self, j: usize, outcome: Outcome) {
        let mut r = self.running.remove(j);
        let _ = self.ctx.remove_sequence(r.seq);
        // The gauges first: a client that has read the terminal event must not find the job running.
        self.publish_state();
        let now = Instant::now();
        let first = r.first_sample_at.unwrap_or(now);
        let prefill_ms = ms(first.duration_since(r.admitted_at));
        let decode_ms = if r.first_sample_at.is_some() { ms(now.duration_since(first)) } else { 0.0 };
        let outcome = match outcome {
            Outcome::End(reason) => match r.gen.flush(reason, &r.job.control) {
                Ok(()) => Outcome::End(reason),
                Err(_) => Outcome::Stopped,
            },
            other => other,
        };
        let log = JobLog { prompt_tokens: r.prompt.len(), cached: r.cached, tokens_out: r.gen.tokens_out, prefill_ms, decode_ms, started: r.admitted_at };
        let terminal = match outcome {
            Outcome::Stopped => {
                // Cancelled, timed out or the client went away: if no terminal event went out yet
                // (shutdown aborted it, or the client vanished), it goes out now.
                let code = if r.job.control.timed_out.load(Ordering::SeqCst) { ErrorCode::InferenceTimeout } else { ErrorCode::Cancelled };
                let message = if r.job.control.stalled.load(Ordering::SeqCst) {
                    STALLED_CLIENT_MESSAGE.to_string()
                } else {
                    stop_message(self.engine, code)
                };
                Outcome::Failed(code, message).terminal(0, 0.0, 0.0, 0)
            }
            o => o.terminal(r.gen.tokens_out, prefill_ms, decode_ms, r.cached as u32),
        };
        self.engine.end_job(&r.job, terminal, &log);
    }

    fn publish_state(&self) {
        let stats = self.ctx.kv_stats();
        self.engine.publish(self.running.len(), self.head.is_some() as usize, &stats);
    }
}

impl Outcome {
    fn terminal(self, tokens_out: u32, prefill_ms: f64, decode_ms: f64, cached: u32) -> JobEvent {
        match self {
            Outcome::End(stop_reason) => {
                let decode_s = decode_ms / 1000.0;
                let tps = if decode_s > 0.0 { tokens_out as f64 / decode_s } else { 0.0 };
                JobEvent::End {
                    tokens_out,
                    stop_reason,
                    prefill_ms: round3(prefill_ms),
                    decode_ms: round3(decode_ms),
                    decode_tokens_per_s: round3(tps),
                    cached_prompt_tokens: cached,
                }
            }
            Outcome::Failed(code, message) => JobEvent::error(code, message),
            Outcome::Stopped => JobEvent::error(ErrorCode::Cancelled, "cancelled"),
        }
    }
}

/// What the job's log line reports.
pub(super) struct JobLog {
    pub prompt_tokens: usize,
    pub cached: usize,
    pub tokens_out: u32,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub started: Instant,
}

/// The CANCELLED message of a job stopped because its client has MAX_UNREAD_EVENTS unread.
pub const STALLED_CLIENT_MESSAGE: &str = "the client is not reading its stream";

pub(super) fn stop_message(engine: &Engine, code: ErrorCode) -> String {
    match code {
        ErrorCode::InferenceTimeout => {
            format!("the job ran past --inference-timeout-sec ({} s)", engine.config.inference_timeout.as_secs())
        }
        _ => "cancelled".to_string(),
    }
}

/// The job's error code for a core failure.
fn error_code(engine: &Engine, e: &CoreError) -> ErrorCode {
    match e.kind {
        ErrorKind::ContextFull => ErrorCode::ContextLengthExceeded,
        ErrorKind::OutOfMemory => match engine.loaded.info.backend {
            Backend::Cuda { .. } => ErrorCode::VramOom,
            Backend::Cpu => ErrorCode::OutOfMemory,
        },
        _ => ErrorCode::Internal,
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
