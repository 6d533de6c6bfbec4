//! `/v1/chat/completions` and `/v1/completions` bodies → an AdmissionRequest plus the response
//! options. The fields and their rules are .specs/openai-api.md's tables.

use serde_json::Value;

use super::error::OpenAiError;
use super::fields::Fields;
use crate::admission::{AdmissionRequest, BudgetRule, PromptInput, MAX_PROMPT_CHARS};
use crate::chat::ChatMessage;
use crate::engine::job::Endpoint;
use crate::engine::logprobs::MAX_TOP_LOGPROBS;
use crate::ffi::SamplerParams;
use crate::server::strict_json::{self, JsonError};

pub const MAX_STOP_SEQUENCES: usize = 4;
pub const MAX_MESSAGES: usize = 256;
pub const MAX_LOGIT_BIAS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completions,
}

impl Kind {
    pub fn endpoint(self) -> Endpoint {
        match self {
            Kind::Chat => Endpoint::ChatCompletions,
            Kind::Completions => Endpoint::Completions,
        }
    }
}

#[derive(Debug)]
pub struct OpenAiRequest {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub admission: AdmissionRequest,
}

const COMMON: &[&str] = &[
    "model", "max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "logit_bias", "n",
    "stream", "stream_options", "user", "top_k", "min_p", "repetition_penalty", "metadata", "store", "service_tier", "logprobs",
];
const CHAT_ONLY: &[&str] = &[
    "messages", "max_completion_tokens", "top_logprobs", "tools", "tool_choice", "functions", "function_call", "response_format",
    "audio", "modalities", "prediction", "web_search_options", "reasoning_effort", "parallel_tool_calls",
];
const COMPLETIONS_ONLY: &[&str] = &["prompt", "echo", "best_of", "suffix"];

/// What a request may name: vocabulary size and --max-tokens-out.
pub struct Limits {
    pub vocab_size: u32,
    pub max_tokens_out: u32,
}

