//! The accept loop: HTTP/1.1 (keep-alive) over hyper with the connection limits of
//! .specs/http-api.md — at most --max-connections open (one more gets a canned 503 and is
//! closed), headers within --header-timeout-sec and MAX_HEADER_BYTES (else the connection closes,
//! or 431), and a graceful shutdown that lets every in-flight response finish.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Largest request head (request line and headers): more is 431.
pub const MAX_HEADER_BYTES: usize = 32 << 10;
/// Most header lines of one request: more is 431.
pub const MAX_HEADERS: usize = 100;
/// hyper's read buffer, which also caps a head that never ends (hyper's minimum is 8 KiB).
const READ_BUFFER_BYTES: usize = 2 * MAX_HEADER_BYTES;

/// The kernel send buffer of every connection (the kernel doubles it for its bookkeeping).
/// Fixed instead of autotuned: on loopback autotuning starts it at megabytes, which a client that
/// stops reading would pin, and which would hide that client from the unread-event count
/// (engine/events.rs) for a whole generation. Enough for any response at local-network rates.
pub const SEND_BUFFER_BYTES: u32 = 64 << 10;

/// Pending connections the kernel queues before accept.
const BACKLOG: u32 = 1024;

/// The listening socket; accepted connections inherit its send buffer size.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SEND_BUFFER_BYTES)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// What a connection over the cap gets, written without waiting for the client.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n\
retry-after: 1\r\ncontent-length: 103\r\n\r\n\
{\"error\":{\"code\":\"TOO_MANY_CONNECTIONS\",\"message\":\"the worker has --max-connections connections open\"}}";

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets each
/// connection finish the response it is sending (idle ones close at once) and returns when all
/// are closed.
pub async fn serve(listener: TcpListener, app: Router, limits: ConnectionLimits, shutdown: impl Future<Output = ()>) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing_tx, closing) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS)
        .max_buf_size(READ_BUFFER_BYTES);
    let mut connections = JoinSet::new();
    let (mut refused, mut last_warned) = (0u64, None);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refuse(stream);
            refused += 1;
            // One line a second at most: a flood of connections must not become a flood of logs.
            if last_warned.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(1)) {
                tracing::warn!(refused, "refusing connections: --max-connections {} are open", limits.max_connections);
                last_warned = Some(Instant::now());
                refused = 0;
            }
            continue;
        };
        // Token events are small writes that must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut closing = closing.clone();
        connections.spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                // A header timeout, a malformed or oversized head, a client that went away.
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// Over the cap: the 503 if the socket takes it at once, then close.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(OVER_CAPACITY);
}

#[cfg(test)]
mod tests {
    use super::OVER_CAPACITY;

    #[test]
    fn the_canned_503_declares_its_body_length() {
        let text = std::str::from_utf8(OVER_CAPACITY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{}", body.len());
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
