//! The OpenAI-compatible body parser (`server::openai::request::parse`) on arbitrary bytes, for
//! both endpoints (the first byte picks chat or completions): Ok or a precise error, never a
//! panic, and what it accepts keeps its limits.

use worker_orcd::admission::PromptInput;
use worker_orcd::server::openai::request::{self, Kind, Limits, MAX_LOGIT_BIAS, MAX_MESSAGES, MAX_STOP_SEQUENCES};

const LIMITS: Limits = Limits { vocab_size: 49_152, max_tokens_out: 512 };

pub fn check(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else { return };
    let kind = if pick & 1 == 0 { Kind::Chat } else { Kind::Completions };
    if let Ok(req) = request::parse(body, kind, &LIMITS, "fuzz-job".to_string()) {
        let a = &req.admission;
        assert!(a.stop.len() <= MAX_STOP_SEQUENCES);
        assert!(a.max_tokens.is_none_or(|m| m >= 1 && m <= LIMITS.max_tokens_out));
        assert!(a.logit_bias.len() <= MAX_LOGIT_BIAS);
        assert!(a.logit_bias.iter().all(|&(id, _)| id >= 0 && (id as u32) < LIMITS.vocab_size));
        if let PromptInput::Messages(m) = &a.input {
            assert!(kind == Kind::Chat && m.len() <= MAX_MESSAGES);
        }
    }
}
