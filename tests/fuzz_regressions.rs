//! Every input the fuzzers once broke stays fixed: fuzz/regressions/<target>/* are replayed
//! through the same checks the fuzz targets make (fuzz/fuzz_targets/checks/), and those of the C++
//! loader's harness (gguf_load) through Model::load, which is the same C ABI call. A panic names
//! the file. scripts/sanitize.sh also runs this test, so the loader's inputs are replayed under
//! ASan + UBSan as well.

mod common;

#[path = "../fuzz/fuzz_targets/checks/mod.rs"]
mod checks;

use std::path::{Path, PathBuf};

use common::root;
use worker_orcd::ffi::{ErrorKind, Model, ModelParams};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = root().join("fuzz/regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Whether the vocabulary a tokenizer target needs is here; in CI (WORKER_ORCD_REQUIRE_MODEL=1)
/// a missing one fails.
fn have(relative: &str) -> bool {
    if root().join(relative).is_file() {
        return true;
    }
    assert!(std::env::var_os("WORKER_ORCD_REQUIRE_MODEL").is_none_or(|v| v != "1"), "{relative} is missing");
    eprintln!("SKIP: {relative} is missing");
    false
}

fn replay(target: &str) -> usize {
    let files = inputs(target);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let caught = std::panic::catch_unwind(|| assert!(checks::run(target, &data), "unknown target {target}"));
        if let Err(e) = caught {
            std::panic::resume_unwind(Box::new(format!("{} fails again: {:?}", f.display(), e.downcast_ref::<String>())));
        }
    }
    files.len()
}

#[test]
fn tokenizer_inputs() {
    if have("models/SmolLM2-135M-Instruct.Q4_1.gguf") {
        replay("tokenizer_gguf_bpe");
    }
    if have(".cache/llama-vocabs/ggml-vocab-llama-spm.gguf") {
        replay("tokenizer_gguf_spm");
    }
}

#[test]
fn chat_template_inputs() {
    replay("chat_template");
}

#[test]
fn request_parser_inputs() {
    replay("execute_request");
    replay("openai_request");
}

#[test]
fn stream_and_stop_inputs() {
    replay("stream_stop");
}

/// As fuzz/cpp/gguf_load_fuzz.cpp: both the full and the tokenizer-only load answer Ok or a
/// refusal with a message, never an internal error.
#[test]
fn gguf_load_inputs() {
    for f in inputs("gguf_load") {
        for vocab_only in [false, true] {
            let params = ModelParams { n_threads: 1, vocab_only, ..Default::default() };
            if let Err(e) = Model::load(Path::new(&f), params) {
                assert!(e.kind != ErrorKind::Internal && !e.message.is_empty(), "{}: {:?} {}", f.display(), e.kind, e.message);
            }
        }
    }
}
