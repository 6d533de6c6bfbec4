//! The `/execute` body parser and validator (`server::request::parse`) on arbitrary bytes: it
//! must answer Ok or a precise error, never panic, and what it accepts must keep its limits.

use worker_orcd::admission::PromptInput;
use worker_orcd::server::request::{self, Limits, MAX_JOB_ID_BYTES, MAX_MESSAGES, MAX_STOP_SEQUENCES};

const LIMITS: Limits = Limits { max_tokens: 512, vocab_size: 49_152 };

pub fn check(data: &[u8]) {
    if let Ok(req) = request::parse(data, &LIMITS) {
        assert!(!req.job_id.is_empty() && req.job_id.len() <= MAX_JOB_ID_BYTES);
        assert!(req.stop.len() <= MAX_STOP_SEQUENCES);
        assert!(req.max_tokens.is_none_or(|m| m <= LIMITS.max_tokens));
        if let PromptInput::Messages(m) = &req.input {
            assert!(m.len() <= MAX_MESSAGES);
        }
    }
}
