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

/// The conformance strings by name (parity/reference/tokenizer-cases.json).
fn case_texts() -> std::collections::HashMap<String, String> {
    serde_json::from_str::<Vec<serde_json::Value>>(&std::fs::read_to_string(root().join("parity/reference/tokenizer-cases.json")).unwrap())
        .unwrap()
        .into_iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["text"].as_str().unwrap().to_string()))
        .collect()
}

/// Checks a vocabulary (`gguf`, loaded vocab-only) on every case of its llama.cpp dump
/// parity/reference/vocabs/<name>.tokenize.json, encoding and decoding; returns the case count.
fn check_own_cases(name: &str, gguf: &std::path::Path, texts: &std::collections::HashMap<String, String>, failures: &mut Vec<String>) -> usize {
    let model = Model::load(gguf, ModelParams { vocab_only: true, ..Default::default() }).unwrap();
    let tokenizer = load_tokenizer(&model).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let reference = root().join(format!("parity/reference/vocabs/{name}.tokenize.json"));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&reference).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 100, "{name}: only {} cases", cases.len());
    for case in cases {
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
    cases.len()
}

/// Our own cases (parity/reference/tokenizer-cases.json: whitespace runs, digits, code, many
/// scripts, emoji, special tokens mid-text, the empty string, 32 KiB of text) on every claimed
/// vocabulary, as llama.cpp tokenizes them with BOS/EOS as the metadata says, with and without
/// special-token parsing (parity/dump-vocab-references.sh), and decoded back as llama.cpp does.
#[test]
fn own_cases_match_llama_cpp_on_every_claimed_vocabulary() {
    let Some(dir) = vocab_dir() else { return };
    let texts = case_texts();
    let mut failures = Vec::new();
    let mut total = 0;
    for name in CLAIMED {
        total += check_own_cases(name, &dir.join(format!("ggml-vocab-{name}.gguf")), &texts, &mut failures);
    }
    assert!(failures.is_empty(), "{} of {total} cases differ:\n{}", failures.len(), failures.join("\n"));
}

/// Gemma 3's 262k-token SentencePiece vocabulary (no space prefix, byte fallback, <start_of_turn>
/// and friends), from the real model (scripts/fetch-gemma3.sh), on the same cases.
#[test]
fn own_cases_match_llama_cpp_on_gemma3_vocabulary() {
    let gguf = root().join("models/gemma-3-270m.Q4_K_M.gguf");
    if !gguf.is_file() {
        if std::env::var_os("WORKER_ORCD_REQUIRE_MODEL").is_some_and(|v| v == "1") {
            panic!("{} is missing: run scripts/fetch-gemma3.sh", gguf.display());
        }
        eprintln!("SKIP: {} is missing (run scripts/fetch-gemma3.sh)", gguf.display());
        return;
    }
    let mut failures = Vec::new();
    let total = check_own_cases("gemma-3", &gguf, &case_texts(), &mut failures);
    assert!(failures.is_empty(), "{} of {total} cases differ:\n{}", failures.len(), failures.join("\n"));
}

/// A tokenizer.json in Hugging Face's layout for a byte-level BPE vocabulary of a GGUF, with the
/// pre-tokenizer its model publishes (GPT-2: HF's own ByteLevel regex; Llama 3: its Split regex
/// followed by ByteLevel without a regex).
fn tokenizer_json(v: &worker_orcd::tokenizer::vocab::GgufVocab, pre_tokenizer: serde_json::Value, ignore_merges: bool) -> String {
    use worker_orcd::tokenizer::vocab::token_type;
    let vocab: serde_json::Map<String, serde_json::Value> =
        v.tokens.iter().enumerate().map(|(id, t)| (String::from_utf8(t.clone()).unwrap(), serde_json::json!(id))).collect();
    let added: Vec<serde_json::Value> = v
        .tokens
        .iter()
        .zip(&v.token_types)
        .enumerate()
        .filter(|(_, (_, &ty))| ty == token_type::CONTROL || ty == token_type::USER_DEFINED)
        .map(|(id, (t, &ty))| {
            serde_json::json!({"id": id, "content": String::from_utf8_lossy(t), "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": ty == token_type::USER_DEFINED, "special": ty == token_type::CONTROL})
        })
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignore_merges, "vocab": vocab, "merges": v.merges},
    })
    .to_string()
}

