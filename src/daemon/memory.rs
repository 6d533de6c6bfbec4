//! Start-up memory planning. The context (KV pool plus scratch; its exact size comes from the
//! core, `Model::context_bytes`) must fit in what the host (MemAvailable) or the device (free
//! VRAM after the weights) has. The pool defaults to --parallel full contexts of --ctx-size and is
//! reduced to what fits, down to one full context; below that, or when an explicit
//! --kv-cache-tokens does not fit, the worker refuses to start, saying required and available.

use crate::ffi::{ContextParams, Model, KV_BLOCK_TOKENS};

/// Device memory left free beyond the context (the CUDA backend's own buffers, allocator rounding).
pub const CUDA_MARGIN_BYTES: u64 = 64 << 20;

/// MemAvailable from /proc/meminfo, if readable.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The pool the worker runs with.
#[derive(Debug, Clone, Copy)]
pub struct PoolPlan {
    pub tokens: u32,
    pub bytes: u64,
    /// Set when the default pool did not fit and was reduced (the tokens asked for).
    pub reduced_from: Option<u64>,
}

fn round_to_blocks(tokens: u64) -> u64 {
    tokens.div_ceil(KV_BLOCK_TOKENS as u64) * KV_BLOCK_TOKENS as u64
}

/// Chooses the pool for `params` (whose kv_cache_tokens is ignored). `budget` is the memory the
/// context may take (None: unknown, no check); `device` and `model` name them in errors.
pub fn plan_kv_pool(
    model: &Model,
    params: &ContextParams,
    requested: Option<u32>,
    budget: Option<u64>,
    device: &str,
    model_path: &str,
) -> Result<PoolPlan, String> {
    let n_ctx = params.n_ctx.max(1) as u64;
    let bytes_of = |tokens: u64| -> Result<u64, String> {
        let p = ContextParams { kv_cache_tokens: tokens.min(i32::MAX as u64) as i32, ..params.clone() };
        model.context_bytes(&p).map_err(|e| format!("--ctx-size {n_ctx}: {}", e.message))
    };
    let wanted = match requested {
        Some(t) => t as u64,
        None => round_to_blocks(params.n_seq_max.max(1) as u64 * n_ctx),
    };
    let Some(budget) = budget else {
        return Ok(PoolPlan { tokens: wanted as u32, bytes: bytes_of(wanted)?, reduced_from: None });
    };
    // One full context is the least a worker can run with.
    let one = bytes_of(n_ctx)?;
    if one > budget {
        return Err(format!(
            "not enough memory: a context with --ctx-size {n_ctx} needs {one} bytes, {budget} bytes are available \
             (device {device}, model {model_path})"
        ));
    }
    // The pool grows by a fixed number of bytes per block, so sizes follow from one-context's.
    let per_token = model.info().kv_bytes_per_token;
    let bytes_for = |tokens: u64| one + round_to_blocks(tokens).saturating_sub(round_to_blocks(n_ctx)) * per_token;
    if bytes_for(wanted) <= budget {
        return Ok(PoolPlan { tokens: wanted as u32, bytes: bytes_of(wanted)?, reduced_from: None });
    }
    if let Some(t) = requested {
        return Err(format!(
            "not enough memory: --kv-cache-tokens {t} needs {} bytes, {budget} bytes are available (device {device}, model {model_path})",
            bytes_for(t as u64)
        ));
    }
    let block_bytes = (per_token * KV_BLOCK_TOKENS as u64).max(1);
    let tokens = round_to_blocks(n_ctx) + (budget - one) / block_bytes * KV_BLOCK_TOKENS as u64;
    Ok(PoolPlan { tokens: tokens as u32, bytes: bytes_of(tokens)?, reduced_from: Some(wanted) })
}