pub fn parse(body: &[u8], kind: Kind, limits: &Limits, job_id: String) -> Result<OpenAiRequest, OpenAiError> {
    let value = strict_json::parse(body).map_err(|e| match e {
        JsonError::Syntax(_) => OpenAiError::invalid("invalid_json", "body", e.message()),
        _ => OpenAiError::value(e.field(), e.message()),
    })?;
    let Value::Object(obj) = value else {
        return Err(OpenAiError::invalid("invalid_json", "body", "the body must be a JSON object"));
    };
    let f = Fields::new(&obj);
    let known: Vec<&str> = COMMON.iter().chain(if kind == Kind::Chat { CHAT_ONLY } else { COMPLETIONS_ONLY }).copied().collect();
    f.only(&known)?;
    let model = f.required_string("model")?.to_string();

    let input = match kind {
        Kind::Chat => PromptInput::Messages(messages(&f)?),
        Kind::Completions => prompt(&f, limits)?,
    };
    refuse_unsupported(&f, kind)?;

    let max_tokens = {
        let a = f.integer("max_tokens", 1, limits.max_tokens_out as i128)?;
        let b = if kind == Kind::Chat { f.integer("max_completion_tokens", 1, limits.max_tokens_out as i128)? } else { None };
        match (a, b) {
            (Some(a), Some(b)) if a != b => {
                return Err(OpenAiError::value("max_tokens", "'max_tokens' and 'max_completion_tokens' differ; give one"));
            }
            (a, b) => a.or(b).map(|n| n as u32),
        }
    };
    let d = SamplerParams::default();
    let temperature = f.number("temperature", |x| (0.0..=2.0).contains(&x), "must be between 0 and 2")?.unwrap_or(1.0);
    let top_p = f.number("top_p", |x| x > 0.0 && x <= 1.0, "must be greater than 0 and at most 1")?.unwrap_or(d.top_p);
    let min_p = f.number("min_p", |x| (0.0..1.0).contains(&x), "must be at least 0 and less than 1")?.unwrap_or(d.min_p);
    let repetition_penalty =
        f.number("repetition_penalty", |x| x > 0.0 && x <= 2.0, "must be greater than 0 and at most 2")?.unwrap_or(d.repetition_penalty);
    let penalty = |key| f.number(key, |x| (-2.0..=2.0).contains(&x), "must be between -2 and 2").map(|v| v.unwrap_or(0.0));
    let presence_penalty = penalty("presence_penalty")?;
    let frequency_penalty = penalty("frequency_penalty")?;
    let top_k = match f.integer("top_k", -1, limits.vocab_size as i128)? {
        None | Some(-1) | Some(0) => 0,
        Some(k) => k as i32,
    };
    // OpenAI's seeds are signed 64-bit; ours are their two's complement.
    let seed = match f.integer("seed", i64::MIN as i128, u64::MAX as i128)? {
        None => rand::random::<u64>(),
        Some(s) if s < 0 => s as i64 as u64,
        Some(s) => s as u64,
    };
    let stop = stop(&f)?;
    let logit_bias = logit_bias(&f, limits.vocab_size)?;
    let logprobs = match kind {
        Kind::Chat => {
            let on = f.boolean("logprobs")?.unwrap_or(false);
            let top = f.integer("top_logprobs", 0, MAX_TOP_LOGPROBS as i128)?;
            if top.is_some() && !on {
                return Err(OpenAiError::value("top_logprobs", "'top_logprobs' needs 'logprobs': true"));
            }
            on.then(|| top.unwrap_or(0) as u32)
        }
        Kind::Completions => f.integer("logprobs", 0, MAX_TOP_LOGPROBS as i128)?.map(|n| n as u32),
    };
    let stream = f.boolean("stream")?.unwrap_or(false);
    let include_usage = match f.get("stream_options") {
        None => false,
        Some(_) if !stream => return Err(OpenAiError::value("stream_options", "'stream_options' is only allowed with 'stream': true")),
        Some(Value::Object(o)) => {
            let so = Fields::new(o);
            so.only(&["include_usage"]).map_err(|e| OpenAiError { param: e.param.map(|p| format!("stream_options.{p}")), ..e })?;
            so.boolean("include_usage").map_err(|e| OpenAiError { param: Some("stream_options.include_usage".into()), ..e })?.unwrap_or(false)
        }
        Some(_) => return Err(OpenAiError::value("stream_options", "'stream_options' must be an object")),
    };
    if f.integer("n", 1, i64::MAX as i128).map_err(|_| OpenAiError::value("n", "'n' must be a positive integer"))?.is_some_and(|n| n != 1) {
        return Err(OpenAiError::unsupported("n", "'n' must be 1: one choice per request is served"));
    }
    f.string("user")?;
    if f.get("metadata").is_some_and(|m| !m.is_object()) {
        return Err(OpenAiError::value("metadata", "'metadata' must be an object"));
    }
    if f.boolean("store")? == Some(true) {
        return Err(OpenAiError::unsupported("store", "'store': true is not supported: completions are not stored"));
    }
    if let Some(tier) = f.string("service_tier")? {
        if tier != "auto" && tier != "default" {
            return Err(OpenAiError::unsupported("service_tier", format!("service tier '{tier}' is not offered (auto, default)")));
        }
    }
    Ok(OpenAiRequest {
        model,
        stream,
        include_usage,
        admission: AdmissionRequest {
            job_id,
            input,
            max_tokens,
            sampling: SamplerParams { temperature, top_k, top_p, min_p, repetition_penalty, seed, presence_penalty, frequency_penalty },
            logit_bias,
            stop,
            logprobs,
            endpoint: kind.endpoint(),
            budget: BudgetRule::Strict,
        },
    })
}

