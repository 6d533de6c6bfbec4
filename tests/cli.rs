//! The real binary on the real model: generate, logits, bench, the logit log, and backend errors.
//! Tests that need the test model skip with a printed reason when it is absent
//! (scripts/fetch-test-model.sh fetches it; scripts/test.sh always does).

mod common;

use common::{bin, test_model};

use std::path::Path;
use std::process::{Command, Output};

const CHAT_PROMPT: &str = "<|im_start|>user\nWrite a haiku about GPUs.<|im_end|>\n<|im_start|>assistant\n";

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("spawn worker-orcd")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

#[test]
fn generate_answers_a_chat_prompt_and_reports_speed() {
    let Some(model) = test_model() else { return };
    let o = run(&["generate", "--model", model.to_str().unwrap(), "--prompt", CHAT_PROMPT, "--max-tokens", "40"]);
    assert!(o.status.success(), "generate failed: {}", stderr(&o));
    let err = stderr(&o);
    let text = String::from_utf8(o.stdout).expect("stdout is UTF-8");
    assert!(text.trim().len() > 10, "continuation too short: {text:?}");
    assert!(!text.contains("<|im_start|>"), "prompt or special tokens echoed: {text:?}");
    assert!(err.contains("prefill:") && err.contains("decode:") && err.contains("tok/s"), "{err}");
}

#[test]
fn generate_is_deterministic_and_stops_at_max_tokens() {
    let Some(model) = test_model() else { return };
    let m = model.to_str().unwrap();
    let a = run(&["generate", "--model", m, "--prompt", "The capital of France is", "--max-tokens", "8"]);
    let b = run(&["generate", "--model", m, "--prompt", "The capital of France is", "--max-tokens", "8", "--threads", "1"]);
    assert!(a.status.success() && b.status.success(), "{} {}", stderr(&a), stderr(&b));
    assert_eq!(a.stdout, b.stdout, "greedy output must not depend on the thread count");
    let err = stderr(&a);
    assert!(err.contains("decode: 7 tokens"), "8 generated tokens need 7 decode steps: {err}");
}

#[test]
fn logits_writes_one_line_per_position_in_the_contract_format() {
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let out = dir.join("l.jsonl");
    let o = run(&["logits", "--model", model.to_str().unwrap(), "--tokens", "504,3287,314,253", "--top-k", "7", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = read_jsonl(&out);
    assert_eq!(lines.len(), 4);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["pos"], i as u64);
        assert_eq!(l["token"], [504, 3287, 314, 253][i]);
        assert_eq!(l["n_vocab"], 49152);
        let top = l["top"].as_array().unwrap();
        assert_eq!(top.len(), 7);
        let vals: Vec<f64> = top.iter().map(|p| p[1].as_f64().unwrap()).collect();
        assert!(vals.windows(2).all(|w| w[0] >= w[1]), "top not descending: {vals:?}");
        let lse = l["logsumexp"].as_f64().unwrap();
        assert!(lse >= vals[0] && lse < vals[0] + 11.0, "logsumexp {lse} vs max {}", vals[0]);
    }
    // Running again replaces the file rather than appending.
    let o = run(&["logits", "--model", model.to_str().unwrap(), "--tokens", "504,3287", "--out", out.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(read_jsonl(&out).len(), 2);
}

#[test]
fn logit_log_env_var_appends_every_evaluated_position() {
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let log = dir.join("gen.jsonl");
    let o = Command::new(bin())
        .args(["generate", "--model", model.to_str().unwrap(), "--prompt", "Hello, my name is", "--max-tokens", "5"])
        .env("WORKER_LOGIT_LOG", &log)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = read_jsonl(&log);
    // every prompt position plus the 4 decoded tokens
    let positions: Vec<u64> = lines.iter().map(|l| l["pos"].as_u64().unwrap()).collect();
    assert!(positions.len() >= 5 + 4, "{positions:?}");
    assert_eq!(positions, (0..positions.len() as u64).collect::<Vec<_>>());
    // greedy: each decoded input token is the previous line's top-1
    let n_prompt = positions.len() - 4;
    for p in n_prompt..positions.len() {
        assert_eq!(lines[p]["token"], lines[p - 1]["top"][0][0], "position {p}");
    }
}

#[test]
fn bench_prints_one_json_line_with_the_contract_keys() {
    let Some(model) = test_model() else { return };
    let o = run(&["bench", "--model", model.to_str().unwrap(), "--prompt-tokens", "32", "--gen-tokens", "4", "--repeat", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in ["prefill_tok_s", "decode_tok_s", "threads"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key} in {out}");
    }
    assert_eq!(v["backend"], "cpu");
}

#[test]
fn asking_for_a_gpu_without_cuda_support_is_a_clear_error() {
    let Some(model) = test_model() else { return };
    let o = run(&["logits", "--model", model.to_str().unwrap(), "--gpu-device", "0", "--tokens", "1", "--out", "/dev/null"]);
    if cfg!(feature = "cuda") {
        return;
    }
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("built without CUDA support"), "{}", stderr(&o));
}

#[test]
fn every_instruction_set_variant_gives_the_same_logits() {
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut results = Vec::new();
    for isa in ["scalar", "avx2", "native"] {
        let out = dir.join(format!("{isa}.jsonl"));
        let mut cmd = Command::new(bin());
        cmd.args(["logits", "--model", model.to_str().unwrap(), "--prompt", "Rust is a systems programming language", "--top-k", "5", "--out", out.to_str().unwrap()]);
        if isa != "native" {
            cmd.env("WC_ISA", isa);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{isa}: {}", stderr(&o));
        results.push((isa, read_jsonl(&out)));
    }
    // Every variant sums in the same order (see cuda/cpu/types/table_ref.cpp), so the logits are identical.
    let (_, reference) = &results[0];
    for (isa, lines) in &results[1..] {
        assert_eq!(lines.len(), reference.len());
        for (a, b) in reference.iter().zip(lines) {
            assert_eq!(a["top"], b["top"], "{isa} differs from scalar at pos {}", a["pos"]);
            assert_eq!(a["logsumexp"], b["logsumexp"], "{isa} differs from scalar at pos {}", a["pos"]);
        }
    }
}

/// `tokenize` prints llama.cpp's ids for SmolLM2 (the committed reference) as a JSON array,
/// `--decode` gives the text back, and `--no-parse-special` keeps special-token text literal.
#[test]
fn tokenize_prints_ids_as_json_and_decodes_them_back() {
    let Some(model) = test_model() else { return };
    let m = model.to_str().unwrap();
    let text = "<|im_start|>user\nWrite a haiku.<|im_end|>\n";
    let o = run(&["tokenize", "--model", m, "--text", text]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids: Vec<u32> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ids[0], 1, "<|im_start|> is one token");
    let literal: Vec<u32> = serde_json::from_slice(&run(&["tokenize", "--model", m, "--text", text, "--no-parse-special"]).stdout).unwrap();
    assert!(literal.len() > ids.len() && !literal.contains(&1));
    let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let o = run(&["tokenize", "--model", m, "--decode", &list]);
    assert_eq!(String::from_utf8(o.stdout).unwrap(), "user\nWrite a haiku.\n", "control tokens decode to nothing");
    let o = run(&["tokenize", "--model", m, "--decode", "49152"]);
    assert!(!o.status.success() && stderr(&o).contains("outside the vocabulary"), "{}", stderr(&o));
}
