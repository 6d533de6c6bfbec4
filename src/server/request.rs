//! POST /execute body → an AdmissionRequest. Every field is checked for type and range, unknown
//! fields are refused, and each refusal names the field (.specs/http-api.md lists the rules).
//! Rendering, tokenizing and the token budget follow in admission.rs.

use serde_json::{Map, Value};

use super::error::ApiError;
use super::strict_json;
use crate::admission::{AdmissionRequest, BudgetRule, PromptInput, MAX_PROMPT_CHARS};
use crate::chat::ChatMessage;
use crate::engine::job::Endpoint;
use crate::ffi::SamplerParams;
pub const MAX_STOP_SEQUENCES: usize = 4;
pub const MAX_JOB_ID_BYTES: usize = 256;

pub const MAX_MESSAGES: usize = 256;

const FIELDS: &[&str] =
    &["job_id", "prompt", "messages", "max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "stop", "seed"];

/// Limits that come from the worker's configuration and model.
pub struct Limits {
    pub max_tokens: u32,
    pub vocab_size: u32,
}

pub fn parse(body: &[u8], limits: &Limits) -> Result<AdmissionRequest, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::invalid("body", "the request body is empty; send a JSON object"));
    }
    let value = strict_json::parse(body).map_err(|e| ApiError::invalid(e.field(), e.message()))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid("body", "the body must be a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(unknown, format!("unknown field '{unknown}' (accepted: {})", FIELDS.join(", "))));
    }

    let job_id = required_string(&obj, "job_id")?;
    if job_id.len() > MAX_JOB_ID_BYTES {
        return Err(ApiError::invalid("job_id", format!("must be at most {MAX_JOB_ID_BYTES} bytes")));
    }
    if job_id.chars().any(char::is_control) {
        return Err(ApiError::invalid("job_id", "must not contain control characters"));
    }
    let given = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    let input = match (given("prompt"), given("messages")) {
        (true, true) => return Err(ApiError::invalid("messages", "give either `prompt` or `messages`, not both")),
        (false, true) => PromptInput::Messages(parse_messages(&obj["messages"])?),
        _ => {
            let prompt = required_string(&obj, "prompt")?;
            let chars = prompt.chars().count();
            if chars > MAX_PROMPT_CHARS {
                return Err(ApiError::invalid("prompt", format!("has {chars} characters; the limit is {MAX_PROMPT_CHARS}")));
            }
            PromptInput::Text(prompt)
        }
    };

    let max_tokens = match obj.get("max_tokens") {
        None => None,
        Some(v) => {
            let n = integer(v, "max_tokens")?;
            if n < 1 || n > limits.max_tokens as i128 {
                return Err(ApiError::invalid("max_tokens", format!("must be between 1 and {}", limits.max_tokens)));
            }
            Some(n as u32)
        }
    };
    let temperature = number(&obj, "temperature", 1.0, |x| (0.0..=2.0).contains(&x), "must be between 0.0 and 2.0")?;
    let top_p = number(&obj, "top_p", 1.0, |x| x > 0.0 && x <= 1.0, "must be greater than 0 and at most 1")?;
    let min_p = number(&obj, "min_p", 0.0, |x| (0.0..1.0).contains(&x), "must be at least 0 and less than 1")?;
    let repetition_penalty =
        number(&obj, "repetition_penalty", 1.0, |x| x > 0.0 && x <= 2.0, "must be greater than 0 and at most 2")?;
    let top_k = match obj.get("top_k") {
        None => 0,
        Some(v) => {
            let k = integer(v, "top_k")?;
            if k < 0 || k > limits.vocab_size as i128 {
                return Err(ApiError::invalid("top_k", format!("must be between 0 (off) and the vocabulary size {}", limits.vocab_size)));
            }
            k as i32
        }
    };
    let stop = match obj.get("stop") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_STOP_SEQUENCES {
                return Err(ApiError::invalid("stop", format!("at most {MAX_STOP_SEQUENCES} stop sequences")));
            }
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if !s.is_empty() => out.push(s.clone()),
                    Value::String(_) => return Err(ApiError::invalid("stop", "stop sequences must not be empty")),
                    _ => return Err(ApiError::invalid("stop", "must be an array of strings")),
                }
            }
            out
        }
        Some(_) => return Err(ApiError::invalid("stop", "must be an array of strings")),
    };
    let seed = match obj.get("seed") {
        None => rand::random::<u64>(),
        Some(v) => {
            let s = integer(v, "seed")?;
            if !(0..=u64::MAX as i128).contains(&s) {
                return Err(ApiError::invalid("seed", "must be an integer between 0 and 2^64-1"));
            }
            s as u64
        }
    };
    Ok(AdmissionRequest {
        job_id,
        input,
        max_tokens,
        sampling: SamplerParams { temperature, top_k, top_p, min_p, repetition_penalty, seed, presence_penalty: 0.0, frequency_penalty: 0.0 },
        logit_bias: Vec::new(),
        stop,
        logprobs: None,
        endpoint: Endpoint::Execute,
        budget: BudgetRule::Execute,
    })
}