/// Fields that would change the output in ways we do not serve: a 400 naming them.
fn refuse_unsupported(f: &Fields, kind: Kind) -> Result<(), OpenAiError> {
    match kind {
        Kind::Chat => {
            let empty_array = |v: &Value| v.as_array().is_some_and(|a| a.is_empty());
            f.refuse_unless("tools", empty_array, "tool calling is not served")?;
            f.refuse_unless("tool_choice", |v| v == "none", "tool calling is not served (only \"none\")")?;
            f.refuse_unless("functions", empty_array, "function calling is not served")?;
            f.refuse_unless("function_call", |v| v == "none", "function calling is not served (only \"none\")")?;
            f.refuse_unless("response_format", |v| v.get("type").is_some_and(|t| t == "text") && v.as_object().is_some_and(|o| o.len() == 1), "only {\"type\": \"text\"} is served")?;
            f.refuse_unless("audio", |_| false, "audio output is not served")?;
            f.refuse_unless("modalities", |v| v.as_array().is_some_and(|a| a.iter().all(|m| m == "text")), "only [\"text\"] is served")?;
            f.refuse_unless("prediction", |_| false, "predicted outputs are not served")?;
            f.refuse_unless("web_search_options", |_| false, "web search is not served")?;
            f.refuse_unless("reasoning_effort", |_| false, "reasoning effort is not a setting of this model")?;
            f.refuse_unless("parallel_tool_calls", |v| v.is_boolean(), "must be a boolean (no tools are served)")?;
        }
        Kind::Completions => {
            f.refuse_unless("echo", |v| v == false, "echoing the prompt is not served")?;
            f.refuse_unless("best_of", |v| v == 1, "'best_of' must be 1")?;
            f.refuse_unless("suffix", |_| false, "insertion (suffix) is not served")?;
        }
    }
    Ok(())
}

