//! Tokenizer worst cases: 32 KiB of one repeated character, of random bytes (lossy UTF-8), of
//! emoji, of spaces and of digits, through the byte-level BPE of SmolLM2, the SentencePiece of
//! llama.cpp's llama-spm test vocabulary and Gemma 3's 262k SentencePiece vocabulary. A prompt
//! is tokenized on the request's path, so each must finish within BOUND (measured times are in
//! .specs/tokenizer.md).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::root;
use worker_orcd::cli::load::load_tokenizer;
use worker_orcd::ffi::{Model, ModelParams};

/// Generous for a debug build on a shared machine; every case measured well under it.
const BOUND: Duration = Duration::from_secs(2);

const SIZE: usize = 32 << 10;

fn inputs() -> Vec<(&'static str, String)> {
    // A fixed xorshift stream, so the random case is the same on every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    vec![
        ("one character", "a".repeat(SIZE)),
        ("random bytes", String::from_utf8_lossy(&bytes).into_owned()),
        ("emoji", "😀".repeat(SIZE / 4)),
        ("mixed emoji", "👩‍👩‍👧‍👦🏳️‍🌈".repeat(SIZE / 40)),
        ("spaces", " ".repeat(SIZE)),
        ("digits", "7".repeat(SIZE)),
    ]
}

fn vocabularies() -> Vec<(&'static str, PathBuf)> {
    [
        ("SmolLM2 (BPE)", root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")),
        ("llama-spm (SPM)", root().join(".cache/llama-vocabs/ggml-vocab-llama-spm.gguf")),
        ("Gemma 3 (SPM, 262k)", root().join("models/gemma-3-270m.Q4_K_M.gguf")),
    ]
    .into_iter()
    .filter(|(name, p)| {
        let there = p.is_file();
        if !there {
            eprintln!("SKIP: {name}: {} is missing", p.display());
        }
        there
    })
    .collect()
}

#[test]
fn hostile_32_kib_inputs_tokenize_within_the_bound() {
    let mut slow = Vec::new();
    for (vocab, path) in vocabularies() {
        let model = Model::load(&path, ModelParams { vocab_only: true, ..Default::default() }).unwrap();
        let tokenizer = load_tokenizer(&model).unwrap();
        for (case, text) in inputs() {
            let t0 = Instant::now();
            let ids = tokenizer.encode(&text, true).unwrap();
            let took = t0.elapsed();
            eprintln!("{vocab}: {case}: {} tokens in {:.1} ms", ids.len(), took.as_secs_f64() * 1000.0);
            assert!(!ids.is_empty());
            if took > BOUND {
                slow.push(format!("{vocab}: {case}: {took:?}"));
            }
        }
    }
    assert!(slow.is_empty(), "over {BOUND:?}:\n{}", slow.join("\n"));
}
