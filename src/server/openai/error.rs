//! Errors of the OpenAI endpoints, in OpenAI's shape `{"error": {"message", "type", "param",
//! "code"}}` with the statuses the official SDK maps to its exception classes
//! (.specs/openai-api.md).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::server::error::ApiError;

#[derive(Debug)]
pub struct OpenAiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub param: Option<String>,
    pub message: String,
    pub retry_after_s: Option<u32>,
    pub close: bool,
    /// Send `x-should-retry: false` (the official SDKs then do not retry a 5xx).
    pub no_retry: bool,
}

impl OpenAiError {
    pub fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> OpenAiError {
        OpenAiError { status, kind, code, param: None, message: message.into(), retry_after_s: None, close: false, no_retry: false }
    }

    /// 400 invalid_request_error naming `param`.
    pub fn invalid(code: &'static str, param: impl Into<String>, message: impl Into<String>) -> OpenAiError {
        OpenAiError { param: Some(param.into()), ..OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message) }
    }

    pub fn value(param: impl Into<String>, message: impl Into<String>) -> OpenAiError {
        OpenAiError::invalid("invalid_value", param, message)
    }

    pub fn unsupported(param: impl Into<String>, message: impl Into<String>) -> OpenAiError {
        OpenAiError::invalid("unsupported_parameter", param, message)
    }

    pub fn server(status: StatusCode, code: &'static str, message: impl Into<String>) -> OpenAiError {
        OpenAiError::new(status, "server_error", code, message)
    }

    pub fn no_retry(mut self) -> OpenAiError {
        self.no_retry = true;
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> OpenAiError {
        self.retry_after_s = Some(seconds);
        self
    }

    /// The `error` object, also sent as the last chunk of a stream that failed.
    pub fn body(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

/// The shared refusals of the HTTP layer (body size, readiness, auth) in OpenAI's shape.
impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> OpenAiError {
        let (kind, code) = match e.code {
            "BODY_TOO_LARGE" => ("invalid_request_error", "body_too_large"),
            "BODY_TIMEOUT" => ("invalid_request_error", "body_timeout"),
            "UNAUTHORIZED" => ("authentication_error", "invalid_api_key"),
            "MODEL_LOADING" => ("server_error", "model_loading"),
            "SHUTTING_DOWN" => ("server_error", "shutting_down"),
            "UNHEALTHY" => ("server_error", "unhealthy"),
            "QUEUE_FULL" => ("server_error", "queue_full"),
            "INVALID_REQUEST" => ("invalid_request_error", "invalid_value"),
            _ => ("server_error", "internal_error"),
        };
        OpenAiError {
            status: e.status,
            kind,
            code,
            param: e.field,
            message: e.message,
            retry_after_s: e.retry_after_s,
            close: e.close,
            no_retry: false,
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        if let Some(s) = self.retry_after_s {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.close {
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.no_retry {
            resp.headers_mut().insert("x-should-retry", HeaderValue::from_static("false"));
        }
        resp
    }
}
