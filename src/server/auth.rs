//! `--api-key`: /execute, /cancel and /v1/* need `Authorization: Bearer <key>`; /health and
//! /metrics stay open for probes and scrapers. Refusals under /v1 are in OpenAI's shape.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::openai::error::OpenAiError;
use crate::engine::job::Endpoint;
use super::AppState;

pub async fn require_api_key(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(key) = &state.api_key {
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes())) {
            let path = req.uri().path();
            let endpoint = match path {
                "/v1/chat/completions" => Endpoint::ChatCompletions,
                "/v1/completions" => Endpoint::Completions,
                "/cancel" => Endpoint::Cancel,
                p if p.starts_with("/v1/") => Endpoint::Models,
                _ => Endpoint::Execute,
            };
            state.metrics.outcome(endpoint, "rejected_unauthorized");
            let openai = path.starts_with("/v1/");
            let (parts, body) = req.into_parts();
            let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "missing or wrong bearer token");
            if !super::body::drain(&parts.headers, body).await {
                e = e.close_connection();
            }
            if openai {
                return OpenAiError::from(e).into_response();
            }
            return e.into_response();
        }
    }
    next.run(req).await
}

/// Compares without an early exit, so response time does not leak how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
