//! GET /v1/models and /v1/models/{id}: the one loaded model under its served name.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::OpenAiError;
use super::{model_not_found, ready_engine};
use crate::server::AppState;

fn model_object(state: &AppState) -> Value {
    let n_ctx = state.engine.get().map(|e| e.config.n_ctx);
    json!({
        "id": state.served_model_name(),
        "object": "model",
        "created": state.loaded_at_unix(),
        "owned_by": "worker-orcd",
        "max_model_len": n_ctx,
    })
}

pub async fn list(State(state): State<Arc<AppState>>) -> Response {
    if let Err(e) = ready_engine(&state) {
        return e.into_response();
    }
    Json(json!({"object": "list", "data": [model_object(&state)]})).into_response()
}

pub async fn get(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    if let Err(e) = ready_engine(&state) {
        return e.into_response();
    }
    if !state.names_model(&id) {
        return model_not_found(&state, &id).into_response();
    }
    Json(model_object(&state)).into_response()
}

pub async fn unknown_url(uri: axum::http::Uri) -> OpenAiError {
    OpenAiError::new(axum::http::StatusCode::NOT_FOUND, "invalid_request_error", "unknown_url", format!("Unknown request URL: {}", uri.path()))
}
