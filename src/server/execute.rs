//! POST /execute: parse, admit, queue, and encode the job's events as the orchestrator's SSE
//! (.specs/http-api.md). Keep-alive comments flow while the job waits. If the client goes away
//! before the terminal event, dropping the stream cancels the job, queued or running.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::json;

use super::error::ApiError;
use super::job_handle::JobHandle;
use super::request::{self, Limits};
use super::submit::{submit, SubmitFailure};
use super::{AppState, Phase};
use crate::admission::Refusal;
use crate::engine::generation::rfc3339;
use crate::engine::job::{Endpoint, ErrorCode, JobEvent};
use crate::engine::SubmitError;

pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

pub async fn execute(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    match accept(&state, &headers, body).await {
        Ok(stream) => Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response(),
        Err((outcome, e)) => {
            state.metrics.outcome(Endpoint::Execute, outcome);
            e.into_response()
        }
    }
}

async fn accept(state: &AppState, headers: &HeaderMap, body: Body) -> Result<ExecuteStream, (&'static str, ApiError)> {
    // The body is read (or drained) before any answer, so a refusal never leaves a request half read: hyper
    // would then close the connection without `Connection: close` and a pooling client's next request fails.
    let read = super::body::read_body(headers, body, state.body_timeout).await;
    if state.is_shutting_down() {
        return Err(("rejected_shutting_down", ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "the worker is shutting down")));
    }
    let bytes = read.map_err(|e| (if e.status == StatusCode::REQUEST_TIMEOUT { "rejected_timeout" } else { "rejected_too_large" }, e))?;
    let Some(engine) = state.engine.get().filter(|_| state.phase() == Phase::Healthy) else {
        let e = match state.phase() {
            Phase::Loading => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "MODEL_LOADING", "the model is still loading; see GET /health").retry_after(2),
            _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNHEALTHY", "the worker is unhealthy; see GET /health"),
        };
        return Err(("rejected_not_ready", e));
    };
    let limits = Limits { max_tokens: state.max_tokens_out, vocab_size: engine.loaded.info.n_vocab as u32 };
    let req = request::parse(&bytes, &limits).map_err(|e| ("rejected_invalid", e))?;
    let job_id = req.job_id.clone();
    let model = engine.loaded.name.clone();
    match submit(engine, state.max_tokens_out, req).await {
        Ok((handle, _)) => Ok(ExecuteStream { job_id, model, pending: VecDeque::new(), handle: Some(handle) }),
        Err(SubmitFailure::Refused { refusal, seed }) => {
            // The contract reports a job that can never fit in its stream, after `started`; an
            // untokenizable prompt as INTERNAL without `started`.
            let (events, code) = match refusal {
                Refusal::Invalid { field, message } => return Err(("rejected_invalid", ApiError::invalid(field, message))),
                Refusal::ContextLengthExceeded { message, prompt_tokens, .. } => (
                    vec![
                        JobEvent::Started { started_at: rfc3339(SystemTime::now()), seed, prompt_tokens },
                        JobEvent::error(ErrorCode::ContextLengthExceeded, message),
                    ],
                    ErrorCode::ContextLengthExceeded,
                ),
                Refusal::Tokenizer(message) => (vec![JobEvent::error(ErrorCode::Internal, message)], ErrorCode::Internal),
            };
            let label = code.as_str().to_ascii_lowercase();
            state.metrics.outcome(Endpoint::Execute, &label);
            tracing::info!(job_id, outcome = %label, tokens_out = 0, "job");
            Ok(ExecuteStream { job_id, model, pending: events.into(), handle: None })
        }
        Err(SubmitFailure::Queue(e)) => Err(match e {
            SubmitError::Duplicate => (
                "rejected_duplicate",
                ApiError::new(StatusCode::CONFLICT, "DUPLICATE_JOB_ID", format!("job '{job_id}' is already queued or running")),
            ),
            SubmitError::QueueFull => (
                "rejected_queue_full",
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "QUEUE_FULL", "the job queue is full; retry later").retry_after(1),
            ),
            SubmitError::ShuttingDown => {
                ("rejected_shutting_down", ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "the worker is shutting down"))
            }
        }),
    }
}

/// The SSE body of one job: events refused before the queue, or the running job's.
struct ExecuteStream {
    job_id: String,
    model: String,
    pending: VecDeque<JobEvent>,
    handle: Option<JobHandle>,
}

impl Stream for ExecuteStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let ev = match self.pending.pop_front() {
            Some(ev) => ev,
            None => match self.handle.as_mut() {
                None => return Poll::Ready(None),
                Some(h) => match h.poll_event(cx) {
                    Poll::Ready(Some(ev)) => ev,
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                },
            },
        };
        Poll::Ready(Some(Ok(encode(&self.job_id, &self.model, &ev))))
    }
}

/// One engine event as the orchestrator's SSE event.
fn encode(job_id: &str, model: &str, ev: &JobEvent) -> Event {
    let (name, data) = match ev {
        JobEvent::Started { started_at, seed, prompt_tokens } => (
            "started",
            json!({"job_id": job_id, "model": model, "started_at": started_at, "seed": seed, "prompt_tokens": prompt_tokens}),
        ),
        JobEvent::Token { text, index, id, .. } => ("token", json!({"t": text, "i": index, "id": id})),
        JobEvent::End { tokens_out, stop_reason, prefill_ms, decode_ms, decode_tokens_per_s, cached_prompt_tokens } => (
            "end",
            json!({"tokens_out": tokens_out, "stop_reason": stop_reason, "prefill_ms": prefill_ms, "decode_ms": decode_ms,
                   "decode_tokens_per_s": decode_tokens_per_s, "cached_prompt_tokens": cached_prompt_tokens}),
        ),
        JobEvent::Error { code, message } => ("error", json!({"code": code.as_str(), "message": message})),
    };
    Event::default().event(name).data(data.to_string())
}
