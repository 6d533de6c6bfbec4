//! llama.cpp's own tokenizer conformance data: for every byte-level BPE vocabulary we claim, each
//! case of `ggml-vocab-<name>.gguf.inp` must give exactly the ids of `.out` (llama.cpp's
//! test-tokenizer-0: no BOS/EOS added, special tokens not parsed). The files come from the pinned
//! llama-cpp-python sdist through scripts/fetch-llama-vocabs.sh (not committed).

mod common;

use std::path::PathBuf;

use common::root;
use worker_orcd::cli::load::load_tokenizer;
use worker_orcd::ffi::{Model, ModelParams};

/// The vocabularies we claim, by file name; each exercises one pre-tokenizer type.
const CLAIMED: &[&str] =
    &["gpt-2", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder", "starcoder", "falcon", "refact", "mpt", "command-r"];

const SEPARATOR: &str = "\n__ggml_vocab_test__\n";

fn vocab_dir() -> Option<PathBuf> {
    let dir = root().join(".cache/llama-vocabs");
    if dir.join("ggml-vocab-gpt-2.gguf").is_file() {
        return Some(dir);
    }
    if std::env::var_os("WORKER_ORCD_REQUIRE_MODEL").is_some_and(|v| v == "1") {
        panic!("{} is missing: run scripts/fetch-llama-vocabs.sh", dir.display());
    }
    eprintln!("SKIP: {} is missing (run scripts/fetch-llama-vocabs.sh)", dir.display());
    None
}

/// The .inp/.out pairs of one vocabulary, as llama.cpp's test reads them.
fn cases(dir: &std::path::Path, name: &str) -> Vec<(String, Vec<u32>)> {
    let inp = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.inp"))).unwrap();
    let out = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.out"))).unwrap();
    // llama.cpp splits while text remains, so a trailing separator ends the last case rather than
    // opening an empty one.
    let mut texts: Vec<&str> = inp.split(SEPARATOR).collect();
    if inp.ends_with(SEPARATOR) {
        texts.pop();
    }
    let ids: Vec<Vec<u32>> =
        out.lines().map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect()).collect();
    assert_eq!(texts.len(), ids.len(), "{name}: .inp and .out disagree on the number of cases");
    texts.into_iter().map(String::from).zip(ids).collect()
}

#[test]
fn every_claimed_bpe_vocabulary_matches_llama_cpp_case_for_case() {
    let Some(dir) = vocab_dir() else { return };
    let mut failures = Vec::new();
    let mut total = 0;
    for name in CLAIMED {
        let path = dir.join(format!("ggml-vocab-{name}.gguf"));
        let model = Model::load(&path, ModelParams { vocab_only: true, ..Default::default() }).unwrap();
        let tokenizer = load_tokenizer(&model).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let cases = cases(&dir, name);
        assert!(cases.len() >= 30, "{name}: only {} cases", cases.len());
        for (text, want) in &cases {
            total += 1;
            let got = tokenizer.encode_with(text, false, false).unwrap();
            if &got != want {
                failures.push(format!("{name}: {text:?}\n  ours      {got:?}\n  llama.cpp {want:?}"));
            }
        }
        eprintln!("{name}: {} cases", cases.len());
    }
    assert!(failures.is_empty(), "{} of {total} cases differ:\n{}", failures.len(), failures.join("\n"));
}
