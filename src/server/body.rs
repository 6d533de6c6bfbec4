//! Reading a request body under the size limit. A body over the limit is still read to its end
//! (up to DRAIN_LIMIT_BYTES) and thrown away before the 413 goes out: a server that answers and
//! closes while the client is still sending makes the client's TCP stack see a reset, and the
//! client then reports a broken connection instead of the 413 and its JSON. The whole body must
//! arrive within --body-timeout-sec of the handler starting to read it (a client that trickles
//! a byte now and then is as stalled as one that stops): else 408 BODY_TIMEOUT and the connection
//! closes.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

use super::error::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Most bytes of an oversized body read and discarded before answering. Beyond it (declared in
/// Content-Length or seen while reading) the 413 goes out at once and the connection closes.
pub const DRAIN_LIMIT_BYTES: usize = 64 << 20;

fn too_large(close: bool) -> ApiError {
    let e = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE", format!("the request body is over {MAX_BODY_BYTES} bytes"));
    if close { e.close_connection() } else { e }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Default --body-timeout-sec.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

fn timed_out(limit: Duration) -> ApiError {
    let message = format!("the request body did not arrive within {} s (--body-timeout-sec)", limit.as_secs());
    ApiError::new(StatusCode::REQUEST_TIMEOUT, "BODY_TIMEOUT", message).close_connection()
}

/// The whole body if it is at most MAX_BODY_BYTES and arrives within `limit`, else 413
/// BODY_TOO_LARGE (after draining it) or 408 BODY_TIMEOUT.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: Duration) -> Result<Bytes, ApiError> {
    let deadline = Instant::now() + limit;
    if declared_length(headers).is_some_and(|n| n > DRAIN_LIMIT_BYTES as u64) {
        return Err(too_large(true));
    }
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = timeout_at(deadline, stream.next()).await.map_err(|_| timed_out(limit))? {
        let chunk = chunk.map_err(|e| ApiError::invalid("body", format!("the request body could not be read: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen > DRAIN_LIMIT_BYTES {
            return Err(too_large(true));
        }
        if seen <= MAX_BODY_BYTES {
            kept.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(too_large(false));
    }
    Ok(Bytes::from(kept))
}

/// Reads a body to its end within `limit` and throws it away, for a refusal sent before the body
/// was needed (401): hyper closes a connection whose request body was left unread, without
/// `Connection: close`, so a pooled client's next request on it fails. False when it could not be
/// drained (over DRAIN_LIMIT_BYTES, too slow, or a read error): then the refusal must say
/// `Connection: close`.
pub async fn drain(headers: &HeaderMap, body: Body, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    if declared_length(headers).is_some_and(|n| n > DRAIN_LIMIT_BYTES as u64) {
        return false;
    }
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    loop {
        match timeout_at(deadline, stream.next()).await {
            Err(_) | Ok(Some(Err(_))) => return false, // too slow, or a read error
            Ok(None) => return true,
            Ok(Some(Ok(chunk))) => {
                seen = seen.saturating_add(chunk.len());
                if seen > DRAIN_LIMIT_BYTES {
                    return false;
                }
            }
        }
    }
}
