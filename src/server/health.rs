//! GET /health: 200 when ready to serve, 503 while loading or unhealthy. Never needs the API key.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{AppState, Phase};

pub async fn health(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    // Reading device memory is an FFI call: keep it off the runtime's threads.
    let device = match state.engine.get().cloned() {
        Some(engine) if state.backend == "cuda" => {
            tokio::task::spawn_blocking(move || engine.loaded.model.device_info().ok()).await.ok().flatten()
        }
        _ => None,
    };
    let phase = state.phase();
    let status = match phase {
        Phase::Loading => "loading",
        Phase::Healthy => "healthy",
        Phase::Unhealthy => "unhealthy",
    };
    let mut body = json!({
        "status": status,
        "load_progress": state.load_progress(),
        "worker_id": state.worker_id,
        "model": state.model_path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "model_path": state.model_path.display().to_string(),
        "backend": state.backend,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "shutting_down": state.is_shutting_down(),
        "busy": false,
        "queued": 0,
        "running": 0,
        "resident": false,
    });
    if let Some(engine) = state.engine.get() {
        let info = &engine.loaded.info;
        body["architecture"] = json!(info.architecture);
        body["quant_kind"] = json!(info.quant_kind);
        body["tokenizer_kind"] = json!(engine.loaded.tokenizer.kind().as_str());
        body["chat_template"] = json!(engine.loaded.chat.origin());
        body["vocab_size"] = json!(info.n_vocab);
        body["context_length"] = json!(engine.config.n_ctx);
        body["context_length_train"] = json!(info.n_ctx_train);
        body["threads"] = json!(info.n_threads);
        body["busy"] = json!(engine.busy());
        body["queued"] = json!(engine.queued());
        body["parallel"] = json!(engine.config.parallel);
        body["batch_tokens"] = json!(engine.config.batch_tokens);
        body["running"] = json!(engine.running());
        let (kv_total, kv_used) = engine.kv_tokens();
        body["kv_cache_tokens_total"] = json!(kv_total);
        body["kv_cache_tokens_used"] = json!(kv_used);
        // Larger than the total when the default pool was reduced to what memory holds.
        body["kv_cache_tokens_wanted"] = json!(engine.config.kv_cache_tokens_wanted);
        body["prefix_cache"] = json!(engine.config.prefix_cache);
        // CPU weights stay memory-mapped from the file for the process's life.
        body["resident"] = json!(true);
        body["weight_bytes"] = json!(info.weight_bytes);
        match &device {
            Some(d) => {
                body["vram_bytes_used"] = json!(engine.memory_bytes());
                body["vram_total_bytes"] = json!(d.total_bytes);
                body["vram_free_bytes"] = json!(d.free_bytes);
                body["device_name"] = json!(d.name);
                body["device_index"] = json!(d.index);
                body["sm"] = json!(format!("sm_{}{}", d.compute_capability.0, d.compute_capability.1));
                body["cuda_runtime_version"] =
                    json!(format!("{}.{}", d.runtime_version / 1000, d.runtime_version % 1000 / 10));
                body["cuda_driver_version"] = json!(format!("{}.{}", d.driver_version / 1000, d.driver_version % 1000 / 10));
            }
            None => body["memory_bytes_used"] = json!(engine.memory_bytes()),
        }
    }
    let code = if phase == Phase::Healthy && !state.is_shutting_down() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}
