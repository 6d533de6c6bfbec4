//! HTTP (axum): the orchestrator's contract — POST /execute (SSE), POST /cancel, GET /health,
//! GET /metrics (.specs/http-api.md) — and the OpenAI-compatible /v1 API (openai/,
//! .specs/openai-api.md). Handlers only parse, admit, enqueue and stream; inference runs on the
//! engine's own thread.

pub mod auth;
pub mod body;
pub mod cancel;
pub mod error;
pub mod execute;
pub mod health;
pub mod job_handle;
pub mod listener;
pub mod openai;
pub mod request;
pub mod strict_json;
pub mod submit;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::routing::{any, get, post};
use axum::Router;

use crate::engine::Engine;
use crate::metrics::Metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Loading = 0,
    Healthy = 1,
    Unhealthy = 2,
}

/// What every handler shares. The engine appears once the model has loaded.
pub struct AppState {
    pub worker_id: String,
    pub model_path: PathBuf,
    pub backend: &'static str,
    pub max_tokens_out: u32,
    pub api_key: Option<String>,
    /// --body-timeout-sec: how long a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    pub started: Instant,
    pub metrics: Arc<Metrics>,
    pub engine: OnceLock<Arc<Engine>>,
    /// --served-model-name: what OpenAI clients call the model (else its file name).
    pub served_model_name: Option<String>,
    /// Unix time the model finished loading (`created` of /v1/models).
    pub loaded_at: OnceLock<u64>,
    /// `fp_<sha256 prefix>-<version>`, once the background hash of the model file is done.
    pub fingerprint: OnceLock<String>,
    phase: AtomicU8,
    load_progress: AtomicU32,
    shutting_down: AtomicBool,
}

impl AppState {
    pub fn new(worker_id: String, model_path: PathBuf, backend: &'static str, max_tokens_out: u32, api_key: Option<String>) -> AppState {
        AppState {
            worker_id,
            model_path,
            backend,
            max_tokens_out,
            api_key,
            body_timeout: body::DEFAULT_BODY_TIMEOUT,
            started: Instant::now(),
            metrics: Arc::new(Metrics::new()),
            engine: OnceLock::new(),
            served_model_name: None,
            loaded_at: OnceLock::new(),
            fingerprint: OnceLock::new(),
            phase: AtomicU8::new(Phase::Loading as u8),
            load_progress: AtomicU32::new(0f32.to_bits()),
            shutting_down: AtomicBool::new(false),
        }
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Loading,
            1 => Phase::Healthy,
            _ => Phase::Unhealthy,
        }
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::SeqCst);
    }

    pub fn load_progress(&self) -> f32 {
        f32::from_bits(self.load_progress.load(Ordering::Relaxed))
    }

    pub fn set_load_progress(&self, p: f32) {
        self.load_progress.store(p.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    fn file_name(&self) -> String {
        self.model_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// The model's name in the OpenAI API.
    pub fn served_model_name(&self) -> String {
        self.served_model_name.clone().unwrap_or_else(|| self.file_name())
    }

    /// A request's `model` may be the served name, the file name, or the file name without `.gguf`.
    pub fn names_model(&self, name: &str) -> bool {
        let file = self.file_name();
        name == self.served_model_name() || name == file || file.strip_suffix(".gguf") == Some(name)
    }

    pub fn loaded_at_unix(&self) -> u64 {
        self.loaded_at.get().copied().unwrap_or(0)
    }

    pub fn system_fingerprint(&self) -> Option<String> {
        self.fingerprint.get().cloned()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/execute", post(execute::execute))
        .route("/cancel", post(cancel::cancel))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/models", get(openai::models::list))
        .route("/v1/models/{id}", get(openai::models::get))
        .route("/v1/{*rest}", any(openai::models::unknown_url))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_api_key));
    Router::new()
        .merge(protected)
        .route("/health", get(health::health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> impl axum::response::IntoResponse {
    state.metrics.uptime_seconds.set(state.started.elapsed().as_secs() as i64);
    if let Some(engine) = state.engine.get() {
        state.metrics.memory_bytes.set(engine.memory_bytes() as i64);
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
