//! CUDA backend tests. One command runs them all: `cargo test --features cuda --test gpu` (on a
//! GPU machine without a toolchain: build with `--no-run` here, carry the test binary and the
//! worker binary, and point WORKER_ORCD_BIN at the latter). Tests that need a GPU print why they
//! skip when there is none; the unavailability test runs everywhere.

mod common;

use std::path::Path;
use std::process::Command;

use common::gguf_writer::{ttype, TinyLlama};
use common::worker::{chat, check_event_order, Worker, WORKER_ID};
use common::{bin, root, test_model};
use serde_json::{json, Value};
use worker_orcd::ffi::{self, Backend};

/// Device 0 when a usable CUDA device is present, else None with the reason printed.
fn gpu() -> Option<i32> {
    match ffi::probe_backend(Backend::Cuda { device: 0 }) {
        Ok(()) => Some(0),
        Err(e) => {
            eprintln!("SKIP: no usable GPU: {}", e.message);
            None
        }
    }
}

#[test]
fn device_info_and_residency_on_the_cpu_and_the_gpu() {
    let Some(model) = test_model() else { return };
    let m = worker_orcd::ffi::Model::load(&model, Default::default()).unwrap();
    let d = m.device_info().unwrap();
    assert_eq!((d.name.as_str(), d.index, d.weight_bytes), ("cpu", -1, 0));
    m.check_residency().unwrap();
    let Some(device) = gpu() else { return };
    let params = worker_orcd::ffi::ModelParams { backend: Backend::Cuda { device }, ..Default::default() };
    let g = worker_orcd::ffi::Model::load(&model, params).unwrap();
    let d = g.device_info().unwrap();
    assert_eq!(d.index, device);
    assert!(d.weight_bytes >= m.info().weight_bytes, "{d:?}");
    assert!(d.total_bytes > d.free_bytes && d.free_bytes > 0, "{d:?}");
    assert!(d.compute_capability.0 >= 8, "{d:?}");
    g.check_residency().unwrap();
}