/// `[{"role": "...", "content": "..."}, ...]`: 1 to MAX_MESSAGES messages, each with a non-empty
/// role and a string content and nothing else, at most MAX_PROMPT_CHARS characters of content in
/// all.
fn parse_messages(v: &Value) -> Result<Vec<ChatMessage>, ApiError> {
    let Value::Array(items) = v else {
        return Err(ApiError::invalid("messages", "must be an array of {\"role\", \"content\"} objects"));
    };
    if items.is_empty() || items.len() > MAX_MESSAGES {
        return Err(ApiError::invalid("messages", format!("must hold 1 to {MAX_MESSAGES} messages")));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut chars = 0;
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(ApiError::invalid(format!("messages[{i}]"), "must be an object with \"role\" and \"content\""));
        };
        if let Some(unknown) = m.keys().find(|k| *k != "role" && *k != "content") {
            return Err(ApiError::invalid(format!("messages[{i}].{unknown}"), format!("unknown field '{unknown}' (accepted: role, content)")));
        }
        let role = match m.get("role") {
            Some(Value::String(r)) if !r.is_empty() => r.clone(),
            Some(Value::String(_)) => return Err(ApiError::invalid(format!("messages[{i}].role"), "must not be empty")),
            None | Some(Value::Null) => return Err(ApiError::invalid(format!("messages[{i}].role"), "is required")),
            Some(_) => return Err(ApiError::invalid(format!("messages[{i}].role"), "must be a string")),
        };
        let content = match m.get("content") {
            Some(Value::String(c)) => c.clone(),
            None | Some(Value::Null) => return Err(ApiError::invalid(format!("messages[{i}].content"), "is required")),
            Some(_) => return Err(ApiError::invalid(format!("messages[{i}].content"), "must be a string")),
        };
        chars += content.chars().count();
        out.push(ChatMessage { role, content });
    }
    if chars > MAX_PROMPT_CHARS {
        return Err(ApiError::invalid("messages", format!("hold {chars} characters of content; the limit is {MAX_PROMPT_CHARS}")));
    }
    Ok(out)
}

fn required_string(obj: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(ApiError::invalid(field, "is required")),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::invalid(field, "must not be empty")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::invalid(field, "must be a string")),
    }
}

/// A JSON integer (not a float, not a string), wide enough for any u64.
fn integer(v: &Value, field: &str) -> Result<i128, ApiError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| ApiError::invalid(field, "must be an integer")),
        _ => Err(ApiError::invalid(field, "must be an integer")),
    }
}

