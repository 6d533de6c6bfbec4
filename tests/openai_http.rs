//! The OpenAI-compatible API over raw HTTP against the real worker and model
//! (.specs/openai-api.md): response shapes, SSE chunks and `[DONE]`, usage against the tokenizer's
//! counts (through /execute's events for the same request), the token budget, errors in OpenAI's
//! shape, logprobs against the logit log, stream errors, and cancellation on disconnect.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::worker::{check_event_order, Worker};
use serde_json::{json, Value};

const KEY: &str = "sekrit";

fn start(extra: &[&str]) -> Option<Worker> {
    let model = common::test_model()?;
    let mut args = vec!["--api-key", KEY];
    args.extend_from_slice(extra);
    Some(Worker::start(&model, &args))
}

fn post(w: &Worker, path: &str, body: &Value) -> reqwest::blocking::Response {
    w.client.post(w.url(path)).bearer_auth(KEY).json(body).send().unwrap()
}

fn post_json(w: &Worker, path: &str, body: &Value) -> (u16, Value) {
    let r = post(w, path, body);
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

/// The `data:` payloads of an OpenAI stream, up to and including `[DONE]` (as a JSON string).
fn chunks(r: reqwest::blocking::Response) -> Vec<Value> {
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut out = Vec::new();
    for line in BufReader::new(r).lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            if data == "[DONE]" {
                out.push(json!("[DONE]"));
                break;
            }
            out.push(serde_json::from_str(data).unwrap());
        }
    }
    out
}

/// Waits (at most 5 s) until no job runs or waits; `what` names the job that should have ended.
fn wait_idle(w: &Worker, what: &str) {
    let t0 = Instant::now();
    loop {
        let h = w.health();
        if h["running"] == 0 && h["queued"] == 0 {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "{what}: {h}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn user(content: &str) -> Value {
    json!([{"role": "user", "content": content}])
}

/// (prompt_tokens, token texts, tokens_out, stop_reason) of the same greedy job through /execute.
fn through_execute(w: &Worker, job_id: &str, messages: &Value, max_tokens: u32) -> (u64, String, u64, String) {
    let r = w.client.post(w.url("/execute")).bearer_auth(KEY).json(&json!({
        "job_id": job_id, "messages": messages, "max_tokens": max_tokens, "temperature": 0})).send().unwrap();
    assert_eq!(r.status(), 200);
    let events: Vec<_> = common::worker::SseReader::new(r).collect();
    let tokens = check_event_order(&events);
    let end = events.last().unwrap();
    assert_eq!(end.event, "end", "{end:?}");
    let text: String = tokens.iter().map(|t| t.0.as_str()).collect();
    (events[0].data["prompt_tokens"].as_u64().unwrap(), text, end.data["tokens_out"].as_u64().unwrap(), end.data["stop_reason"].as_str().unwrap().into())
}

#[test]
fn chat_completions_match_execute_streamed_and_not() {
    let Some(w) = start(&["--served-model-name", "smol"]) else { return };
    let messages = user("Name three colours.");
    let (prompt_tokens, text, tokens_out, stop_reason) = through_execute(&w, "ref-1", &messages, 12);

    let (status, v) = post_json(&w, "/v1/chat/completions", &json!({"model": "smol", "messages": messages, "max_tokens": 12, "temperature": 0}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["model"], "smol");
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    let fp = v["system_fingerprint"].as_str().expect("fingerprint known after start-up");
    assert!(fp.starts_with("fp_") && fp.ends_with(env!("CARGO_PKG_VERSION")), "{fp}");
    let choice = &v["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"].as_str().unwrap(), text, "same tokens as /execute");
    assert_eq!(choice["finish_reason"], if stop_reason == "max_tokens" { "length" } else { "stop" });
    let usage = &v["usage"];
    assert_eq!(usage["prompt_tokens"].as_u64().unwrap(), prompt_tokens);
    assert_eq!(usage["completion_tokens"].as_u64().unwrap(), tokens_out);
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt_tokens + tokens_out);
    assert!(usage["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap() > 0, "the /execute run cached the prompt's blocks: {usage}");

    let streamed = chunks(post(&w, "/v1/chat/completions", &json!({"model": "SmolLM2-135M-Instruct.Q4_1", "messages": messages,
        "max_tokens": 12, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}})));
    assert_eq!(streamed.last().unwrap(), "[DONE]");
    let body = &streamed[..streamed.len() - 1];
    assert_eq!(body[0]["choices"][0]["delta"]["role"], "assistant");
    let id = body[0]["id"].as_str().unwrap();
    let mut content = String::new();
    for c in body {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id);
        assert!(c.get("usage").is_some(), "include_usage puts usage (null) on every chunk");
        if let Some(d) = c["choices"][0]["delta"]["content"].as_str() {
            content.push_str(d);
        }
    }
    assert_eq!(content, text);
    let finish = &body[body.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], choice["finish_reason"]);
    let usage_chunk = &body[body.len() - 1];
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"].as_u64().unwrap(), tokens_out);
    assert_eq!(usage_chunk["usage"]["prompt_tokens"].as_u64().unwrap(), prompt_tokens);
}

