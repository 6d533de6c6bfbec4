//! What the engine tells a front end about one job: the event type and what it carries. Front ends
//! encode it (server/execute.rs as the orchestrator's SSE, server/openai/ as OpenAI chunks); nothing
//! here is a wire format. The channel that carries it is events.rs.

use serde::Serialize;

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

/// A generated token's log-probability and its most likely alternatives (log-softmax of the
/// logits the core computed for that position; engine/logprobs.rs).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprobs {
    pub logprob: f32,
    /// (id, logprob), most likely first, ties to the lower id.
    pub top: Vec<(u32, f32)>,
}

/// What the engine tells a front end about one job, in order: Started, Token*, then End or
/// Error. Front ends encode it (server/execute.rs as the orchestrator's SSE, server/openai/ as
/// OpenAI chunks); nothing here is a wire format.
#[derive(Debug, Clone)]
pub enum JobEvent {
    Started { started_at: String, seed: u64, prompt_tokens: u32 },
    /// `text` is the token's piece (UTF-8-safe, possibly with held-back text of earlier tokens).
    Token { text: String, index: u32, id: u32, logprobs: Option<TokenLogprobs> },
    End {
        tokens_out: u32,
        stop_reason: StopReason,
        prefill_ms: f64,
        decode_ms: f64,
        decode_tokens_per_s: f64,
        cached_prompt_tokens: u32,
    },
    Error { code: ErrorCode, message: String },
}

impl JobEvent {
    pub fn is_terminal(&self) -> bool {
        matches!(self, JobEvent::End { .. } | JobEvent::Error { .. })
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> JobEvent {
        JobEvent::Error { code, message: message.into() }
    }
}

