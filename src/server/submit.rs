//! What every front end does with a parsed request: admission (render, tokenize, token budget)
//! on a blocking thread, then the engine's queue. Each front end turns the failures into its own
//! wire format.

use std::sync::Arc;

use super::job_handle::JobHandle;
use crate::admission::{self, AdmissionRequest, Limits, Refusal};
use crate::engine::events::event_channel;
use crate::engine::job::JobSpec;
use crate::engine::{Engine, SubmitError};
use crate::ffi::KV_BLOCK_TOKENS;

pub enum SubmitFailure {
    /// Admission refused the request; `seed` is the one it would have run with.
    Refused { refusal: Refusal, seed: u64 },
    Queue(SubmitError),
}

/// The limits admission checks a job of this engine against.
pub fn limits(engine: &Engine, max_tokens_out: u32) -> Limits {
    let block = KV_BLOCK_TOKENS as u64;
    Limits {
        n_ctx: engine.config.n_ctx,
        max_tokens_out,
        kv_pool_tokens: (engine.config.kv_cache_tokens as u64).div_ceil(block) * block,
    }
}

/// Admits and queues the request; the handle streams its events.
pub async fn submit(engine: &Arc<Engine>, max_tokens_out: u32, req: AdmissionRequest) -> Result<(JobHandle, Arc<JobSpec>), SubmitFailure> {
    let seed = req.sampling.seed;
    let loaded = engine.loaded.clone();
    let limits = limits(engine, max_tokens_out);
    let admitted = tokio::task::spawn_blocking(move || admission::admit(&loaded.tokenizer, &loaded.chat, &limits, req))
        .await
        .unwrap_or_else(|e| Err(Refusal::Tokenizer(format!("admission failed: {e}"))));
    let spec = admitted.map_err(|refusal| SubmitFailure::Refused { refusal, seed })?;
    let spec = Arc::new(spec);
    let (tx, rx) = event_channel();
    engine.submit((*spec).clone(), tx).map_err(SubmitFailure::Queue)?;
    Ok((JobHandle::new(rx, engine.clone(), spec.job_id.clone()), spec))
}