#[test]
fn completions_budget_stop_and_length() {
    let Some(w) = start(&["--ctx-size", "96"]) else { return };
    let model = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let prompt = common::worker::chat("Count from 1 to 20, separated by commas.");
    let (status, v) = post_json(&w, "/v1/completions", &json!({"model": model, "prompt": prompt, "max_tokens": 5, "temperature": 0}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    let text = v["choices"][0]["text"].as_str().unwrap().to_string();

    let streamed = chunks(post(&w, "/v1/completions", &json!({"model": model, "prompt": prompt, "max_tokens": 5, "temperature": 0, "stream": true})));
    let joined: String = streamed[..streamed.len() - 1].iter().filter_map(|c| c["choices"][0]["text"].as_str()).collect();
    assert_eq!(joined, text);
    assert_eq!(streamed[streamed.len() - 2]["choices"][0]["finish_reason"], "length");

    // A stop sequence taken from the greedy text: finish_reason stop, and the text ends before it.
    let stop = text.trim_start().split(',').nth(1).map(|s| format!("{s},")).filter(|s| !s.trim().is_empty()).unwrap_or_else(|| text[2..].to_string());
    let (_, v) = post_json(&w, "/v1/completions", &json!({"model": model, "prompt": prompt, "max_tokens": 20, "temperature": 0, "stop": stop}));
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v} (stop {stop:?})");
    let stopped = v["choices"][0]["text"].as_str().unwrap();
    assert!(!stopped.contains(&stop) && text.starts_with(stopped), "{stopped:?} vs {text:?} stop {stop:?}");

    // Token ids as the prompt (the worker's own tokenizer's) give the same completion as the text.
    let out = std::process::Command::new(common::bin())
        .args(["tokenize", "--model", common::test_model().unwrap().to_str().unwrap(), "--text", &prompt])
        .output()
        .unwrap();
    assert!(out.status.success());
    let ids: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = ids.get("ids").cloned().unwrap_or(ids);
    let (_, by_ids) = post_json(&w, "/v1/completions", &json!({"model": model, "prompt": ids, "max_tokens": 5, "temperature": 0}));
    assert_eq!(by_ids["choices"][0]["text"].as_str().unwrap(), text, "{by_ids}");
    assert_eq!(by_ids["usage"]["prompt_tokens"], v["usage"]["prompt_tokens"]);

    // The token budget: the prompt alone, then prompt + max_tokens, against --ctx-size 96.
    let long = "word ".repeat(200);
    let (status, e) = post_json(&w, "/v1/completions", &json!({"model": model, "prompt": long}));
    assert_eq!((status, e["error"]["code"].as_str(), e["error"]["param"].as_str()), (400, Some("context_length_exceeded"), Some("prompt")), "{e}");
    let (status, e) = post_json(&w, "/v1/completions", &json!({"model": model, "prompt": prompt, "max_tokens": 90}));
    assert_eq!((status, e["error"]["code"].as_str(), e["error"]["param"].as_str()), (400, Some("context_length_exceeded"), Some("max_tokens")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("96"), "{e}");
    // Without max_tokens the job gets what the context leaves, and ends with `length`, not an error.
    let (status, v) = post_json(&w, "/v1/completions", &json!({"model": model, "prompt": "1, 2, 3, 4,", "temperature": 0, "logit_bias": {"0": -100, "2": -100}}));
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["choices"][0]["finish_reason"].as_str(), v["usage"]["total_tokens"].as_u64()), (Some("length"), Some(96)), "{v}");
}

