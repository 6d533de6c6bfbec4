//! The engine's job events as OpenAI objects: streamed chunks (`chat.completion.chunk`,
//! `text_completion`) and whole responses (`chat.completion`, `text_completion`), with usage and
//! logprobs (.specs/openai-api.md).

use std::sync::Arc;

use serde_json::{json, Value};

use super::error::OpenAiError;
use super::request::Kind;
use crate::engine::job::{ErrorCode, JobEvent, StopReason, TokenLogprobs};
use crate::engine::LoadedModel;
use axum::http::StatusCode;

/// What every object of one response shares.
pub struct Meta {
    pub kind: Kind,
    pub id: String,
    pub created: u64,
    pub model: String,
    pub fingerprint: Option<String>,
    pub include_usage: bool,
    pub loaded: Arc<LoadedModel>,
}

/// Turns one job's events into chunks or a whole response, accumulating what the end needs.
pub struct Encoder {
    meta: Meta,
    prompt_tokens: u32,
    text: String,
    /// Chat: `logprobs.content` entries; completions: the four parallel arrays.
    logprob_entries: Vec<(u32, TokenLogprobs, usize)>,
    wants_logprobs: bool,
}

pub fn finish_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens => "length",
        StopReason::Eos | StopReason::StopSequence => "stop",
    }
}

/// A job's error event as an OpenAI error (the HTTP status of a non-streamed response). A job
/// cancelled by shutdown is a 503 the SDK retries (another replica can serve it); an explicit cancel
/// or a timeout is a 500 marked `x-should-retry: false`, so the SDK does not run the job again.
pub fn job_error(code: ErrorCode, message: &str, shutting_down: bool) -> OpenAiError {
    if code == ErrorCode::Cancelled && shutting_down {
        return OpenAiError::server(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message).retry_after(1);
    }
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    let code_str = match code {
        ErrorCode::Cancelled => "cancelled",
        ErrorCode::ContextLengthExceeded => "context_length_exceeded",
        ErrorCode::OutOfMemory => "out_of_memory",
        ErrorCode::VramOom => "vram_oom",
        ErrorCode::InferenceTimeout => "inference_timeout",
        ErrorCode::Internal => "internal_error",
    };
    let e = OpenAiError::server(status, code_str, message);
    match code {
        ErrorCode::Cancelled | ErrorCode::InferenceTimeout => e.no_retry(),
        _ => e,
    }
}

impl Encoder {
    pub fn new(meta: Meta, wants_logprobs: bool) -> Encoder {
        Encoder { meta, prompt_tokens: 0, text: String::new(), logprob_entries: Vec::new(), wants_logprobs }
    }