/// Chat messages: roles system / developer (as system) / user / assistant, content a string or
/// text parts.
fn messages(f: &Fields) -> Result<Vec<ChatMessage>, OpenAiError> {
    let Some(v) = f.get("messages") else {
        return Err(OpenAiError::invalid("missing_required_parameter", "messages", "'messages' is required"));
    };
    let Value::Array(items) = v else {
        return Err(OpenAiError::value("messages", "'messages' must be an array of message objects"));
    };
    if items.is_empty() || items.len() > MAX_MESSAGES {
        return Err(OpenAiError::value("messages", format!("'messages' must hold 1 to {MAX_MESSAGES} messages")));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut chars = 0;
    for (i, item) in items.iter().enumerate() {
        let at = |k: &str| format!("messages[{i}].{k}");
        let Value::Object(m) = item else {
            return Err(OpenAiError::value(format!("messages[{i}]"), "each message must be an object with 'role' and 'content'"));
        };
        for (k, v) in m {
            match k.as_str() {
                "role" | "content" => {}
                "name" | "tool_calls" | "tool_call_id" | "refusal" | "audio" | "function_call" if v.is_null() => {}
                "tool_calls" if v.as_array().is_some_and(|a| a.is_empty()) => {}
                "name" | "tool_calls" | "tool_call_id" | "refusal" | "audio" | "function_call" => {
                    return Err(OpenAiError::unsupported(at(k), format!("'{k}' in a message is not supported")));
                }
                _ => return Err(OpenAiError::invalid("unknown_parameter", at(k), format!("Unrecognized message field: {k}"))),
            }
        }
        let role = match m.get("role") {
            Some(Value::String(r)) => match r.as_str() {
                "system" | "user" | "assistant" => r.clone(),
                "developer" => "system".to_string(),
                "tool" | "function" => return Err(OpenAiError::unsupported(at("role"), format!("role '{r}' is not supported (no tool calling)"))),
                _ => return Err(OpenAiError::value(at("role"), format!("unknown role '{r}' (system, developer, user, assistant)"))),
            },
            None | Some(Value::Null) => return Err(OpenAiError::invalid("missing_required_parameter", at("role"), "'role' is required")),
            Some(_) => return Err(OpenAiError::value(at("role"), "'role' must be a string")),
        };
        let content = match m.get("content") {
            Some(Value::String(c)) => c.clone(),
            Some(Value::Array(parts)) => {
                let mut text = String::new();
                for (j, part) in parts.iter().enumerate() {
                    let param = format!("messages[{i}].content[{j}]");
                    match part.get("type").and_then(Value::as_str) {
                        Some("text") => match (part.get("text"), part.as_object().map(|o| o.len())) {
                            (Some(Value::String(t)), Some(2)) => text.push_str(t),
                            _ => return Err(OpenAiError::value(param, "a text part is {\"type\": \"text\", \"text\": string}")),
                        },
                        Some(other) => return Err(OpenAiError::unsupported(param, format!("content parts of type '{other}' are not supported (text only)"))),
                        None => return Err(OpenAiError::value(param, "a content part needs a 'type'")),
                    }
                }
                text
            }
            None | Some(Value::Null) => return Err(OpenAiError::invalid("missing_required_parameter", at("content"), "'content' is required")),
            Some(_) => return Err(OpenAiError::value(at("content"), "'content' must be a string or an array of text parts")),
        };
        chars += content.chars().count();
        out.push(ChatMessage { role, content });
    }
    if chars > MAX_PROMPT_CHARS {
        return Err(OpenAiError::value("messages", format!("the messages hold {chars} characters of content; the limit is {MAX_PROMPT_CHARS}")));
    }
    Ok(out)
}

/// A completion prompt: a string, an array of one string, or an array of token ids.
fn prompt(f: &Fields, limits: &Limits) -> Result<PromptInput, OpenAiError> {
    let text = |s: &str| -> Result<PromptInput, OpenAiError> {
        if s.is_empty() {
            return Err(OpenAiError::value("prompt", "'prompt' must not be empty"));
        }
        let chars = s.chars().count();
        if chars > MAX_PROMPT_CHARS {
            return Err(OpenAiError::value("prompt", format!("the prompt has {chars} characters; the limit is {MAX_PROMPT_CHARS}")));
        }
        Ok(PromptInput::Text(s.to_string()))
    };
    match f.get("prompt") {
        None => Err(OpenAiError::invalid("missing_required_parameter", "prompt", "'prompt' is required")),
        Some(Value::String(s)) => text(s),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::String(s)] => text(s),
            [] => Err(OpenAiError::value("prompt", "'prompt' must not be empty")),
            items if items.iter().all(Value::is_number) => {
                let ids = items
                    .iter()
                    .map(|v| v.as_u64().filter(|&t| t < limits.vocab_size as u64).map(|t| t as u32))
                    .collect::<Option<Vec<u32>>>()
                    .ok_or_else(|| OpenAiError::value("prompt", format!("token ids must be integers in [0, {})", limits.vocab_size)))?;
                Ok(PromptInput::Tokens(ids))
            }
            items if items.iter().all(Value::is_string) => {
                Err(OpenAiError::unsupported("prompt", "one prompt per request: an array of several prompts is not served"))
            }
            _ => Err(OpenAiError::value("prompt", "'prompt' must be a string, an array of one string, or an array of token ids")),
        },
        Some(_) => Err(OpenAiError::value("prompt", "'prompt' must be a string, an array of one string, or an array of token ids")),
    }
}

fn stop(f: &Fields) -> Result<Vec<String>, OpenAiError> {
    let one = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::String(_) => Err(OpenAiError::value("stop", "stop sequences must not be empty")),
        _ => Err(OpenAiError::value("stop", "'stop' must be a string or an array of strings")),
    };
    match f.get("stop") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() > MAX_STOP_SEQUENCES => {
            Err(OpenAiError::value("stop", format!("at most {MAX_STOP_SEQUENCES} stop sequences")))
        }
        Some(Value::Array(items)) => items.iter().map(one).collect(),
        Some(v) => Ok(vec![one(v)?]),
    }
}