#[test]
fn errors_have_openai_shape_status_and_param() {
    let Some(w) = start(&[]) else { return };
    let model = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let msg = user("hi");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"model": model, "messages": msg, "temperature": 3}), "temperature"),
        (json!({"model": model, "messages": msg, "n": 2}), "n"),
        (json!({"model": model, "messages": msg, "tools": [{"type": "function", "function": {"name": "f"}}]}), "tools"),
        (json!({"model": model, "messages": msg, "response_format": {"type": "json_object"}}), "response_format"),
        (json!({"model": model, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}]}), "messages[0].content[0]"),
        (json!({"model": model, "messages": msg, "logit_bias": {"999999": 1}}), "logit_bias"),
        (json!({"model": model, "messages": msg, "wat": 1}), "wat"),
    ];
    for (body, param) in cases {
        let (status, e) = post_json(&w, "/v1/chat/completions", &body);
        assert_eq!(status, 400, "{body}: {e}");
        let err = &e["error"];
        assert_eq!(err["param"], param, "{e}");
        assert_eq!(err["type"], "invalid_request_error");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()) && err.get("code").is_some(), "{e}");
    }
    let (status, e) = post_json(&w, "/v1/chat/completions", &json!({"model": "gpt-4o", "messages": msg}));
    assert_eq!((status, e["error"]["code"].as_str(), e["error"]["param"].as_str()), (404, Some("model_not_found"), Some("model")));
    let r = w.client.post(w.url("/v1/chat/completions")).bearer_auth("wrong").json(&json!({"model": model, "messages": msg})).send().unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().unwrap();
    assert_eq!((e["error"]["type"].as_str(), e["error"]["code"].as_str()), (Some("authentication_error"), Some("invalid_api_key")));
    let r = w.client.get(w.url("/v1/models")).send().unwrap();
    assert_eq!(r.status(), 401, "/v1/models needs the key too");
    let r = w.client.get(w.url("/v1/nope")).bearer_auth(KEY).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "unknown_url");
    let big = "x".repeat(2 << 20);
    let r = w.client.post(w.url("/v1/completions")).bearer_auth(KEY).header("content-type", "application/json").body(big).send().unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "body_too_large");

    let r = w.client.get(w.url("/v1/models")).bearer_auth(KEY).send().unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], model);
    let one: Value = w.client.get(w.url(&format!("/v1/models/{model}"))).bearer_auth(KEY).send().unwrap().json().unwrap();
    assert_eq!(one["id"], model);
    let r = w.client.get(w.url("/v1/models/other")).bearer_auth(KEY).send().unwrap();
    assert_eq!(r.status(), 404);

    // Refusals are counted by endpoint (the 7 bad fields and the unknown model); the worker keeps serving.
    let (status, _) = post_json(&w, "/v1/chat/completions", &json!({"model": model, "messages": msg, "max_tokens": 2}));
    assert_eq!(status, 200);
    let metrics = w.client.get(w.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains(r#"worker_endpoint_requests_total{endpoint="/v1/chat/completions",outcome="rejected_invalid"} 8"#), "{metrics}");
    assert!(metrics.contains(r#"worker_endpoint_requests_total{endpoint="/v1/chat/completions",outcome="completed"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"worker_endpoint_requests_total{endpoint="/v1/chat/completions",outcome="rejected_unauthorized"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"worker_endpoint_requests_total{endpoint="/v1/models",outcome="rejected_unauthorized"} 1"#), "{metrics}");
}

#[test]
fn logprobs_are_the_log_softmax_of_the_logged_logits() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logits.jsonl");
    let Some(w) = start(&["--logit-log", log.to_str().unwrap(), "--no-prefix-cache"]) else { return };
    let (status, v) = post_json(&w, "/v1/chat/completions", &json!({"model": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "messages": user("Say hello."), "max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 3}));
    assert_eq!(status, 200, "{v}");
    let id = v["id"].as_str().unwrap();
    let content = v["choices"][0]["logprobs"]["content"].as_array().unwrap();
    let prompt_tokens = v["usage"]["prompt_tokens"].as_u64().unwrap() as usize;
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["job_id"] == id)
        .collect();
    // The prompt's positions, then one per decoded token; token k is predicted at step prompt-1+k.
    for (k, entry) in content.iter().enumerate() {
        let line = &lines[prompt_tokens - 1 + k];
        let lse = line["logsumexp"].as_f64().unwrap();
        let top = line["top"].as_array().unwrap();
        let tops = entry["top_logprobs"].as_array().unwrap();
        assert_eq!(tops.len(), 3);
        for (j, t) in tops.iter().enumerate() {
            let want = top[j][1].as_f64().unwrap() - lse;
            assert!((t["logprob"].as_f64().unwrap() - want).abs() < 1e-4, "token {k} alt {j}: {t} vs {want}");
        }
        // Greedy: the chosen token is the most likely one.
        assert_eq!(entry["logprob"], tops[0]["logprob"]);
        assert_eq!(entry["token"], tops[0]["token"]);
        assert!(tops.windows(2).all(|p| p[0]["logprob"].as_f64() >= p[1]["logprob"].as_f64()));
        let bytes: Vec<u8> = entry["bytes"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
        assert_eq!(String::from_utf8_lossy(&bytes), entry["token"].as_str().unwrap());
    }
    assert_eq!(content.len(), v["usage"]["completion_tokens"].as_u64().unwrap() as usize);
}

#[test]
fn a_stream_that_fails_sends_an_error_chunk_then_done() {
    let Some(w) = start(&["--inference-timeout-sec", "1", "--max-tokens-out", "4000"]) else { return };
    let model = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let long = json!({"model": model, "prompt": common::worker::chat("Count from 1 to 1000."), "max_tokens": 1900,
        "temperature": 0, "stream": true, "logit_bias": {"0": -100, "2": -100}});
    let streamed = chunks(post(&w, "/v1/completions", &long));
    assert_eq!(streamed.last().unwrap(), "[DONE]");
    let err = &streamed[streamed.len() - 2]["error"];
    assert_eq!((err["type"].as_str(), err["code"].as_str()), (Some("server_error"), Some("inference_timeout")), "{err}");
    // The stream had started (the job was admitted) before it failed; how many tokens came first depends on
    // the machine's load.
    assert!(streamed.len() >= 2, "{streamed:?}");
    // The worker keeps serving (a job here may itself run past the 1 s deadline on a loaded machine; the
    // next-job check lives in the disconnect test, which has the default deadline).
    let r = w.client.get(w.url("/v1/models")).bearer_auth(KEY).send().unwrap();
    assert_eq!(r.status(), 200);
    // The deadline's error goes out at once; the job leaves the step in flight, then the gauge follows.
    let t0 = Instant::now();
    while w.health()["running"] != 0 {
        assert!(t0.elapsed() < Duration::from_secs(5), "the timed-out job still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn logit_bias_and_penalties_steer_the_sampler() {
    let Some(w) = start(&[]) else { return };
    let model = "SmolLM2-135M-Instruct.Q4_1.gguf";
    let body = |extra: Value| {
        let mut b = json!({"model": model, "prompt": common::worker::chat("Write the word 'yes' ten times."), "max_tokens": 12, "temperature": 0});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let with_logprobs = |extra: Value| {
        let (status, v) = post_json(&w, "/v1/completions", &body(extra));
        assert_eq!(status, 200, "{v}");
        v
    };
    let plain = with_logprobs(json!({"logprobs": 1}));
    let first = plain["choices"][0]["logprobs"]["tokens"][0].as_str().unwrap().to_string();
    // Forcing one id: +100 makes it win every greedy step.
    let forced = with_logprobs(json!({"logit_bias": {"28": 100}, "max_tokens": 4, "logprobs": 0}));
    let toks = forced["choices"][0]["logprobs"]["tokens"].as_array().unwrap();
    assert_eq!(toks.len(), 4);
    assert!(toks.iter().all(|t| t == &toks[0]), "{forced}");
    // Banning the greedy first token changes the first token.
    let ids = w.client.post(w.url("/execute")).bearer_auth(KEY).json(&json!({"job_id": "ids", "prompt": common::worker::chat("Write the word 'yes' ten times."), "max_tokens": 1, "temperature": 0})).send().unwrap();
    let events: Vec<_> = common::worker::SseReader::new(ids).collect();
    let first_id = events[1].data["id"].as_u64().unwrap();
    let banned = with_logprobs(json!({"logit_bias": {first_id.to_string(): -100}, "logprobs": 1}));
    assert_ne!(banned["choices"][0]["logprobs"]["tokens"][0].as_str().unwrap(), first, "{banned}");
    // A strong frequency penalty breaks the repetition.
    let repeated = plain["choices"][0]["text"].as_str().unwrap().to_string();
    let penalised = with_logprobs(json!({"frequency_penalty": 2.0}));
    assert_ne!(penalised["choices"][0]["text"].as_str().unwrap(), repeated);
}

#[test]
fn a_client_that_goes_away_cancels_its_job_streamed_or_not() {
    // The default --inference-timeout-sec (300 s): only the client's going away can end these jobs early.
    let Some(w) = start(&["--max-tokens-out", "4000"]) else { return };
    let model = "SmolLM2-135M-Instruct.Q4_1.gguf";
    // A client that reads two chunks and goes away cancels its job.
    let r = post(&w, "/v1/chat/completions", &json!({"model": model, "messages": user("Count from 1 to 1000."), "max_tokens": 1900,
        "stream": true, "temperature": 0, "logit_bias": {"0": -100, "2": -100}}));
    let mut lines = BufReader::new(r).lines();
    let mut seen = 0;
    while seen < 2 {
        if lines.next().unwrap().unwrap().starts_with("data: ") {
            seen += 1;
        }
    }
    drop(lines);
    wait_idle(&w, "job still running after the client left");
    let metrics = w.client.get(w.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains(r#"worker_endpoint_requests_total{endpoint="/v1/chat/completions",outcome="cancelled"} 1"#), "{metrics}");

    // Not streamed: a client that times out (goes away) cancels too.
    let r = w.client.post(w.url("/v1/chat/completions")).bearer_auth(KEY).timeout(Duration::from_millis(300))
        .json(&json!({"model": model, "messages": user("Count from 1 to 1000."), "max_tokens": 1900, "temperature": 0,
            "logit_bias": {"0": -100, "2": -100}})).send();
    if let Ok(r) = r {
        panic!("the request should time out on the client, got {} {}", r.status(), r.text().unwrap_or_default());
    }
    wait_idle(&w, "non-streamed job still running after the client left");
    let metrics = w.client.get(w.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains(r#"worker_endpoint_requests_total{endpoint="/v1/chat/completions",outcome="cancelled"} 2"#), "{metrics}");
    let (status, _) = post_json(&w, "/v1/chat/completions", &json!({"model": model, "messages": user("hi"), "max_tokens": 2}));
    assert_eq!(status, 200, "the worker keeps serving");
}
