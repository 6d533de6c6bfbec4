//! POST /execute: validate, enqueue, and stream the job's events as SSE. Keep-alive comments
//! flow while the job waits. If the client goes away before the terminal event, dropping the
//! stream cancels the job, queued or running.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::error::ApiError;
use super::request::{self, Limits};
use super::{AppState, Phase};
use crate::engine::job::JobEvent;
use crate::engine::{Engine, SubmitError};

pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

pub async fn execute(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    match accept(&state, &headers, body).await {
        Ok(stream) => Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response(),
        Err((outcome, e)) => {
            state.metrics.outcome(outcome);
            e.into_response()
        }
    }
}

async fn accept(state: &AppState, headers: &HeaderMap, body: Body) -> Result<JobStream, (&'static str, ApiError)> {
    if state.is_shutting_down() {
        return Err(("rejected_shutting_down", ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "the worker is shutting down")));
    }
    let bytes = super::body::read_body(headers, body).await.map_err(|e| ("rejected_too_large", e))?;
    let Some(engine) = state.engine.get().filter(|_| state.phase() == Phase::Healthy) else {
        let e = match state.phase() {
            Phase::Loading => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "MODEL_LOADING", "the model is still loading; see GET /health").retry_after(2),
            _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNHEALTHY", "the worker is unhealthy; see GET /health"),
        };
        return Err(("rejected_not_ready", e));
    };
    let limits = Limits { max_tokens: state.max_tokens_out, vocab_size: engine.loaded.info.n_vocab as u32 };
    let spec = request::parse(&bytes, &limits, &engine.loaded.chat).map_err(|e| ("rejected_invalid", e))?;
    let job_id = spec.job_id.clone();
    let (tx, rx) = unbounded_channel();
    engine.submit(spec, tx).map_err(|e| match e {
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
    })?;
    Ok(JobStream { rx, engine: engine.clone(), job_id, finished: false })
}

/// The SSE body of one job.
struct JobStream {
    rx: UnboundedReceiver<JobEvent>,
    engine: Arc<Engine>,
    job_id: String,
    finished: bool,
}

impl Stream for JobStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(ev)) => {
                self.finished = ev.is_terminal();
                let data = serde_json::to_string(&ev).expect("events serialize");
                Poll::Ready(Some(Ok(Event::default().event(ev.name()).data(data))))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for JobStream {
    fn drop(&mut self) {
        if !self.finished {
            // The client went away mid-job.
            self.engine.cancel(&self.job_id);
        }
    }
}
