//! Daemon start-up: every argument is validated with a clear message and exit code 1 before the
//! worker listens; a model that fails to load exits non-zero after logging why.

mod common;

use std::process::Command;

use common::{bin, test_model};
use common::worker::WORKER_ID;

fn run(args: &[&str]) -> (i32, String) {
    let o = Command::new(bin()).args(args).output().unwrap();
    (o.status.code().expect("exit code"), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn bad_arguments_exit_1_with_a_clear_message() {
    let Some(model) = test_model() else { return };
    let m = model.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--model", m, "--device", "cpu", "--port", "8080"], "--worker-id is required"),
        (&["--worker-id", "not-a-uuid", "--model", m, "--device", "cpu", "--port", "8080"], "is not a UUID"),
        (&["--worker-id", WORKER_ID, "--device", "cpu", "--port", "8080"], "--model is required"),
        (&["--worker-id", WORKER_ID, "--model", "/nonexistent.gguf", "--device", "cpu", "--port", "8080"], "/nonexistent.gguf"),
        (&["--worker-id", WORKER_ID, "--model", m, "--port", "8080"], "--gpu-device <id> is required"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "tpu", "--port", "8080"], "--device 'tpu' is not known"),
        (&["--worker-id", WORKER_ID, "--model", m, "--gpu-device", "0", "--device", "cpu", "--port", "8080"], "not both"),
        (&["--worker-id", WORKER_ID, "--model", m, "--gpu-device", "0", "--port", "8080"], "built without CUDA support"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "80"], "out of range (1024-65535)"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "70000"], "out of range (1024-65535)"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "http"], "is not a number"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--queue-depth", "0"], "--queue-depth"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--ctx-size", "0"], "--ctx-size"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--max-connections", "0"], "--max-connections 0 is out of range (1-65536)"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--max-connections", "70000"], "--max-connections 70000"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--header-timeout-sec", "0"], "--header-timeout-sec 0 is out of range (1-3600)"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--body-timeout-sec", "3601"], "--body-timeout-sec 3601"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--body-timeout-sec", "x"], "--body-timeout-sec"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--bogus"], "--bogus"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--chat-template-file", "/nonexistent.jinja"],
            "--chat-template-file /nonexistent.jinja"),
        (&["--worker-id", WORKER_ID, "--model", m, "--device", "cpu", "--port", "8080", "--tokenizer", "/nonexistent.json"],
            "--tokenizer /nonexistent.json"),
    ];
    for (args, needle) in cases {
        let (code, stderr) = run(args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: stderr lacks {needle:?}: {stderr}");
    }
}

#[test]
fn a_model_that_fails_to_load_exits_non_zero_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("truncated.gguf");
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00\x01").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let (code, stderr) = run(&["--worker-id", WORKER_ID, "--model", bad.to_str().unwrap(), "--device", "cpu", "--port", &port]);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("model load failed") && stderr.contains("truncated.gguf"), "{stderr}");
}

#[test]
fn a_context_that_cannot_fit_in_memory_refuses_to_start_saying_required_and_available() {
    let Some(model) = test_model() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let (code, stderr) = run(&["--worker-id", WORKER_ID, "--model", model.to_str().unwrap(), "--device", "cpu", "--port", &port,
        "--ctx-size", "4194304"]);
    // The largest context the core takes: SmolLM2's KV cache alone is 96.6 GB at 4,194,304 positions.
    assert_eq!(code, 2, "{stderr}");
    for needle in ["not enough memory", "--ctx-size 4194304 needs", "bytes are available", "device cpu", "SmolLM2-135M-Instruct.Q4_1.gguf"] {
        assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    }
}

#[test]
fn a_chat_template_file_that_does_not_compile_stops_the_start_naming_the_file() {
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("broken.jinja");
    std::fs::write(&template, "{% for m in messages %}{{ m.content }}").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let (code, stderr) = run(&["--worker-id", WORKER_ID, "--model", model.to_str().unwrap(), "--device", "cpu", "--port", &port,
        "--chat-template-file", template.to_str().unwrap()]);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("broken.jinja") && stderr.contains("does not compile"), "{stderr}");
}

#[test]
fn a_default_kv_pool_larger_than_memory_is_reduced_to_what_fits_and_the_worker_serves() {
    let Some(model) = test_model() else { return };
    // 256 contexts of 65,536 positions would need ~390 GB of KV cache: more than any test host has,
    // while one context (~1.5 GB) fits. The pool is mapped, not touched, so it costs no memory.
    let w = common::worker::Worker::start(&model, &["--parallel", "256", "--ctx-size", "65536", "--batch-tokens", "512"]);
    let h = w.health();
    let (total, wanted) = (h["kv_cache_tokens_total"].as_u64().unwrap(), h["kv_cache_tokens_wanted"].as_u64().unwrap());
    assert_eq!(wanted, 256 * 65536, "{h}");
    assert!(total >= 65536 && total < wanted, "{h}");
    let events = w.execute(&serde_json::json!({"job_id": "small", "prompt": "Hello", "max_tokens": 4, "temperature": 0}));
    assert_eq!(events.last().unwrap().event, "end");
}

#[test]
fn a_worker_whose_log_pipe_is_closed_loads_and_serves_every_job() {
    let Some(model) = test_model() else { return };
    // Every log line (the load's, each job's) fails with EPIPE; none may stop the inference thread.
    let w = common::worker::Worker::start_with_closed_stderr(&model, &[]);
    for i in 0..3 {
        let events = w.execute(&serde_json::json!({"job_id": format!("no-log-{i}"), "prompt": "Hello", "max_tokens": 4, "temperature": 0}));
        assert_eq!(events.last().unwrap().event, "end", "job {i}: {events:?}");
    }
    assert_eq!(w.health()["status"], "healthy");
}
