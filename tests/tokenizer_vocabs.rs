//! llama.cpp's own tokenizer conformance data: for every byte-level BPE vocabulary we claim, each
//! case of `ggml-vocab-<name>.gguf.inp` must give exactly the ids of `.out` (llama.cpp's
//! test-tokenizer-0: no BOS/EOS added, special tokens not parsed). The files come from the pinned
//! llama-cpp-python sdist through scripts/fetch-llama-test-data.sh (not committed).

mod common;

use std::path::PathBuf;

use common::root;
use worker_orcd::cli::load::load_tokenizer;
use worker_orcd::ffi::{Model, ModelParams};

/// The vocabularies we claim, by file name: byte-level BPE ones (each exercising one
/// pre-tokenizer type) and SentencePiece ones.
const CLAIMED: &[&str] = &[
    "gpt-2",
    "llama-bpe",
    "qwen2",
    "deepseek-llm",
    "deepseek-coder",
    "starcoder",
    "falcon",
    "refact",
    "mpt",
    "command-r",
    "llama-spm",
    "phi-3",
];

const SEPARATOR: &str = "\n__ggml_vocab_test__\n";

fn vocab_dir() -> Option<PathBuf> {
    let dir = root().join(".cache/llama-vocabs");
    if dir.join("ggml-vocab-gpt-2.gguf").is_file() {
        return Some(dir);
    }
    if std::env::var_os("WORKER_ORCD_REQUIRE_MODEL").is_some_and(|v| v == "1") {
        panic!("{} is missing: run scripts/fetch-llama-test-data.sh", dir.display());
    }
    eprintln!("SKIP: {} is missing (run scripts/fetch-llama-test-data.sh)", dir.display());
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
fn every_claimed_vocabulary_matches_llama_cpp_case_for_case() {
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
            // every case is representable in every claimed vocabulary (byte-level or byte fallback)
            let back = tokenizer.decode(want);
            if &back != text {
                failures.push(format!("{name}: {text:?} decodes back as {back:?}"));
            }
        }
        eprintln!("{name}: {} cases", cases.len());
    }
    assert!(failures.is_empty(), "{} of {total} cases differ:\n{}", failures.len(), failures.join("\n"));
}

/// Ids of a reference case: listed, or (long cases) a count and the sha256 of "id,id,...".
fn matches_reference(case: &serde_json::Value, got: &[u32]) -> bool {
    if let Some(ids) = case["ids"].as_array() {
        return ids.len() == got.len() && ids.iter().zip(got).all(|(a, &b)| a.as_u64() == Some(b as u64));
    }
    use sha2::{Digest, Sha256};
    let joined = got.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let digest: String = Sha256::digest(joined.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    case["ids_len"].as_u64() == Some(got.len() as u64) && case["ids_sha256"].as_str() == Some(digest.as_str())
}

/// Our own cases (parity/reference/tokenizer-cases.json: whitespace runs, digits, code, many
/// scripts, emoji, special tokens mid-text, the empty string, 32 KiB of text) on every claimed
/// vocabulary, as llama.cpp tokenizes them with BOS/EOS as the metadata says, with and without
/// special-token parsing (parity/dump-vocab-references.sh), and decoded back as llama.cpp does.
#[test]
fn own_cases_match_llama_cpp_on_every_claimed_vocabulary() {
    let Some(dir) = vocab_dir() else { return };
    let texts: std::collections::HashMap<String, String> = serde_json::from_str::<Vec<serde_json::Value>>(
        &std::fs::read_to_string(root().join("parity/reference/tokenizer-cases.json")).unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|c| (c["name"].as_str().unwrap().to_string(), c["text"].as_str().unwrap().to_string()))
    .collect();
    let mut failures = Vec::new();
    let mut total = 0;
    for name in CLAIMED {
        let model =
            Model::load(&dir.join(format!("ggml-vocab-{name}.gguf")), ModelParams { vocab_only: true, ..Default::default() }).unwrap();
        let tokenizer = load_tokenizer(&model).unwrap();
        let reference = root().join(format!("parity/reference/vocabs/{name}.tokenize.json"));
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&reference).unwrap()).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert!(cases.len() >= 100, "{name}: only {} cases", cases.len());
        for case in cases {
            total += 1;
            let case_name = case["name"].as_str().unwrap();
            let special = case["parse_special"].as_bool().unwrap();
            let text = case["text"].as_str().unwrap_or_else(|| &texts[case_name]);
            let got = tokenizer.encode(text, special).unwrap();
            if !matches_reference(case, &got) {
                failures.push(format!("{name} {case_name} (parse_special={special}): ours {:?}, llama.cpp {:?}", &got[..got.len().min(24)], case["ids"]));
                continue;
            }
            let want_text = case.get("decoded").and_then(|v| v.as_str()).unwrap_or(text);
            let decoded = tokenizer.decode(&got);
            if decoded != want_text {
                failures.push(format!("{name} {case_name} (parse_special={special}): decodes to {decoded:?}, llama.cpp {want_text:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {total} cases differ:\n{}", failures.len(), failures.join("\n"));
}
