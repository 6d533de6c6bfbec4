//! The orchestrator contract end to end: the real worker-orcd daemon on the real SmolLM2 model,
//! driven by a real HTTP client (reqwest). No part of the core is mocked.

mod common;

use std::time::{Duration, Instant};

use common::test_model;
use common::worker::{chat, check_event_order, Worker, WORKER_ID};
use serde_json::{json, Value};
use worker_orcd::cli::load::load_tokenizer;
use worker_orcd::ffi::{Model, ModelParams};

/// A prompt the model keeps continuing for a long time (greedy counting).
const LONG_PROMPT: &str = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,";

fn minute_words(m: u32) -> String {
    const ONES: [&str; 20] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    ];
    const TENS: [&str; 6] = ["", "", "twenty", "thirty", "forty", "fifty"];
    match m {
        0..=19 => ONES[m as usize].to_string(),
        _ if m % 10 == 0 => TENS[(m / 10) as usize].to_string(),
        _ => format!("{}-{}", TENS[(m / 10) as usize], ONES[(m % 10) as usize]),
    }
}

fn ids(events: &[common::worker::SseEvent]) -> Vec<u32> {
    check_event_order(events).into_iter().map(|(_, id)| id).collect()
}

#[test]
fn haiku_with_the_current_minute() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &[]);
    let minute = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60 % 60) as u32;
    let other = (minute + 17) % 60;
    let mut outputs = Vec::new();
    for (n, m) in [minute, other].into_iter().enumerate() {
        let word = minute_words(m);
        let prompt = chat(&format!("Write a haiku about GPU computing that includes the word \"{word}\"."));
        let events = w.execute(&json!({"job_id": format!("haiku-{n}"), "prompt": prompt, "max_tokens": 64, "temperature": 0}));
        let started = &events[0].data;
        assert_eq!(started["job_id"], format!("haiku-{n}"));
        assert_eq!(started["model"], "SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(started["prompt_tokens"].as_u64().unwrap() > 20);
        assert!(started["seed"].is_u64());
        assert!(started["started_at"].as_str().unwrap().ends_with('Z'));
        let tokens = check_event_order(&events);
        assert!(!tokens.is_empty(), "no tokens");
        let end = &events.last().unwrap();
        assert_eq!(end.event, "end", "{end:?}");
        assert_eq!(end.data["tokens_out"].as_u64().unwrap() as usize, tokens.len());
        assert!(["eos", "max_tokens"].contains(&end.data["stop_reason"].as_str().unwrap()));
        for key in ["prefill_ms", "decode_ms", "decode_tokens_per_s"] {
            assert!(end.data[key].as_f64().unwrap() >= 0.0, "{key}");
        }
        let text: String = tokens.iter().map(|(t, _)| t.as_str()).collect();
        assert!(!text.contains('\u{fffd}'), "{text:?}");
        eprintln!("haiku for minute {m} ({word}); word present: {}\n{text}", text.to_lowercase().contains(&word));
        outputs.push(tokens.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
    }
    assert_ne!(outputs[0], outputs[1], "two minute words gave the same tokens");
}

#[test]
fn same_seed_same_tokens_different_seed_different_tokens() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &[]);
    let prompt = chat("Tell me a short story about a robot.");
    let run_n = |job: &str, temperature: f64, seed: u64, n: u32| {
        ids(&w.execute(&json!({"job_id": job, "prompt": prompt, "max_tokens": n, "temperature": temperature, "seed": seed})))
    };
    let run = |job: &str, temperature: f64, seed: u64| run_n(job, temperature, seed, 24);
    assert_eq!(run("g1", 0.0, 1), run("g2", 0.0, 2), "greedy is seed-independent and repeatable");
    let a = run("s1", 0.7, 42);
    assert_eq!(a, run("s2", 0.7, 42), "same seed at 0.7");
    assert_eq!(a.len(), 24);
    let b = run("d1", 1.0, 1);
    let c = run("d2", 1.0, 2);
    assert_ne!(b, c, "different seeds at 1.0");
    // The seed is reported, and a generated one reproduces the run.
    let events = w.execute(&json!({"job_id": "r1", "prompt": prompt, "max_tokens": 12, "temperature": 1.0}));
    let seed = events[0].data["seed"].as_u64().unwrap();
    assert_eq!(ids(&events), run_n("r2", 1.0, seed, 12));
}