/// The hf-json kind (`--tokenizer tokenizer.json`): tokenizer.json files in Hugging Face's layout
/// for the GPT-2 and Llama 3 vocabularies give llama.cpp's ids on every case of its test files.
#[test]
fn tokenizer_json_files_match_llama_cpp_case_for_case() {
    let Some(dir) = vocab_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let flavours = [
        ("gpt-2", serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}), false),
        (
            "llama-bpe",
            serde_json::json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": llama3}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}),
            true,
        ),
    ];
    let mut failures = Vec::new();
    for (name, pre, ignore_merges) in flavours {
        let model = Model::load(&dir.join(format!("ggml-vocab-{name}.gguf")), ModelParams { vocab_only: true, ..Default::default() }).unwrap();
        let vocab = worker_orcd::model_vocab::gguf_vocab(&model).unwrap();
        let path = tmp.path().join(format!("{name}.tokenizer.json"));
        std::fs::write(&path, tokenizer_json(&vocab, pre, ignore_merges)).unwrap();
        let tokenizer = worker_orcd::tokenizer::Tokenizer::from_hf_json(&path, Some(&vocab)).unwrap();
        assert_eq!(tokenizer.kind().as_str(), "hf-json");
        for (text, want) in cases(&dir, name) {
            let got = tokenizer.encode_with(&text, false, false).unwrap();
            if got != want {
                failures.push(format!("{name} (hf-json): {text:?}\n  ours      {got:?}\n  llama.cpp {want:?}"));
            }
            let back = tokenizer.decode(&want);
            if back != text {
                failures.push(format!("{name} (hf-json): {text:?} decodes back as {back:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
}

/// decode(encode(s)) == s for random Unicode strings (ASCII, whitespace runs, Latin, Cyrillic,
/// Greek, Arabic, CJK, Hangul, emoji and other 4-byte characters, combining marks) on every
/// claimed vocabulary: byte-level BPE and SentencePiece byte fallback can represent any text.
#[test]
fn random_unicode_round_trips_on_every_claimed_vocabulary() {
    let Some(dir) = vocab_dir() else { return };
    const RANGES: &[(u32, u32)] = &[
        (0x20, 0x7e),
        (0x20, 0x20),
        (0x0a, 0x0a),
        (0x09, 0x09),
        (0xa0, 0x17f),
        (0x300, 0x36f),
        (0x391, 0x3c9),
        (0x410, 0x44f),
        (0x621, 0x64a),
        (0x4e00, 0x9fff),
        (0xac00, 0xd7a3),
        (0x1f300, 0x1f64f),
        (0x1d400, 0x1d7ff),
        (0x20000, 0x2a6df),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let strings: Vec<String> = (0..200)
        .map(|_| {
            let len = 1 + next() % 40;
            (0..len)
                .map(|_| {
                    let (lo, hi) = RANGES[(next() % RANGES.len() as u64) as usize];
                    char::from_u32(lo + (next() % u64::from(hi - lo + 1)) as u32).unwrap()
                })
                .collect()
        })
        .collect();
    let mut failures = Vec::new();
    for name in CLAIMED {
        let model = Model::load(&dir.join(format!("ggml-vocab-{name}.gguf")), ModelParams { vocab_only: true, ..Default::default() }).unwrap();
        let tokenizer = load_tokenizer(&model).unwrap();
        for s in &strings {
            let back = tokenizer.decode(&tokenizer.encode_with(s, false, false).unwrap());
            if &back != s {
                failures.push(format!("{name}: {s:?} came back as {back:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} round trips differ:\n{}", failures.len(), strings.len() * CLAIMED.len(), failures.join("\n"));
}