#[test]
fn a_gpu_that_cannot_start_is_one_json_line_and_exit_1() {
    if ffi::probe_backend(Backend::Cuda { device: 0 }).is_ok() {
        eprintln!("SKIP: a GPU is present; out-of-range device instead");
    }
    let Some(model) = test_model() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    for device in ["0", "7"] {
        if device == "0" && ffi::probe_backend(Backend::Cuda { device: 0 }).is_ok() {
            continue;
        }
        let o = Command::new(bin())
            .args(["--worker-id", WORKER_ID, "--model", model.to_str().unwrap(), "--gpu-device", device, "--port", &port])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        let first: Value = serde_json::from_str(stderr.lines().next().unwrap()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        assert_eq!(first["error"], "BACKEND_UNAVAILABLE");
        assert_eq!(first["device"], device.parse::<i32>().unwrap());
        let cause = first["cause"].as_str().unwrap();
        let expected: &[&str] = if cfg!(feature = "cuda") {
            &["no_driver", "no_device", "device_out_of_range", "cuda_error"]
        } else {
            &["built_without_cuda"]
        };
        assert!(expected.contains(&cause), "cause {cause}: {stderr}");
        assert!(stderr.lines().nth(1).is_some_and(|l| l.starts_with("error: --gpu-device")), "{stderr}");
    }
}

fn logits(model: &Path, device: Option<i32>, tokens: &str, out: &Path) {
    let mut cmd = Command::new(bin());
    cmd.args(["logits", "--model", model.to_str().unwrap(), "--tokens", tokens, "--top-k", "40", "--out", out.to_str().unwrap()]);
    if let Some(d) = device {
        cmd.args(["--gpu-device", &d.to_string()]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn compare(reference: &Path, ours: &Path, limits: &[&str]) -> Value {
    let o = Command::new("python3")
        .arg(root().join("parity/compare.py"))
        .args(["logits", reference.to_str().unwrap(), ours.to_str().unwrap(), "--json"])
        .args(limits)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert!(o.status.success(), "{report}\n{}", String::from_utf8_lossy(&o.stderr));
    report
}

#[test]
fn every_weight_type_matches_the_cpu_backend_on_tiny_models() {
    let Some(device) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tokens = (0..48).map(|i| ((i * 37 + 5) % 256).to_string()).collect::<Vec<_>>().join(",");
    for (name, ty) in [("mixed", None), ("q4_0", Some(ttype::Q4_0)), ("q4_1", Some(ttype::Q4_1)), ("q8_0", Some(ttype::Q8_0)),
        ("f16", Some(ttype::F16)), ("bf16", Some(ttype::BF16)), ("f32", Some(ttype::F32))] {
        let path = dir.path().join(format!("{name}.gguf"));
        TinyLlama { matrix_type: ty, ..Default::default() }.build().write(&path);
        let (cpu, cuda) = (dir.path().join(format!("{name}-cpu.jsonl")), dir.path().join(format!("{name}-cuda.jsonl")));
        logits(&path, None, &tokens, &cpu);
        logits(&path, Some(device), &tokens, &cuda);
        // The CPU quantizes activations to 8 bits like llama.cpp; the CUDA kernels use f32 activations.
        let r = compare(&cpu, &cuda, &["--min-top1", "0.98", "--max-mean-abs", "0.02", "--max-kl", "0.001"]);
        eprintln!("{name}: {r}");
    }
}

#[test]
fn smollm2_matches_llama_cpp_through_cuda() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let refs = root().join("parity/reference/smollm2-135m-q4_1");
    let prompts: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(refs.join("prompts.json")).unwrap()).unwrap();
    for p in prompts {
        let name = p["name"].as_str().unwrap();
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(refs.join(format!("{name}.meta.json"))).unwrap()).unwrap();
        let ids: Vec<String> = meta["prompt_tokens"].as_array().unwrap().iter().chain(meta["continuation"].as_array().unwrap())
            .map(|v| v.to_string()).collect();
        let ours = dir.path().join(format!("{name}.jsonl"));
        logits(&model, Some(device), &ids.join(","), &ours);
        // The bar, the same as the CPU backend's.
        let r = compare(&refs.join(format!("{name}.jsonl")), &ours,
            &["--min-top1", "0.98", "--max-mean-abs", "0.1", "--max-kl", "0.01", "--margin", "0.2"]);
        eprintln!("{name}: {r}");
    }
}

#[test]
fn serving_on_the_gpu_streams_reproduces_and_cancels() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let w = Worker::start_on(&model, &["--gpu-device", &device.to_string()], &[]);
    let h = w.health();
    assert_eq!(h["backend"], "cuda");
    for key in ["vram_bytes_used", "vram_total_bytes", "vram_free_bytes"] {
        assert!(h[key].as_u64().unwrap() > 0, "{key} in {h}");
    }
    assert!(h["vram_bytes_used"].as_u64().unwrap() >= 60_000_000, "weights are in VRAM: {h}");
    assert!(h["sm"].as_str().unwrap().starts_with("sm_"), "{h}");
    assert!(h["cuda_runtime_version"].as_str().unwrap().starts_with("13."), "{h}");
    let body = |id: &str, seed: u64| json!({"job_id": id, "prompt": chat("Write a haiku about GPU computing."),
        "max_tokens": 32, "temperature": 0.7, "seed": seed});
    let a = check_event_order(&w.execute(&body("a", 5)));
    let b = check_event_order(&w.execute(&body("b", 5)));
    assert!(!a.is_empty());
    assert_eq!(a, b, "same seed, same tokens");
    let mut s = w.stream(&json!({"job_id": "long", "prompt": "1, 2, 3, 4, 5,", "max_tokens": 2000, "temperature": 0}));
    assert_eq!(s.next().unwrap().event, "started");
    assert_eq!(s.next().unwrap().event, "token");
    assert_eq!(w.cancel("long"), 202);
    assert_eq!(s.last().unwrap().data["code"], "CANCELLED");
    let after = w.execute(&body("after", 1));
    assert_eq!(after.last().unwrap().event, "end");
}

/// Largest difference from the CPU twin, relative to the largest CPU output, per op family.
/// The CPU quantizes activations to 8-bit blocks for quantized weights (as llama.cpp does); the
/// CUDA kernels keep them in f32, so matmuls differ by that quantization.
const MATMUL_REL: f64 = 0.03;
/// Embedding rows are dequantized exactly; residual adds are exact.
const EXACT_REL: f64 = 1e-6;
const RMS_NORM_REL: f64 = 1e-5;
/// Angles: the CPU multiplies base^(-2/n_rot) repeatedly (as ggml), CUDA calls powf; at
/// position 8000 the angles differ in their last bits.
const ROPE_REL: f64 = 2e-3;
const SWIGLU_REL: f64 = 1e-4;
/// q, K and V are rounded to f16 on both; sums run in a different order.
const ATTENTION_REL: f64 = 2e-3;