    fn object(&self, streaming: bool) -> &'static str {
        match (self.meta.kind, streaming) {
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Chat, false) => "chat.completion",
            (Kind::Completions, _) => "text_completion",
        }
    }

    fn envelope(&self, streaming: bool, choices: Value) -> Value {
        let mut v = json!({
            "id": self.meta.id,
            "object": self.object(streaming),
            "created": self.meta.created,
            "model": self.meta.model,
            "system_fingerprint": self.meta.fingerprint,
            "choices": choices,
        });
        if streaming && self.meta.include_usage {
            v["usage"] = Value::Null;
        }
        v
    }

    fn token_text(&self, id: u32) -> (String, Vec<u8>) {
        let bytes = self.meta.loaded.tokenizer.token_bytes(id).to_vec();
        (String::from_utf8_lossy(&bytes).into_owned(), bytes)
    }

    fn chat_logprob(&self, id: u32, lp: &TokenLogprobs) -> Value {
        let (token, bytes) = self.token_text(id);
        let top: Vec<Value> = lp
            .top
            .iter()
            .map(|&(t, l)| {
                let (token, bytes) = self.token_text(t);
                json!({"token": token, "logprob": l, "bytes": bytes})
            })
            .collect();
        json!({"token": token, "logprob": lp.logprob, "bytes": bytes, "top_logprobs": top})
    }

    /// Completions' parallel arrays over `entries` (id, logprobs, text offset in characters).
    fn completion_logprobs(&self, entries: &[(u32, TokenLogprobs, usize)]) -> Value {
        let mut tokens = Vec::new();
        let mut token_logprobs = Vec::new();
        let mut top_logprobs = Vec::new();
        let mut offsets = Vec::new();
        for (id, lp, offset) in entries {
            tokens.push(self.token_text(*id).0);
            token_logprobs.push(lp.logprob);
            let mut top = serde_json::Map::new();
            for &(t, l) in &lp.top {
                top.entry(self.token_text(t).0).or_insert(json!(l));
            }
            top_logprobs.push(Value::Object(top));
            offsets.push(*offset);
        }
        json!({"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top_logprobs, "text_offset": offsets})
    }

    fn usage(&self, completion_tokens: u32, cached: u32) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        })
    }

    /// Records a token; returns its (text, logprob entry) for a chunk.
    fn take_token(&mut self, text: &str, id: u32, logprobs: Option<&TokenLogprobs>) -> Option<(u32, TokenLogprobs, usize)> {
        let offset = self.text.chars().count();
        self.text.push_str(text);
        let entry = logprobs.filter(|_| self.wants_logprobs).map(|lp| (id, lp.clone(), offset));
        entry
    }

    /// The `data:` payloads for one event of a streamed response (the caller sends `[DONE]`
    /// after the terminal event).
    pub fn chunks(&mut self, ev: &JobEvent) -> Vec<Value> {
        match ev {
            JobEvent::Started { prompt_tokens, .. } => {
                self.prompt_tokens = *prompt_tokens;
                match self.meta.kind {
                    Kind::Chat => vec![self.envelope(
                        true,
                        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
                    )],
                    Kind::Completions => Vec::new(),
                }
            }
            JobEvent::Token { text, id, logprobs, .. } => {
                let entry = self.take_token(text, *id, logprobs.as_ref());
                let choice = match self.meta.kind {
                    Kind::Chat => {
                        let lp = entry.map(|(id, lp, _)| json!({"content": [self.chat_logprob(id, &lp)]}));
                        json!({"index": 0, "delta": {"content": text}, "logprobs": lp, "finish_reason": null})
                    }
                    Kind::Completions => {
                        let lp = entry.map(|e| self.completion_logprobs(std::slice::from_ref(&e)));
                        json!({"index": 0, "text": text, "logprobs": lp, "finish_reason": null})
                    }
                };
                vec![self.envelope(true, json!([choice]))]
            }
            JobEvent::End { tokens_out, stop_reason, cached_prompt_tokens, .. } => {
                let reason = finish_reason(*stop_reason);
                let choice = match self.meta.kind {
                    Kind::Chat => json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}),
                    Kind::Completions => json!({"index": 0, "text": "", "logprobs": null, "finish_reason": reason}),
                };
                let mut out = vec![self.envelope(true, json!([choice]))];
                if self.meta.include_usage {
                    let mut u = self.envelope(true, json!([]));
                    u["usage"] = self.usage(*tokens_out, *cached_prompt_tokens);
                    out.push(u);
                }
                out
            }
            JobEvent::Error { code, message } => vec![job_error(*code, message, false).body()],
        }
    }

    /// Accumulates an event of a non-streamed response.
    pub fn absorb(&mut self, ev: &JobEvent) {
        match ev {
            JobEvent::Started { prompt_tokens, .. } => self.prompt_tokens = *prompt_tokens,
            JobEvent::Token { text, id, logprobs, .. } => {
                if let Some(e) = self.take_token(text, *id, logprobs.as_ref()) {
                    self.logprob_entries.push(e);
                }
            }
            _ => {}
        }
    }

    /// The whole response after the job's `End`.
    pub fn response(&self, tokens_out: u32, stop_reason: StopReason, cached: u32) -> Value {
        let reason = finish_reason(stop_reason);
        let choice = match self.meta.kind {
            Kind::Chat => {
                let lp = self.wants_logprobs.then(|| {
                    json!({"content": self.logprob_entries.iter().map(|(id, lp, _)| self.chat_logprob(*id, lp)).collect::<Vec<_>>()})
                });
                json!({"index": 0, "message": {"role": "assistant", "content": self.text}, "logprobs": lp, "finish_reason": reason})
            }
            Kind::Completions => {
                let lp = self.wants_logprobs.then(|| self.completion_logprobs(&self.logprob_entries));
                json!({"index": 0, "text": self.text, "logprobs": lp, "finish_reason": reason})
            }
        };
        let mut v = self.envelope(false, json!([choice]));
        v["usage"] = self.usage(tokens_out, cached);
        v
    }
}