fn number(obj: &Map<String, Value>, field: &str, default: f32, ok: impl Fn(f64) -> bool, rule: &str) -> Result<f32, ApiError> {
    match obj.get(field) {
        None => Ok(default),
        Some(Value::Number(n)) => {
            // Checked as the f32 the sampler gets: 1e-50 is above 0 as an f64 but 0 as an f32.
            let x = n.as_f64().ok_or_else(|| ApiError::invalid(field, "must be a number"))? as f32 as f64;
            if ok(x) {
                Ok(x as f32 + 0.0) // -0.0 reads as 0
            } else {
                Err(ApiError::invalid(field, format!("{rule} (got {x})")))
            }
        }
        Some(_) => Err(ApiError::invalid(field, "must be a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_tokens: 2048, vocab_size: 49152 };
    fn parse(body: &[u8], limits: &Limits) -> Result<AdmissionRequest, ApiError> {
        super::parse(body, limits)
    }

    fn field_of(body: &str) -> String {
        let e = parse(body.as_bytes(), &LIMITS).unwrap_err();
        assert_eq!(e.code, "INVALID_REQUEST");
        e.field.unwrap()
    }

    #[test]
    fn accepts_a_full_request_and_applies_defaults() {
        let s = parse(br#"{"job_id":"a","prompt":"hi","max_tokens":5,"temperature":0.7,"top_p":0.9,"top_k":40,"min_p":0.05,"repetition_penalty":1.1,"stop":["\n"],"seed":18446744073709551615}"#, &LIMITS).unwrap();
        assert_eq!((s.max_tokens, s.sampling.top_k, s.sampling.seed, s.stop.len()), (Some(5), 40, u64::MAX, 1));
        let d = parse(br#"{"job_id":"a","prompt":"hi"}"#, &LIMITS).unwrap();
        assert_eq!((d.max_tokens, d.sampling.temperature, d.sampling.top_p, d.sampling.top_k), (None, 1.0, 1.0, 0));
        assert!(matches!(d.input, PromptInput::Text(ref t) if t == "hi"));
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let cases = [
            (r#"{"prompt":"x"}"#, "job_id"),
            (r#"{"job_id":"","prompt":"x"}"#, "job_id"),
            (r#"{"job_id":7,"prompt":"x"}"#, "job_id"),
            (r#"{"job_id":"a"}"#, "prompt"),
            (r#"{"job_id":"a","prompt":""}"#, "prompt"),
            (r#"{"job_id":"a","prompt":"x","max_tokens":0}"#, "max_tokens"),
            (r#"{"job_id":"a","prompt":"x","max_tokens":2049}"#, "max_tokens"),
            (r#"{"job_id":"a","prompt":"x","max_tokens":1.5}"#, "max_tokens"),
            (r#"{"job_id":"a","prompt":"x","max_tokens":"5"}"#, "max_tokens"),
            (r#"{"job_id":"a","prompt":"x","temperature":2.5}"#, "temperature"),
            (r#"{"job_id":"a","prompt":"x","temperature":-0.1}"#, "temperature"),
            (r#"{"job_id":"a","prompt":"x","top_p":0}"#, "top_p"),
            (r#"{"job_id":"a","prompt":"x","top_p":1.01}"#, "top_p"),
            (r#"{"job_id":"a","prompt":"x","top_k":-1}"#, "top_k"),
            (r#"{"job_id":"a","prompt":"x","top_k":49153}"#, "top_k"),
            (r#"{"job_id":"a","prompt":"x","min_p":1}"#, "min_p"),
            (r#"{"job_id":"a","prompt":"x","repetition_penalty":0}"#, "repetition_penalty"),
            (r#"{"job_id":"a","prompt":"x","repetition_penalty":2.5}"#, "repetition_penalty"),
            (r#"{"job_id":"a","prompt":"x","stop":"x"}"#, "stop"),
            (r#"{"job_id":"a","prompt":"x","stop":["a","b","c","d","e"]}"#, "stop"),
            (r#"{"job_id":"a","prompt":"x","stop":[""]}"#, "stop"),
            (r#"{"job_id":"a","prompt":"x","stop":[1]}"#, "stop"),
            (r#"{"job_id":"a","prompt":"x","seed":-1}"#, "seed"),
            (r#"{"job_id":"a","prompt":"x","seed":"1"}"#, "seed"),
            (r#"{"job_id":"a","prompt":"x","temprature":1}"#, "temprature"),
            (r#"{"job_id":"a","prompt":"x","messages":[{"role":"user","content":"x"}]}"#, "messages"),
            (r#"{"job_id":"a","messages":[]}"#, "messages"),
            (r#"{"job_id":"a","messages":"hi"}"#, "messages"),
            (r#"{"job_id":"a","messages":["hi"]}"#, "messages[0]"),
            (r#"{"job_id":"a","messages":[{"content":"x"}]}"#, "messages[0].role"),
            (r#"{"job_id":"a","messages":[{"role":"","content":"x"}]}"#, "messages[0].role"),
            (r#"{"job_id":"a","messages":[{"role":"user","content":"x"},{"role":"user"}]}"#, "messages[1].content"),
            (r#"{"job_id":"a","messages":[{"role":"user","content":3}]}"#, "messages[0].content"),
            (r#"{"job_id":"a","messages":[{"role":"user","content":"x","name":"bob"}]}"#, "messages[0].name"),
            (r#"[1,2]"#, "body"),
            (r#"{"job_id":"a""#, "body"),
            ("  ", "body"),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(body), field, "{body}");
        }
        let long = format!(r#"{{"job_id":"a","prompt":"{}"}}"#, "é".repeat(MAX_PROMPT_CHARS + 1));
        assert_eq!(field_of(&long), "prompt");
        let ok = format!(r#"{{"job_id":"a","prompt":"{}"}}"#, "é".repeat(MAX_PROMPT_CHARS));
        assert!(parse(ok.as_bytes(), &LIMITS).is_ok());
    }

    #[test]
    fn duplicate_keys_are_refused_naming_their_path() {
        let e = parse(br#"{"job_id":"a","job_id":"b","prompt":"x"}"#, &LIMITS).unwrap_err();
        assert_eq!((e.field.as_deref(), e.code), (Some("job_id"), "INVALID_REQUEST"));
        assert!(e.message.contains("duplicate key"), "{}", e.message);
        assert_eq!(field_of(r#"{"job_id":"a","messages":[{"role":"user","content":"x"},{"role":"user","role":"system","content":"y"}]}"#), "messages[1].role");
    }

    /// Every numeric field at the edges of its type. `None`: accepted.
    #[test]
    fn numeric_edges_are_refused_naming_the_field_or_accepted_in_range() {
        let ints = ["max_tokens", "top_k", "seed"];
        let floats = ["temperature", "top_p", "min_p", "repetition_penalty"];
        let refused_everywhere = ["-1", "1e308", "-1e308", "1e400", "-1e400", "18446744073709551616", "-9223372036854775809"];
        for field in ints.iter().chain(&floats) {
            for v in refused_everywhere {
                let body = format!(r#"{{"job_id":"a","prompt":"x","{field}":{v}}}"#);
                assert_eq!(field_of(&body), *field, "{body}");
            }
        }
        // Integers must be JSON integers: 5.0 and -0.0 are floats.
        for field in ints {
            for v in ["5.0", "-0.0", "0.0", "1.5"] {
                assert_eq!(field_of(&format!(r#"{{"job_id":"a","prompt":"x","{field}":{v}}}"#)), field);
            }
        }
        let ok = |field: &str, v: &str| parse(format!(r#"{{"job_id":"a","prompt":"x","{field}":{v}}}"#).as_bytes(), &LIMITS);
        let refused = |field: &str, v: &str| assert_eq!(field_of(&format!(r#"{{"job_id":"a","prompt":"x","{field}":{v}}}"#)), field, "{field}={v}");
        refused("max_tokens", "0");
        assert_eq!(ok("max_tokens", "2048").unwrap().max_tokens, Some(2048));
        assert_eq!(ok("top_k", "0").unwrap().sampling.top_k, 0);
        assert_eq!(ok("top_k", "49152").unwrap().sampling.top_k, 49152);
        assert_eq!(ok("seed", "0").unwrap().sampling.seed, 0);
        assert_eq!(ok("seed", "18446744073709551615").unwrap().sampling.seed, u64::MAX);
        // -0.0 is 0 where 0 is allowed; a value that is 0 as the sampler's f32 is 0.
        let t = ok("temperature", "-0.0").unwrap().sampling.temperature;
        assert!(t == 0.0 && t.is_sign_positive());
        assert_eq!(ok("min_p", "-0.0").unwrap().sampling.min_p, 0.0);
        assert_eq!(ok("temperature", "1e-400").unwrap().sampling.temperature, 0.0);
        for (field, v) in [("top_p", "-0.0"), ("top_p", "0"), ("top_p", "1e-50"), ("repetition_penalty", "-0.0"), ("repetition_penalty", "1e-50")] {
            refused(field, v);
        }
        assert_eq!(ok("top_p", "1e-30").unwrap().sampling.top_p, 1e-30);
        assert_eq!(ok("temperature", "2").unwrap().sampling.temperature, 2.0);
        refused("temperature", "2.001");
    }
}
