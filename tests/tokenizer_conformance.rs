//! Tokenizer conformance with llama.cpp on SmolLM2's byte-level BPE vocabulary: every case in
//! parity/reference/smollm2-135m-q4_1/tokenize.json (dumped by parity/dump_tokenizer.py from
//! parity/reference/tokenizer-cases.json) must give llama.cpp's ids exactly, with and without
//! special-token parsing, and decode back to the text llama.cpp's detokenizer gives.

mod common;

use common::{root, test_model};

use worker_orcd::cli::load::load_tokenizer;
use worker_orcd::ffi::{Model, ModelParams};

#[test]
fn smollm2_tokenizes_and_decodes_like_llama_cpp() {
    let Some(path) = test_model() else { return };
    let model = Model::load(&path, ModelParams::default()).expect("load test model");
    let tokenizer = load_tokenizer(&model).expect("tokenizer");
    let fixture = root().join("parity/reference/smollm2-135m-q4_1/tokenize.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 100, "fixture has only {} cases", cases.len());

    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let special = case["parse_special"].as_bool().unwrap();
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tokenizer.encode(text, special).expect("encode");
        if got != want {
            let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            failures.push(format!("{name} (parse_special={special}): ids differ at index {first}: ours {:?}, llama.cpp {:?}",
                &got[first..got.len().min(first + 8)], &want[first..want.len().min(first + 8)]));
            continue;
        }
        let want_text = case.get("decoded").and_then(|v| v.as_str()).unwrap_or(text);
        let decoded = tokenizer.decode(&want);
        if decoded != want_text {
            failures.push(format!("{name} (parse_special={special}): decodes to {decoded:?}, llama.cpp {want_text:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ from llama.cpp:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
