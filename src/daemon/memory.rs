//! The start-up memory check: a session for the configured context must fit in what the host
//! has available, or the worker refuses to start (saying required vs available).

use crate::ffi::ModelInfo;

/// Bytes of one session's KV cache (f16 K and V for every layer) plus a margin for scratch.
pub fn session_bytes(info: &ModelInfo, n_ctx: u32) -> u64 {
    let head_dim = (info.n_embd / info.n_head.max(1)) as u64;
    let kv = 2 * info.n_layer as u64 * n_ctx as u64 * info.n_head_kv as u64 * head_dim * 2;
    // Activations for a full-context prefill and the logits row dominate the scratch.
    let scratch = n_ctx as u64 * (info.n_embd as u64 * 4 * 8 + info.n_ff as u64 * 4 * 2) + info.n_vocab as u64 * 4;
    kv + scratch
}

/// MemAvailable from /proc/meminfo, if readable.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
