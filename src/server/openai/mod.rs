//! The OpenAI-compatible API (.specs/openai-api.md): `/v1/models`, `/v1/completions`,
//! `/v1/chat/completions`. Requests go through the same admission, queue and scheduler as
//! `/execute`; only the wire format differs (request.rs in, response.rs out).

pub mod error;
mod fields;
pub mod models;
pub mod request;
pub mod response;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, StreamExt};

use super::execute::KEEP_ALIVE;
use super::submit::{submit, SubmitFailure};
use super::{AppState, Phase};
use crate::admission::Refusal;
use crate::engine::job::JobEvent;
use crate::engine::{Engine, SubmitError};
use error::OpenAiError;
use request::{Kind, Limits};
use response::{Encoder, Meta};

pub async fn chat_completions(state: State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    handle(state, headers, body, Kind::Chat).await
}

pub async fn completions(state: State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    handle(state, headers, body, Kind::Completions).await
}

/// The engine when the worker serves; else the 503 of `http-api.md`'s readiness rules.
pub(super) fn ready_engine(state: &AppState) -> Result<&Arc<Engine>, OpenAiError> {
    if state.is_shutting_down() {
        return Err(OpenAiError::server(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the worker is shutting down"));
    }
    match (state.engine.get(), state.phase()) {
        (Some(engine), Phase::Healthy) => Ok(engine),
        (_, Phase::Loading) => Err(OpenAiError::server(StatusCode::SERVICE_UNAVAILABLE, "model_loading", "the model is still loading").retry_after(2)),
        _ => Err(OpenAiError::server(StatusCode::SERVICE_UNAVAILABLE, "unhealthy", "the worker is unhealthy; see GET /health")),
    }
}

pub(super) fn model_not_found(state: &AppState, name: &str) -> OpenAiError {
    OpenAiError {
        param: Some("model".into()),
        ..OpenAiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("The model '{name}' does not exist; this worker serves '{}'", state.served_model_name()),
        )
    }
}

fn outcome_of(e: &OpenAiError) -> &'static str {
    match (e.status.as_u16(), e.code) {
        (413, _) => "rejected_too_large",
        (408, _) => "rejected_timeout",
        (_, "queue_full") => "rejected_queue_full",
        (_, "shutting_down") => "rejected_shutting_down",
        (_, "model_loading" | "unhealthy") => "rejected_not_ready",
        (_, "context_length_exceeded") => "context_length_exceeded",
        (_, "duplicate_id") => "rejected_duplicate",
        (_, "internal_error") => "internal",
        _ => "rejected_invalid",
    }
}

async fn handle(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body, kind: Kind) -> Response {
    match accept(&state, &headers, body, kind).await {
        Ok(resp) => resp,
        Err(e) => {
            state.metrics.outcome(kind.endpoint(), outcome_of(&e));
            e.into_response()
        }
    }
}

async fn accept(state: &Arc<AppState>, headers: &HeaderMap, body: Body, kind: Kind) -> Result<Response, OpenAiError> {
    // Read (or drain) the body before any answer, as /execute does.
    let read = super::body::read_body(headers, body, state.body_timeout).await;
    if state.is_shutting_down() {
        return Err(OpenAiError::server(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the worker is shutting down"));
    }
    let bytes = read.map_err(OpenAiError::from)?;
    let engine = ready_engine(state)?;
    let prefix = match kind {
        Kind::Chat => "chatcmpl",
        Kind::Completions => "cmpl",
    };
    let id = format!("{prefix}-{:024x}", rand::random::<u128>() >> 32);
    let limits = Limits { vocab_size: engine.loaded.info.n_vocab as u32, max_tokens_out: state.max_tokens_out };
    let req = request::parse(&bytes, kind, &limits, id.clone())?;
    if !state.names_model(&req.model) {
        return Err(model_not_found(state, &req.model));
    }
    let wants_logprobs = req.admission.logprobs.is_some();
    let (stream, include_usage) = (req.stream, req.include_usage);
    let (handle, _) = submit(engine, state.max_tokens_out, req.admission).await.map_err(|f| match f {
        SubmitFailure::Refused { refusal: Refusal::Invalid { field, message }, .. } => OpenAiError::value(field, message),
        SubmitFailure::Refused { refusal: Refusal::ContextLengthExceeded { field, message, .. }, .. } => {
            OpenAiError::invalid("context_length_exceeded", field, message)
        }
        SubmitFailure::Refused { refusal: Refusal::Tokenizer(message), .. } => {
            OpenAiError::server(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
        }
        SubmitFailure::Queue(SubmitError::QueueFull) => {
            OpenAiError::server(StatusCode::SERVICE_UNAVAILABLE, "queue_full", "the job queue is full; retry later").retry_after(1)
        }
        SubmitFailure::Queue(SubmitError::ShuttingDown) => {
            OpenAiError::server(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the worker is shutting down")
        }
        SubmitFailure::Queue(SubmitError::Duplicate) => {
            OpenAiError::server(StatusCode::INTERNAL_SERVER_ERROR, "duplicate_id", "a job with this generated id exists; retry")
        }
    })?;
    let created = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let meta = Meta {
        kind,
        id,
        created,
        model: state.served_model_name(),
        fingerprint: state.system_fingerprint(),
        include_usage,
        loaded: engine.loaded.clone(),
    };
    let mut encoder = Encoder::new(meta, wants_logprobs);
    if stream {
        // Each event becomes its chunks; after the terminal one, `[DONE]`. Dropping the stream
        // (the client went away) drops the handle, which cancels the job.
        let events = stream::unfold(Some(handle), |h| async move {
            let mut h = h?;
            let ev = h.next_event().await?;
            let last = ev.is_terminal();
            Some((ev, if last { None } else { Some(h) }))
        });
        let body = events.flat_map(move |ev| {
            let mut out: Vec<Result<Event, Infallible>> =
                encoder.chunks(&ev).into_iter().map(|c| Ok(Event::default().data(c.to_string()))).collect();
            if ev.is_terminal() {
                out.push(Ok(Event::default().data("[DONE]")));
            }
            stream::iter(out)
        });
        return Ok(Sse::new(body).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response());
    }
    // Not streamed: the handle lives in this future, so a client that goes away (the future is
    // dropped) cancels the job.
    let mut handle = handle;
    while let Some(ev) = handle.next_event().await {
        match &ev {
            JobEvent::End { tokens_out, stop_reason, cached_prompt_tokens, .. } => {
                return Ok(Json(encoder.response(*tokens_out, *stop_reason, *cached_prompt_tokens)).into_response());
            }
            JobEvent::Error { code, message } => {
                return Ok(response::job_error(*code, message, state.is_shutting_down()).into_response());
            }
            _ => encoder.absorb(&ev),
        }
    }
    Err(OpenAiError::server(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "the job ended without a terminal event"))
}
