//! A job as the engine sees it: validated request parameters in, events out.

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::ffi::SamplerParams;

/// A request that passed validation (see server/request.rs).
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub job_id: String,
    pub prompt: String,
    pub max_tokens: u32,
    pub sampling: SamplerParams,
    pub stop: Vec<String>,
}

/// Why a job ended with an `error` event (the stable codes of the HTTP contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Cancelled,
    ContextLengthExceeded,
    OutOfMemory,
    VramOom,
    InferenceTimeout,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Cancelled => "CANCELLED",
            ErrorCode::ContextLengthExceeded => "CONTEXT_LENGTH_EXCEEDED",
            ErrorCode::OutOfMemory => "OUT_OF_MEMORY",
            ErrorCode::VramOom => "VRAM_OOM",
            ErrorCode::InferenceTimeout => "INFERENCE_TIMEOUT",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    MaxTokens,
    Eos,
    StopSequence,
}

/// What the SSE stream of a job carries, in order: Started, Token*, then End or Error.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum JobEvent {
    Started { job_id: String, model: String, started_at: String, seed: u64, prompt_tokens: u32 },
    Token { t: String, i: u32, id: u32 },
    End { tokens_out: u32, stop_reason: StopReason, prefill_ms: f64, decode_ms: f64, decode_tokens_per_s: f64 },
    Error { code: &'static str, message: String },
}

impl JobEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            JobEvent::Started { .. } => "started",
            JobEvent::Token { .. } => "token",
            JobEvent::End { .. } => "end",
            JobEvent::Error { .. } => "error",
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, JobEvent::End { .. } | JobEvent::Error { .. })
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> JobEvent {
        JobEvent::Error { code: code.as_str(), message: message.into() }
    }
}

/// A job waiting in the queue or running: its spec and where its events go.
#[derive(Debug)]
pub struct Job {
    pub spec: JobSpec,
    pub events: UnboundedSender<JobEvent>,
    pub accepted_at: std::time::Instant,
}
