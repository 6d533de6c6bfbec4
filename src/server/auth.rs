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
            if !super::body::drain(&parts.headers, body, state.body_timeout).await {
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

/// Compares the SHA-256 digests of both without an early exit: digests have one length, so
/// neither how much of the key matched nor the key's length shows in the response time.
fn constant_time_eq(given: &[u8], key: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given), Sha256::digest(key));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_keys_match_and_any_other_length_or_byte_does_not() {
        assert!(constant_time_eq(b"s3cret-key", b"s3cret-key"));
        assert!(constant_time_eq(b"", b""));
        for other in [&b""[..], b"s3cret-ke", b"s3cret-key ", b"s3cret-kez", b"S3cret-key", b"s3cret-keys3cret-key"] {
            assert!(!constant_time_eq(other, b"s3cret-key"), "{:?}", std::str::from_utf8(other));
        }
    }
}
