//! POST /cancel {"job_id"}: always 202 for a well-formed request, whether the job is queued,
//! running, finished or unknown (idempotent).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;

pub async fn cancel(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = super::body::read_body(&headers, body, state.body_timeout).await?;
    let value = super::strict_json::parse(&body).map_err(|e| ApiError::invalid(e.field(), e.message()))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid("body", "the body must be a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| k.as_str() != "job_id") {
        return Err(ApiError::invalid(unknown, format!("unknown field '{unknown}' (accepted: job_id)")));
    }
    let job_id = match obj.get("job_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(ApiError::invalid("job_id", "must not be empty")),
        None | Some(Value::Null) => return Err(ApiError::invalid("job_id", "is required")),
        Some(_) => return Err(ApiError::invalid("job_id", "must be a string")),
    };
    if let Some(engine) = state.engine.get() {
        engine.cancel(&job_id);
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"job_id": job_id, "status": "cancel_requested"}))))
}