#[test]
fn cancel_running_queued_twice_unknown_and_client_disconnect() {
    let Some(model) = test_model() else { return };
    // One job at a time, so the second one queues.
    let w = Worker::start(&model, &["--parallel", "1"]);
    let long = |id: &str| json!({"job_id": id, "prompt": LONG_PROMPT, "max_tokens": 2000, "temperature": 0});

    // Running job: cancelled after its first tokens.
    let mut s = w.stream(&long("run-1"));
    assert_eq!(s.next().unwrap().event, "started");
    for _ in 0..3 {
        assert_eq!(s.next().unwrap().event, "token");
    }
    // A queued job behind it, cancelled before it starts.
    let queued_reader = {
        let r = w.post("/execute", &long("queued-1").to_string());
        assert_eq!(r.status(), 200);
        common::worker::SseReader::new(r)
    };
    assert_eq!(w.cancel("queued-1"), 202);
    let queued: Vec<_> = queued_reader.collect();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].event, "error");
    assert_eq!(queued[0].data["code"], "CANCELLED");

    let t0 = Instant::now();
    assert_eq!(w.cancel("run-1"), 202);
    let rest: Vec<_> = s.by_ref().collect();
    let latency = t0.elapsed();
    let last = rest.last().unwrap();
    assert_eq!(last.event, "error", "{last:?}");
    assert_eq!(last.data["code"], "CANCELLED");
    eprintln!("cancel latency (incl. tokens in flight): {latency:?}");
    assert_eq!(w.cancel("run-1"), 202, "second cancel");
    assert_eq!(w.cancel("no-such-job"), 202, "unknown id");

    // The next job works.
    let events = w.execute(&json!({"job_id": "after", "prompt": chat("Say hi."), "max_tokens": 8, "temperature": 0}));
    check_event_order(&events);
    assert_eq!(events.last().unwrap().event, "end");

    // A client that goes away frees the worker.
    {
        let mut s = w.stream(&long("gone-1"));
        assert_eq!(s.next().unwrap().event, "started");
        assert_eq!(s.next().unwrap().event, "token");
    }
    let t0 = Instant::now();
    while w.health()["busy"] == true {
        assert!(t0.elapsed() < Duration::from_secs(30), "worker still busy after the client left");
        std::thread::sleep(Duration::from_millis(10));
    }
    let events = w.execute(&json!({"job_id": "after-2", "prompt": chat("Say hi."), "max_tokens": 8, "temperature": 0}));
    assert_eq!(events.last().unwrap().event, "end");
    let metrics = w.client.get(w.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("worker_cancellations_total 3"), "{metrics}");
}