#[test]
fn every_kernel_matches_its_cpu_twin() {
    let Some(device) = gpu() else { return };
    let report: Value = serde_json::from_str(&ffi::backend_op_check(Backend::Cuda { device }).unwrap()).unwrap();
    let mut failures = Vec::new();
    for o in report["ops"].as_array().unwrap() {
        let op = o["op"].as_str().unwrap();
        let limit = match op {
            _ if op.starts_with("matmul_") => MATMUL_REL,
            "embed_Q4_1" | "add" => EXACT_REL,
            "rms_norm" => RMS_NORM_REL,
            "rope_norm" | "rope_neox" => ROPE_REL,
            "swiglu" => SWIGLU_REL,
            "attention_prefill" | "attention_decode" => ATTENTION_REL,
            other => panic!("no tolerance named for op {other}"),
        };
        let rel = o["rel"].as_f64().unwrap();
        eprintln!("{op:<20} {:<32} rel {rel:.3e} (limit {limit:.0e})", o["shape"].as_str().unwrap());
        if o["finite"] != true || rel > limit {
            failures.push(o.to_string());
        }
    }
    assert!(failures.is_empty(), "kernels outside their tolerance:\n{}", failures.join("\n"));
}

/// Greedy decoding of `steps` tokens after `prompt`; returns every step's logits.
fn greedy_logits(model: &worker_orcd::ffi::Model, prompt: &[i32], steps: usize) -> Vec<Vec<f32>> {
    let mut s = worker_orcd::cli::sequence::OneSequence::new(model, 512, None, 0).unwrap();
    let mut logits = s.prefill(prompt).unwrap();
    let mut out = vec![logits.clone()];
    for _ in 0..steps {
        let next = logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as i32;
        s.decode_into(next, &mut logits).unwrap();
        out.push(logits.clone());
    }
    out
}

#[test]
fn the_decode_graph_replays_exactly_what_the_kernels_compute() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let load = |graphs: bool| {
        let params = worker_orcd::ffi::ModelParams { backend: Backend::Cuda { device }, cuda_graphs: graphs, ..Default::default() };
        worker_orcd::ffi::Model::load(&model, params).unwrap()
    };
    let prompt = [1, 504, 3458, 282, 4649, 314, 2114, 30, 28, 216];
    let eager = greedy_logits(&load(false), &prompt, 40);
    let graphed = load(true);
    // Twice on the same model: the second session gets a graph of its own.
    for round in 0..2 {
        let replayed = greedy_logits(&graphed, &prompt, 40);
        for (step, (a, b)) in eager.iter().zip(&replayed).enumerate() {
            assert!(a == b, "round {round}, step {step}: graph replay differs from eager launches");
        }
    }
}

#[test]
fn a_context_that_cannot_fit_is_refused_and_a_job_without_memory_ends_with_vram_oom() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let dev = device.to_string();
    let probe = worker_orcd::ffi::Model::load(&model, Default::default()).unwrap();
    let per_token = probe.info().kv_bytes_per_token * 1024;
    drop(probe);
    // Worker A: a context whose session takes ~60 % of free VRAM. It fits at start-up.
    let a = Worker::start_on(&model, &["--gpu-device", &dev], &[]);
    let free = a.health()["vram_free_bytes"].as_u64().unwrap();
    drop(a);
    let ctx = ((free as f64 * 0.6) as u64 / (per_token / 1024)).min(4_000_000).to_string();
    let big = ["--ctx-size", ctx.as_str(), "--max-tokens-out", ctx.as_str()];
    let a = Worker::start_on(&model, &["--gpu-device", &dev], &big);
    let b = Worker::start_on(&model, &["--gpu-device", &dev], &big);
    // A job on A that takes its whole context's KV cache, and keeps it while it runs.
    let huge = |id: &str| json!({"job_id": id, "prompt": "1, 2, 3,", "max_tokens": ctx.parse::<u64>().unwrap() - 16, "temperature": 0});
    let mut holding = a.stream(&huge("holder"));
    assert_eq!(holding.next().unwrap().event, "started");
    assert_eq!(holding.next().unwrap().event, "token");
    // B cannot get the same again: the job ends with VRAM_OOM ...
    let events = b.execute(&huge("starved"));
    let last = events.last().unwrap();
    assert_eq!((last.event.as_str(), last.data["code"].as_str()), ("error", Some("VRAM_OOM")), "{events:?}");
    // ... and a third worker asking for that context is refused at start-up, naming the numbers.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let o = Command::new(bin())
        .args(["--worker-id", WORKER_ID, "--model", model.to_str().unwrap(), "--gpu-device", &dev, "--port", &port])
        .args(big)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    for needle in ["not enough device memory", "needs", "bytes are free", model.to_str().unwrap(), &format!("device {device}")] {
        assert!(stderr.contains(needle), "'{needle}' missing from: {stderr}");
    }
    // Once A's job is cancelled, B serves again.
    assert_eq!(a.cancel("holder"), 202);
    assert_eq!(holding.last().unwrap().data["code"], "CANCELLED");
    let after = b.execute(&json!({"job_id": "after", "prompt": "Hello", "max_tokens": 8, "temperature": 0}));
    assert_eq!(after.last().unwrap().event, "end", "{after:?}");
}
