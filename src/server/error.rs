//! Errors the HTTP layer answers with: a status and `{"error": {"code", "field"?, "message"}}`.
//! The codes are stable; clients branch on them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
    pub retry_after_s: Option<u32>,
    /// Answer with `Connection: close` (the rest of the request will not be read).
    pub close: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, field: None, message: message.into(), retry_after_s: None, close: false }
    }

    /// 400 INVALID_REQUEST naming the offending field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError { field: Some(field.into()), ..ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message) }
    }

    pub fn close_connection(mut self) -> ApiError {
        self.close = true;
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after_s = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        let mut resp = (self.status, Json(json!({ "error": body }))).into_response();
        if let Some(s) = self.retry_after_s {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.close {
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}