#[test]
fn bad_requests_get_400_with_field_and_the_worker_keeps_serving() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &["--max-tokens-out", "512"]);
    let cases: &[(&str, &str)] = &[
        (r#"{"prompt":"x"}"#, "job_id"),
        (r#"{"job_id":"","prompt":"x"}"#, "job_id"),
        (r#"{"job_id":"a"}"#, "prompt"),
        (r#"{"job_id":"a","prompt":""}"#, "prompt"),
        (r#"{"job_id":"a","prompt":"x","max_tokens":0}"#, "max_tokens"),
        (r#"{"job_id":"a","prompt":"x","max_tokens":513}"#, "max_tokens"),
        (r#"{"job_id":"a","prompt":"x","temperature":3}"#, "temperature"),
        (r#"{"job_id":"a","prompt":"x","top_p":0}"#, "top_p"),
        (r#"{"job_id":"a","prompt":"x","top_k":-1}"#, "top_k"),
        (r#"{"job_id":"a","prompt":"x","top_k":49153}"#, "top_k"),
        (r#"{"job_id":"a","prompt":"x","min_p":1.0}"#, "min_p"),
        (r#"{"job_id":"a","prompt":"x","repetition_penalty":0}"#, "repetition_penalty"),
        (r#"{"job_id":"a","prompt":"x","stop":["a","b","c","d","e"]}"#, "stop"),
        (r#"{"job_id":"a","prompt":"x","seed":-5}"#, "seed"),
        (r#"{"job_id":"a","prompt":"x","seed":"7"}"#, "seed"),
        (r#"{"job_id":"a","prompt":"x","bogus":true}"#, "bogus"),
        (r#"{"job_id":"a","prompt":"x""#, "body"),
        (r#""#, "body"),
        (r#"[]"#, "body"),
        (r#"{"job_id":"a","prompt":"x","messages":[{"role":"user","content":"x"}]}"#, "messages"),
        (r#"{"job_id":"a","messages":[]}"#, "messages"),
        (r#"{"job_id":"a","messages":[{"role":"user"}]}"#, "messages[0].content"),
        (r#"{"job_id":"a","messages":[{"role":"user","content":"x","extra":1}]}"#, "messages[0].extra"),
    ];
    for (body, field) in cases {
        let r = w.post("/execute", body);
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().unwrap();
        assert_eq!(v["error"]["code"], "INVALID_REQUEST", "{body}: {v}");
        assert_eq!(v["error"]["field"], *field, "{body}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // The 413 and its JSON must reach a client that is still sending (the server drains the
    // body first): several times, since a server that answers early fails only now and then.
    let huge = format!(r#"{{"job_id":"a","prompt":"{}"}}"#, "x".repeat(2 << 20));
    for _ in 0..5 {
        let r = w.post("/execute", &huge);
        assert_eq!(r.status(), 413);
        assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "BODY_TOO_LARGE");
    }
    let long_prompt = json!({"job_id": "a", "prompt": "y".repeat(32_769)});
    let r = w.post("/execute", &long_prompt.to_string());
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["error"]["field"], "prompt");
    let r = w.post("/cancel", r#"{"id":"x"}"#);
    assert_eq!(r.status(), 400);

    let events = w.execute(&json!({"job_id": "ok", "prompt": chat("Hi"), "max_tokens": 4, "temperature": 0}));
    assert_eq!(events.last().unwrap().event, "end");
    let metrics = w.client.get(w.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains(r#"worker_requests_total{outcome="rejected_invalid"} 24"#), "{metrics}");
}

#[test]
fn context_overflow_queue_full_and_duplicate_ids() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &["--ctx-size", "64", "--queue-depth", "1", "--parallel", "1"]);
    let prompt = "word ".repeat(100);
    let events = w.execute(&json!({"job_id": "too-long", "prompt": prompt, "max_tokens": 4}));
    let last = events.last().unwrap();
    assert_eq!(last.event, "error");
    assert_eq!(last.data["code"], "CONTEXT_LENGTH_EXCEEDED", "{last:?}");
    // Generation that runs into the context end also says so.
    let events = w.execute(&json!({"job_id": "fills", "prompt": LONG_PROMPT, "max_tokens": 200, "temperature": 0}));
    let last = events.last().unwrap();
    assert_eq!(last.data["code"], "CONTEXT_LENGTH_EXCEEDED", "{last:?}");
    assert!(check_event_order(&events).len() > 10);

    let events = w.execute(&json!({"job_id": "fits", "prompt": chat("Hi"), "max_tokens": 4, "temperature": 0}));
    assert_eq!(events.last().unwrap().event, "end");

    // One running, one queued, the third is refused; a running id is a conflict.
    let long = |id: &str| json!({"job_id": id, "prompt": "Once upon a time", "max_tokens": 40, "temperature": 0});
    let mut running = w.stream(&long("q-run"));
    assert_eq!(running.next().unwrap().event, "started");
    let queued = w.stream(&long("q-wait"));
    let r = w.post("/execute", &long("q-full").to_string());
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "QUEUE_FULL");
    let r = w.post("/execute", &long("q-run").to_string());
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "DUPLICATE_JOB_ID");
    assert_eq!(running.last().unwrap().event, "end");
    let queued: Vec<_> = queued.collect();
    check_event_order(&queued);
    assert_eq!(queued.last().unwrap().event, "end");
}

#[test]
fn streamed_text_is_whole_utf8_and_matches_the_decoded_ids() {
    let Some(model_path) = test_model() else { return };
    let model = Model::load(&model_path, ModelParams { vocab_only: true, ..Default::default() }).unwrap();
    let tokenizer = load_tokenizer(&model).unwrap();
    let w = Worker::start(&model_path, &[]);
    let prompts = [
        chat("用中文写一首关于大海的短诗。"),
        chat("Reply with five emoji about the weather 🌦️ and explain them."),
        chat("Traduis en français, en русский и на 日本語: good morning, friends!"),
    ];
    for (n, p) in prompts.iter().enumerate() {
        for temperature in [0.0, 1.0] {
            let events = w.execute(&json!({"job_id": format!("u{n}-{temperature}"), "prompt": p, "max_tokens": 48,
                "temperature": temperature, "seed": 7}));
            let tokens = check_event_order(&events);
            let text: String = tokens.iter().map(|(t, _)| t.as_str()).collect();
            let ids: Vec<u32> = tokens.iter().map(|(_, id)| *id).collect();
            let decoded = tokenizer.decode(&ids);
            assert!(!text.contains('\u{fffd}'), "U+FFFD in stream: {text:?}");
            // A generation cut mid-character would decode to U+FFFD; whole characters match exactly.
            assert_eq!(text, decoded.trim_end_matches('\u{fffd}'), "prompt {n}");
        }
    }
}

#[test]
fn stop_sequences_end_the_stream_without_emitting_the_match() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &[]);
    let free = ids_and_text(&w.execute(&json!({"job_id": "free", "prompt": LONG_PROMPT, "max_tokens": 24, "temperature": 0})));
    assert!(free.1.contains("15,"), "{:?}", free.1);
    let events = w.execute(&json!({"job_id": "stop", "prompt": LONG_PROMPT, "max_tokens": 24, "temperature": 0, "stop": ["15,", "zzz"]}));
    let end = events.last().unwrap();
    assert_eq!(end.data["stop_reason"], "stop_sequence", "{end:?}");
    let (_, text) = ids_and_text(&events);
    assert_eq!(text, free.1[..free.1.find("15,").unwrap()]);
}

fn ids_and_text(events: &[common::worker::SseEvent]) -> (Vec<u32>, String) {
    let tokens = check_event_order(events);
    (tokens.iter().map(|t| t.1).collect(), tokens.iter().map(|t| t.0.as_str()).collect())
}

#[test]
fn health_metrics_auth_and_logit_log() {
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("served.jsonl");
    let w = Worker::start(&model, &["--api-key", "s3cret", "--logit-log", log.to_str().unwrap()]);
    let h = w.health();
    for (k, v) in [("status", json!("healthy")), ("worker_id", json!(WORKER_ID)), ("architecture", json!("llama")),
        ("quant_kind", json!("Q4_1")), ("tokenizer_kind", json!("gguf-bpe")), ("vocab_size", json!(49152)),
        ("context_length", json!(8192)), ("backend", json!("cpu")), ("resident", json!(true)), ("busy", json!(false)),
        ("queued", json!(0)), ("load_progress", json!(1.0))] {
        assert_eq!(h[k], v, "{k} in {h}");
    }
    assert!(h["memory_bytes_used"].as_u64().unwrap() > 50_000_000);
    assert!(h["uptime_seconds"].is_u64());

    let body = json!({"job_id": "auth", "prompt": chat("Hi"), "max_tokens": 3, "temperature": 0}).to_string();
    let r = w.post("/execute", &body);
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], "UNAUTHORIZED");
    let r = w.client.post(w.url("/execute")).bearer_auth("wrong").body(body.clone()).send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(w.post("/cancel", r#"{"job_id":"x"}"#).status(), 401);
    let r = w.client.post(w.url("/execute")).bearer_auth("s3cret").body(body).send().unwrap();
    assert_eq!(r.status(), 200);
    let events: Vec<_> = common::worker::SseReader::new(r).collect();
    let tokens = check_event_order(&events);
    assert_eq!(tokens.len(), 3);

    // The served job's positions are in the logit log, tagged with job_id and step.
    let lines: Vec<Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let prompt_tokens = events[0].data["prompt_tokens"].as_u64().unwrap() as usize;
    // The prompt's last position plus one per decoded token (the last sampled token is not evaluated).
    assert!(lines.len() >= prompt_tokens, "{} lines", lines.len());
    for (step, l) in lines.iter().enumerate() {
        assert_eq!(l["job_id"], "auth");
        assert_eq!(l["step"], step);
        assert!(l["top"].as_array().unwrap().len() >= 20);
    }
    // The greedy tokens are the logged top-1 after the prompt.
    let after_prompt = &lines[prompt_tokens - 1..];
    for (i, (_, id)) in tokens.iter().enumerate().take(after_prompt.len()) {
        assert_eq!(after_prompt[i]["top"][0][0], *id);
    }

    let m = w.client.get(w.url("/metrics")).send().unwrap().text().unwrap();
    for name in ["worker_requests_total", "worker_prompt_tokens_total", "worker_generated_tokens_total 3",
        "worker_time_to_first_token_seconds_bucket", "worker_request_duration_seconds_count 1", "worker_queue_depth 0",
        "worker_cancellations_total 0", "worker_memory_bytes", "worker_uptime_seconds", r#"outcome="rejected_unauthorized"} 3"#,
        r#"outcome="completed"} 1"#] {
        assert!(m.contains(name), "{name} missing in\n{m}");
    }
}

#[test]
fn sigterm_finishes_the_running_job_refuses_new_ones_and_exits_0() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &["--parallel", "1"]);
    let mut s = w.stream(&json!({"job_id": "last", "prompt": LONG_PROMPT, "max_tokens": 60, "temperature": 0}));
    assert_eq!(s.next().unwrap().event, "started");
    let queued = w.stream(&json!({"job_id": "behind", "prompt": "Hello", "max_tokens": 5}));
    common::worker::unsafe_free_sigterm(w.child.id());
    std::thread::sleep(Duration::from_millis(200));
    let r = w.client.post(w.url("/execute")).body(json!({"job_id": "new", "prompt": "x"}).to_string()).send();
    if let Ok(r) = r {
        assert_eq!(r.status(), 503);
    }
    let queued: Vec<_> = queued.collect();
    assert_eq!(queued.last().unwrap().data["code"], "CANCELLED", "{queued:?}");
    let rest: Vec<_> = s.collect();
    let end = rest.last().unwrap();
    assert_eq!(end.event, "end", "{end:?}");
    assert_eq!(end.data["tokens_out"], 60);
    let status = w.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_job_past_its_deadline_ends_with_inference_timeout_and_the_next_job_works() {
    let Some(model) = test_model() else { return };
    // The deadline applies to the quick job too: 3 s leaves it room on a loaded machine (under
    // `stress --cpu 4` a 4-token job took over 1 s), while 2000 tokens take far longer than 3 s.
    let w = Worker::start(&model, &["--inference-timeout-sec", "3"]);
    let events = w.execute(&json!({"job_id": "slow", "prompt": LONG_PROMPT, "max_tokens": 2000, "temperature": 0}));
    let last = events.last().unwrap();
    assert_eq!(last.event, "error");
    assert_eq!(last.data["code"], "INFERENCE_TIMEOUT", "{last:?}");
    let events = w.execute(&json!({"job_id": "quick", "prompt": chat("Hi"), "max_tokens": 4, "temperature": 0}));
    let last = events.last().unwrap();
    assert_eq!(last.event, "end", "{last:?}");
}

#[test]
fn a_queued_job_gets_keep_alive_comments_until_it_starts() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &["--parallel", "1"]);
    let mut running = w.stream(&json!({"job_id": "front", "prompt": LONG_PROMPT, "max_tokens": 2000, "temperature": 0}));
    assert_eq!(running.next().unwrap().event, "started");
    let mut queued = w.stream(&json!({"job_id": "behind", "prompt": chat("Hi"), "max_tokens": 4, "temperature": 0}));
    let base = w.base.clone();
    let canceller = std::thread::spawn(move || {
        // Longer than the 5 s keep-alive interval.
        std::thread::sleep(Duration::from_millis(5600));
        let client = reqwest::blocking::Client::new();
        client.post(format!("{base}/cancel")).body(r#"{"job_id":"front"}"#).send().unwrap().status().as_u16()
    });
    let first = queued.next().unwrap();
    assert_eq!(first.event, "started");
    assert!(queued.comments >= 1, "no keep-alive while queued");
    assert_eq!(canceller.join().unwrap(), 202);
    assert_eq!(queued.last().unwrap().event, "end");
    assert_eq!(running.last().unwrap().data["code"], "CANCELLED");
}

#[test]
fn a_queued_client_that_goes_away_is_dropped_from_the_queue() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &["--parallel", "1"]);
    let mut front = w.stream(&json!({"job_id": "front", "prompt": LONG_PROMPT, "max_tokens": 400, "temperature": 0}));
    assert_eq!(front.next().unwrap().event, "started");
    drop(w.stream(&json!({"job_id": "leaver", "prompt": chat("Hi"), "max_tokens": 4})));
    let t0 = Instant::now();
    while w.health()["queued"] != 0 {
        assert!(t0.elapsed() < Duration::from_secs(10), "the queued job stayed after its client left");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(w.cancel("front"), 202);
    assert_eq!(front.last().unwrap().data["code"], "CANCELLED");
    let m = w.client.get(w.url("/metrics")).send().unwrap().text().unwrap();
    assert!(m.contains("worker_cancellations_total 2"), "{m}");
}

#[test]
fn json_logs_carry_one_line_per_job_without_the_prompt() {
    let Some(model) = test_model() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(common::bin())
        .args(["--worker-id", WORKER_ID, "--model", model.to_str().unwrap(), "--device", "cpu", "--port", &port.to_string(),
            "--log-format", "json"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    while client.get(format!("{base}/health")).send().map(|r| r.status() != 200).unwrap_or(true) {
        assert!(t0.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = client.post(format!("{base}/execute")).body(json!({"job_id": "logged", "prompt": "SECRET PROMPT", "max_tokens": 3}).to_string()).send().unwrap();
    let _: Vec<_> = common::worker::SseReader::new(r).collect();
    common::worker::unsafe_free_sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(!text.contains("SECRET PROMPT"), "prompt logged without --log-prompts");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let jobs: Vec<&Value> = lines.iter().filter(|l| l["job_id"] == "logged").collect();
    assert_eq!(jobs.len(), 1, "{text}");
    assert_eq!(jobs[0]["outcome"], "completed");
    assert_eq!(jobs[0]["tokens_out"], 3);
    assert!(jobs[0]["prefill_ms"].as_f64().unwrap() > 0.0);
}

/// `messages` goes through SmolLM2's own chat template: the rendered conversation has llama.cpp's
/// prompt tokens (parity/reference/smollm2-135m-q4_1/chat-haiku.meta.json), greedy decoding gives
/// exactly what the same text sent as `prompt` gives, and that is llama.cpp's continuation up to
/// where llama.cpp's decode path leaves its own batch logits (a near-tie, .specs/parity.md).
#[test]
fn messages_are_rendered_with_the_models_chat_template() {
    let Some(model) = test_model() else { return };
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("parity/reference/smollm2-135m-q4_1/chat-haiku.meta.json")).unwrap(),
    )
    .unwrap();
    let continuation: Vec<u32> = meta["continuation"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    // llama.cpp's decoded continuation leaves its batch logits at step 14 (margin 0.08).
    const SHARED_STEPS: usize = 14;

    let w = Worker::start(&model, &[]);
    assert_eq!(w.health()["chat_template"], "gguf");
    let events = w.execute(&json!({"job_id": "chat", "messages": [{"role": "user", "content": "Write a haiku about GPUs."}],
        "max_tokens": 64, "temperature": 0}));
    assert_eq!(events[0].data["prompt_tokens"], meta["n_prompt"], "rendered prompt differs from llama.cpp's");
    let plain = w.execute(&json!({"job_id": "plain", "prompt": meta["prompt"], "max_tokens": 64, "temperature": 0}));
    assert_eq!(ids(&events), ids(&plain), "messages and llama.cpp's rendered prompt generate differently");
    assert_eq!(ids(&events)[..SHARED_STEPS], continuation[..SHARED_STEPS]);
    assert_eq!(events.last().unwrap().data["stop_reason"], "eos");
}

/// A model without a chat template refuses `messages` with a clear 400 and keeps serving;
/// --chat-template-file gives it one.
#[test]
fn messages_without_a_chat_template_get_400_and_a_template_file_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    let mut gguf = common::gguf_writer::TinyLlama::default().build();
    gguf.remove("tokenizer.chat_template");
    gguf.write(&model);
    let body = json!({"job_id": "c", "messages": [{"role": "user", "content": "ab"}], "max_tokens": 3, "temperature": 0});

    let w = Worker::start(&model, &[]);
    assert_eq!(w.health()["chat_template"], Value::Null);
    let r = w.post("/execute", &body.to_string());
    assert_eq!(r.status(), 400);
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["field"], "messages");
    assert!(v["error"]["message"].as_str().unwrap().contains("no chat template"), "{v}");
    let events = w.execute(&json!({"job_id": "p", "prompt": "ab", "max_tokens": 3, "temperature": 0}));
    assert_eq!(events.last().unwrap().event, "end");
    drop(w);

    let template = dir.path().join("chat.jinja");
    std::fs::write(&template, "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}").unwrap();
    let w = Worker::start(&model, &["--chat-template-file", template.to_str().unwrap()]);
    assert_eq!(w.health()["chat_template"], "file");
    let chat = w.execute(&body);
    let plain = w.execute(&json!({"job_id": "p2", "prompt": "user: ab\n", "max_tokens": 3, "temperature": 0}));
    assert_eq!(chat[0].data["prompt_tokens"], plain[0].data["prompt_tokens"]);
    assert_eq!(ids(&chat), ids(&plain));
}
