//! One job on the inference thread: tokenize, prefill, then sample and decode token by token,
//! streaming events, until end-of-generation, a stop sequence, max_tokens, cancellation, the
//! deadline, or an error. The session (KV cache) lives exactly as long as the job.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use super::job::{ErrorCode, Job, JobEvent, StopReason};
use super::stop::{StopMatcher, StopOutcome};
use super::{Engine, JobControl};
use crate::ffi::{Backend, CoreError, ErrorKind, Sampler, Session, SessionParams};
use crate::utf8_stream::Utf8Stream;

/// How a job ended, for metrics and the job's log line.
enum Outcome {
    End { tokens_out: u32, reason: StopReason },
    Failed { code: ErrorCode, message: String },
}

struct Timings {
    prefill_ms: f64,
    decode_ms: f64,
    first_token_at: Option<Instant>,
}

pub fn run_job(engine: &Engine, job: Job, control: &JobControl) {
    let started = Instant::now();
    let mut timings = Timings { prefill_ms: 0.0, decode_ms: 0.0, first_token_at: None };
    let mut prompt_tokens = 0u32;
    let outcome = generate(engine, &job, control, &mut timings, &mut prompt_tokens);
    let m = &engine.metrics;
    let (label, terminal) = match &outcome {
        Outcome::End { tokens_out, reason } => {
            let decode_s = timings.decode_ms / 1000.0;
            let tps = if decode_s > 0.0 { *tokens_out as f64 / decode_s } else { 0.0 };
            (
                "completed".to_string(),
                JobEvent::End {
                    tokens_out: *tokens_out,
                    stop_reason: *reason,
                    prefill_ms: round3(timings.prefill_ms),
                    decode_ms: round3(timings.decode_ms),
                    decode_tokens_per_s: round3(tps),
                },
            )
        }
        Outcome::Failed { code, message } => (code.as_str().to_ascii_lowercase(), JobEvent::error(*code, message.clone())),
    };
    // Metrics first: a client that has read the terminal event must find the job counted.
    m.outcome(&label);
    m.request_duration.observe(job.accepted_at.elapsed().as_secs_f64());
    if let Some(t) = timings.first_token_at {
        m.time_to_first_token.observe(t.duration_since(job.accepted_at).as_secs_f64());
    }
    let _ = job.events.send(terminal);
    let tokens_out = match &outcome {
        Outcome::End { tokens_out, .. } => *tokens_out,
        Outcome::Failed { .. } => 0,
    };
    let error = match &outcome {
        Outcome::Failed { message, .. } => message.as_str(),
        Outcome::End { .. } => "",
    };
    if engine.config.log_prompts {
        tracing::info!(job_id = %job.spec.job_id, outcome = %label, prompt_tokens, tokens_out,
            prefill_ms = round3(timings.prefill_ms), decode_ms = round3(timings.decode_ms),
            total_ms = round3(started.elapsed().as_secs_f64() * 1000.0), error, prompt = %job.spec.prompt, "job");
    } else {
        tracing::info!(job_id = %job.spec.job_id, outcome = %label, prompt_tokens, tokens_out,
            prefill_ms = round3(timings.prefill_ms), decode_ms = round3(timings.decode_ms),
            total_ms = round3(started.elapsed().as_secs_f64() * 1000.0), error, "job");
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Maps a core failure to the job's error event, telling an abort by cancel from one by timeout.
fn failure(engine: &Engine, control: &JobControl, e: CoreError, what: &str) -> Outcome {
    let code = match e.kind {
        ErrorKind::Aborted if control.timed_out.load(Ordering::SeqCst) => ErrorCode::InferenceTimeout,
        ErrorKind::Aborted => ErrorCode::Cancelled,
        ErrorKind::ContextFull => ErrorCode::ContextLengthExceeded,
        ErrorKind::OutOfMemory => match engine.loaded.info.backend {
            Backend::Cuda { .. } => ErrorCode::VramOom,
            Backend::Cpu => ErrorCode::OutOfMemory,
        },
        _ => ErrorCode::Internal,
    };
    let message = match code {
        ErrorCode::Cancelled => "cancelled".to_string(),
        ErrorCode::InferenceTimeout => format!("the job ran past --inference-timeout-sec ({} s)", engine.config.inference_timeout.as_secs()),
        _ => format!("{what}: {e}"),
    };
    Outcome::Failed { code, message }
}

/// Checked between tokens: a cancel or timeout that arrived outside an evaluation.
fn interrupted(engine: &Engine, control: &JobControl) -> Option<Outcome> {
    if control.timed_out.load(Ordering::SeqCst) {
        return Some(failure(engine, control, CoreError { kind: ErrorKind::Aborted, message: String::new() }, ""));
    }
    if control.cancelled.load(Ordering::SeqCst) {
        return Some(Outcome::Failed { code: ErrorCode::Cancelled, message: "cancelled".into() });
    }
    None
}

fn generate(engine: &Engine, job: &Job, control: &JobControl, timings: &mut Timings, prompt_tokens: &mut u32) -> Outcome {
    if let Some(o) = interrupted(engine, control) {
        return o;
    }
    let loaded = &engine.loaded;
    let spec = &job.spec;
    let prompt: Vec<i32> = match loaded.tokenizer.encode(&spec.prompt, true) {
        Ok(ids) => ids.into_iter().map(|t| t as i32).collect(),
        Err(e) => return Outcome::Failed { code: ErrorCode::Internal, message: format!("tokenizing the prompt: {e}") },
    };
    *prompt_tokens = prompt.len() as u32;
    engine.metrics.prompt_tokens.inc_by(prompt.len() as u64);
    let started = JobEvent::Started {
        job_id: spec.job_id.clone(),
        model: loaded.name.clone(),
        started_at: rfc3339(SystemTime::now()),
        seed: spec.sampling.seed,
        prompt_tokens: prompt.len() as u32,
    };
    if job.events.send(started).is_err() {
        return Outcome::Failed { code: ErrorCode::Cancelled, message: "the client went away".into() };
    }
    let n_ctx = engine.config.n_ctx as usize;
    if prompt.len() >= n_ctx {
        return Outcome::Failed {
            code: ErrorCode::ContextLengthExceeded,
            message: format!("the prompt has {} tokens; the context holds {n_ctx}, leaving no room to generate", prompt.len()),
        };
    }
    // The KV cache is sized for this job only: prompt + max_tokens, at most the context.
    let job_ctx = (prompt.len() + spec.max_tokens as usize).min(n_ctx);
    let params = SessionParams {
        n_ctx: job_ctx as i32,
        abort_flag: Some(engine.abort_flag()),
        logit_log: engine.config.logit_log.clone(),
        ..Default::default()
    };
    let mut session = match Session::new(&loaded.model, params) {
        Ok(s) => s,
        Err(e) => return failure(engine, control, e, "creating the session"),
    };
    engine.set_session_bytes(session.memory_bytes());
    if engine.config.logit_log.is_some() {
        if let Err(e) = session.set_log_tag(&spec.job_id) {
            return failure(engine, control, e, "tagging the logit log");
        }
    }
    let mut sampler = match Sampler::new(spec.sampling, session.n_vocab()) {
        Ok(s) => s,
        Err(e) => return failure(engine, control, e, "creating the sampler"),
    };
    for &t in &prompt {
        if let Err(e) = sampler.accept(t) {
            return failure(engine, control, e, "sampler history");
        }
    }

    let t0 = Instant::now();
    let mut logits = match session.prefill(&prompt) {
        Ok(l) => l,
        Err(e) => return failure(engine, control, e, "prefill"),
    };
    timings.prefill_ms = t0.elapsed().as_secs_f64() * 1000.0;

    let eog = loaded.tokenizer.eog_ids();
    let mut text = Utf8Stream::new();
    let mut stops = StopMatcher::new(spec.stop.clone());
    // A token event is held back only while its text may still change (part of a stop sequence
    // or of a UTF-8 character); at the end the held text joins it.
    let mut deferred: Option<(String, u32, u32)> = None;
    let send = |e: JobEvent| job.events.send(e).is_ok();
    let decode_start = Instant::now();
    let mut tokens_out = 0u32;
    let mut reason = StopReason::MaxTokens;
    loop {
        if let Some(o) = interrupted(engine, control) {
            return o;
        }
        let token = match sampler.sample(&logits) {
            Ok(t) => t,
            Err(e) => return failure(engine, control, e, "sampling"),
        };
        if eog.contains(&(token as u32)) {
            reason = StopReason::Eos;
            break;
        }
        if let Err(e) = sampler.accept(token) {
            return failure(engine, control, e, "sampler history");
        }
        let piece = text.push(&loaded.tokenizer.token_bytes(token as u32));
        let (released, stopped) = match stops.push(&piece) {
            StopOutcome::Continue(t) => (t, false),
            StopOutcome::Stopped(t) => (t, true),
        };
        if let Some((t, i, id)) = deferred.take() {
            if !send(JobEvent::Token { t, i, id }) {
                return Outcome::Failed { code: ErrorCode::Cancelled, message: "the client went away".into() };
            }
        }
        let event = (released, tokens_out, token as u32);
        tokens_out += 1;
        engine.metrics.generated_tokens.inc();
        if timings.first_token_at.is_none() {
            timings.first_token_at = Some(Instant::now());
        }
        if stopped {
            reason = StopReason::StopSequence;
            deferred = Some(event);
            break;
        }
        if text.has_pending() || stops.is_holding() {
            deferred = Some(event);
        } else if !send(JobEvent::Token { t: event.0, i: event.1, id: event.2 }) {
            return Outcome::Failed { code: ErrorCode::Cancelled, message: "the client went away".into() };
        }
        if tokens_out >= spec.max_tokens {
            break;
        }
        if session.n_past() as usize >= n_ctx {
            return Outcome::Failed {
                code: ErrorCode::ContextLengthExceeded,
                message: format!("generation reached the context size ({n_ctx} tokens) after {tokens_out} tokens"),
            };
        }
        if let Err(e) = session.decode_into(token, &mut logits) {
            return failure(engine, control, e, "decode");
        }
    }
    timings.decode_ms = decode_start.elapsed().as_secs_f64() * 1000.0;
    if reason != StopReason::StopSequence {
        // Held-back text is final now: a partial stop sequence is just text. The bytes of a
        // character the generation stopped in the middle of are dropped: they are not text.
        drop(text);
        let rest = stops.finish();
        if let Some(d) = deferred.as_mut() {
            d.0.push_str(&rest);
        }
    }
    if let Some((t, i, id)) = deferred.take() {
        if !send(JobEvent::Token { t, i, id }) {
            return Outcome::Failed { code: ErrorCode::Cancelled, message: "the client went away".into() };
        }
    }
    Outcome::End { tokens_out, reason }
}

/// UTC time as RFC 3339 with milliseconds ("2026-11-24T13:05:09.123Z").
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::civil_date::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, SystemTime};

    #[test]
    fn rfc3339_known_instants() {
        let at = |s: u64, ms: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_525_509, 123), "2026-11-24T13:05:09.123Z");
    }
}