/// `{"<token id>": bias}` with ids in the vocabulary and biases in [-100, 100].
fn logit_bias(f: &Fields, vocab: u32) -> Result<Vec<(i32, f32)>, OpenAiError> {
    let Some(v) = f.get("logit_bias") else { return Ok(Vec::new()) };
    let Value::Object(map) = v else {
        return Err(OpenAiError::value("logit_bias", "'logit_bias' must be an object of token id to bias"));
    };
    if map.len() > MAX_LOGIT_BIAS {
        return Err(OpenAiError::value("logit_bias", format!("at most {MAX_LOGIT_BIAS} entries")));
    }
    let mut out = Vec::with_capacity(map.len());
    for (k, b) in map {
        let id = k
            .parse::<u32>()
            .ok()
            .filter(|&t| t < vocab)
            .ok_or_else(|| OpenAiError::value("logit_bias", format!("'{k}' is not a token id in [0, {vocab})")))?;
        let bias = b
            .as_f64()
            .filter(|x| (-100.0..=100.0).contains(x))
            .ok_or_else(|| OpenAiError::value("logit_bias", format!("the bias of token {k} must be a number between -100 and 100")))?;
        out.push((id as i32, bias as f32));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { vocab_size: 49152, max_tokens_out: 2048 };

    fn chat(body: &str) -> Result<OpenAiRequest, OpenAiError> {
        parse(body.as_bytes(), Kind::Chat, &LIMITS, "chatcmpl-x".into())
    }

    fn completions(body: &str) -> Result<OpenAiRequest, OpenAiError> {
        parse(body.as_bytes(), Kind::Completions, &LIMITS, "cmpl-x".into())
    }

    const MSG: &str = r#""model":"m","messages":[{"role":"user","content":"hi"}]"#;

    #[test]
    fn a_full_chat_request_reads_every_field() {
        let r = chat(&format!(
            r#"{{{MSG},"max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"stop":"\n","seed":-1,"presence_penalty":0.5,
            "frequency_penalty":-0.5,"logit_bias":{{"42":-100,"7":2.5}},"n":1,"stream":true,"stream_options":{{"include_usage":true}},
            "user":"u","top_k":-1,"min_p":0.1,"repetition_penalty":1.1,"logprobs":true,"top_logprobs":3,"tools":[],
            "response_format":{{"type":"text"}},"tool_choice":"none","metadata":{{"a":"b"}},"store":false}}"#
        ))
        .unwrap();
        let a = &r.admission;
        assert_eq!((r.model.as_str(), r.stream, r.include_usage), ("m", true, true));
        assert_eq!((a.max_tokens, a.sampling.seed, a.sampling.top_k, a.logprobs), (Some(7), u64::MAX, 0, Some(3)));
        assert_eq!((a.sampling.presence_penalty, a.sampling.frequency_penalty), (0.5, -0.5));
        assert_eq!(a.stop, ["\n"]);
        assert_eq!(a.logit_bias.len(), 2);
        assert_eq!(a.budget, BudgetRule::Strict);
    }

    #[test]
    fn content_parts_join_and_developer_is_system() {
        let r = chat(r#"{"model":"m","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#).unwrap();
        let PromptInput::Messages(m) = r.admission.input else { panic!() };
        assert_eq!((m[0].role.as_str(), m[1].content.as_str()), ("system", "ab"));
    }

    #[test]
    fn completions_take_a_string_one_string_or_token_ids() {
        assert!(matches!(completions(r#"{"model":"m","prompt":["hi"]}"#).unwrap().admission.input, PromptInput::Text(ref t) if t == "hi"));
        assert!(matches!(completions(r#"{"model":"m","prompt":[1,2,3]}"#).unwrap().admission.input, PromptInput::Tokens(ref t) if t == &[1, 2, 3]));
        assert_eq!(completions(r#"{"model":"m","prompt":"x","logprobs":2}"#).unwrap().admission.logprobs, Some(2));
    }

    #[test]
    fn each_bad_or_unsupported_field_is_named() {
        let chat_cases = [
            (r#"{"messages":[{"role":"user","content":"hi"}]}"#, "model", "missing_required_parameter"),
            (r#"{"model":"m"}"#, "messages", "missing_required_parameter"),
            (&format!(r#"{{{MSG},"temperature":3}}"#), "temperature", "invalid_value"),
            (&format!(r#"{{{MSG},"top_p":0}}"#), "top_p", "invalid_value"),
            (&format!(r#"{{{MSG},"n":2}}"#), "n", "unsupported_parameter"),
            (&format!(r#"{{{MSG},"tools":[{{"type":"function"}}]}}"#), "tools", "unsupported_parameter"),
            (&format!(r#"{{{MSG},"response_format":{{"type":"json_object"}}}}"#), "response_format", "unsupported_parameter"),
            (&format!(r#"{{{MSG},"logit_bias":{{"49152":1}}}}"#), "logit_bias", "invalid_value"),
            (&format!(r#"{{{MSG},"logit_bias":{{"1":101}}}}"#), "logit_bias", "invalid_value"),
            (&format!(r#"{{{MSG},"max_tokens":0}}"#), "max_tokens", "invalid_value"),
            (&format!(r#"{{{MSG},"max_tokens":3,"max_completion_tokens":4}}"#), "max_tokens", "invalid_value"),
            (&format!(r#"{{{MSG},"frobnicate":1}}"#), "frobnicate", "unknown_parameter"),
            (&format!(r#"{{{MSG},"top_logprobs":2}}"#), "top_logprobs", "invalid_value"),
            (&format!(r#"{{{MSG},"top_logprobs":21,"logprobs":true}}"#), "top_logprobs", "invalid_value"),
            (&format!(r#"{{{MSG},"stream_options":{{"include_usage":true}}}}"#), "stream_options", "invalid_value"),
            (&format!(r#"{{{MSG},"stop":["a","b","c","d","e"]}}"#), "stop", "invalid_value"),
            (&format!(r#"{{{MSG},"presence_penalty":2.5}}"#), "presence_penalty", "invalid_value"),
            (&format!(r#"{{{MSG},"seed":1.5}}"#), "seed", "invalid_value"),
            (&format!(r#"{{{MSG},"store":true}}"#), "store", "unsupported_parameter"),
            (r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#, "messages[0].content[0]", "unsupported_parameter"),
            (r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#, "messages[0].role", "unsupported_parameter"),
            (r#"{"model":"m","messages":[{"role":"user","content":"x","name":"bob"}]}"#, "messages[0].name", "unsupported_parameter"),
            (r#"{"model":"m","messages":[]}"#, "messages", "invalid_value"),
            ("[1]", "body", "invalid_json"),
            ("{", "body", "invalid_json"),
        ];
        for (body, param, code) in chat_cases {
            let e = chat(body).unwrap_err();
            assert_eq!((e.param.as_deref(), e.code, e.status.as_u16()), (Some(param), code, 400), "{body}: {}", e.message);
        }
        for (body, param) in [
            (r#"{"model":"m"}"#, "prompt"),
            (r#"{"model":"m","prompt":""}"#, "prompt"),
            (r#"{"model":"m","prompt":["a","b"]}"#, "prompt"),
            (r#"{"model":"m","prompt":[1,49152]}"#, "prompt"),
            (r#"{"model":"m","prompt":"x","echo":true}"#, "echo"),
            (r#"{"model":"m","prompt":"x","best_of":2}"#, "best_of"),
            (r#"{"model":"m","prompt":"x","suffix":"y"}"#, "suffix"),
            (r#"{"model":"m","prompt":"x","logprobs":21}"#, "logprobs"),
            (r#"{"model":"m","prompt":"x","messages":[]}"#, "messages"),
        ] {
            let e = completions(body).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{body}: {}", e.message);
        }
    }

    #[test]
    fn duplicate_keys_are_invalid_values_naming_their_path() {
        for (body, param) in [
            (r#"{"model":"m","model":"n","messages":[{"role":"user","content":"hi"}]}"#, "model"),
            (r#"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"user","content":"a","content":"b"}]}"#, "messages[1].content"),
            (r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"logit_bias":{"5":1,"5":2}}"#, "logit_bias.5"),
        ] {
            let e = chat(body).unwrap_err();
            assert_eq!((e.param.as_deref(), e.code, e.status.as_u16()), (Some(param), "invalid_value", 400), "{body}");
            assert!(e.message.starts_with("duplicate key"), "{}", e.message);
        }
        let e = completions(r#"{"model":"m","prompt":[1,1e400]}"#).unwrap_err();
        assert_eq!((e.param.as_deref(), e.code), (Some("prompt[1]"), "invalid_value"));
    }

    /// Every numeric field at the edges of its type: refused naming the field, or accepted.
    #[test]
    fn numeric_edges_are_refused_naming_the_field_or_accepted_in_range() {
        let chat_with = |field: &str, v: &str| chat(&format!(r#"{{{MSG},"{field}":{v}}}"#));
        let refused = |field: &str, v: &str| {
            let e = chat_with(field, v).unwrap_err();
            assert_eq!((e.param.as_deref(), e.status.as_u16()), (Some(field), 400), "{field}={v}: {}", e.message);
        };
        let ints = ["max_tokens", "max_completion_tokens", "top_k", "seed", "n", "top_logprobs"];
        let floats = ["temperature", "top_p", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty"];
        for field in ints.iter().chain(&floats) {
            for v in ["1e308", "-1e308", "1e400", "-1e400", "18446744073709551616", "-9223372036854775809"] {
                refused(field, v);
            }
        }
        for field in ints {
            for v in ["5.0", "-0.0", "1.5"] {
                refused(field, v);
            }
        }
        for (field, v) in [("max_tokens", "0"), ("max_tokens", "-1"), ("n", "0"), ("n", "-1"), ("top_k", "-2"), ("top_logprobs", "-1"),
                           ("temperature", "-0.1"), ("top_p", "-0.0"), ("top_p", "1e-50"), ("repetition_penalty", "1e-50"), ("min_p", "-1"),
                           ("presence_penalty", "-2.001")] {
            refused(field, v);
        }
        // In range, including the extremes of the types OpenAI documents (seed is a signed 64-bit).
        let a = |field: &str, v: &str| chat_with(field, v).unwrap_or_else(|e| panic!("{field}={v}: {}", e.message)).admission;
        assert_eq!(a("seed", "-9223372036854775808").sampling.seed, 1 << 63);
        assert_eq!(a("seed", "18446744073709551615").sampling.seed, u64::MAX);
        assert_eq!(a("top_k", "-1").sampling.top_k, 0);
        assert_eq!(a("max_tokens", "2048").max_tokens, Some(2048));
        assert_eq!(a("temperature", "-0.0").sampling.temperature, 0.0);
        assert_eq!(a("presence_penalty", "-2").sampling.presence_penalty, -2.0);
        assert_eq!(a("frequency_penalty", "-0.0").sampling.frequency_penalty, 0.0);
        assert!(chat_with("logprobs", "true").is_ok());
        // Token-id prompts and logit_bias values.
        for prompt in ["[-1]", "[1.5]", "[1e308]", "[18446744073709551616]", "[-0.0]"] {
            let e = completions(&format!(r#"{{"model":"m","prompt":{prompt}}}"#)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("prompt"), "{prompt}");
        }
        for bias in ["1e308", "-101", "1e400"] {
            let e = chat(&format!(r#"{{{MSG},"logit_bias":{{"1":{bias}}}}}"#)).unwrap_err();
            assert!(e.param.as_deref().is_some_and(|p| p.starts_with("logit_bias")), "{bias}");
        }
        for key in ["-1", "1.0", "1e3", "18446744073709551616"] {
            let e = chat(&format!(r#"{{{MSG},"logit_bias":{{"{key}":1}}}}"#)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("logit_bias"), "{key}");
        }
        assert_eq!(chat(&format!(r#"{{{MSG},"logit_bias":{{"0":-100,"49151":-0.0}}}}"#)).unwrap().admission.logit_bias.len(), 2);
        for (v, param) in [("-1", "logprobs"), ("21", "logprobs"), ("1.0", "logprobs")] {
            let e = completions(&format!(r#"{{"model":"m","prompt":"x","logprobs":{v}}}"#)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param));
        }
    }
}
