//! The vocabularies of the test files the tokenizer targets use, each loaded once per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use worker_orcd::ffi::{Model, ModelParams};
use worker_orcd::tokenizer::Tokenizer;

fn repo_root() -> PathBuf {
    // The fuzz crate's manifest dir is <repo>/fuzz, the integration tests' is <repo>.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|p| p.join("fuzz/Cargo.toml").is_file()).expect("inside the repository").to_path_buf()
}

/// The tokenizer of the GGUF at `relative` (from the repository root), read tokenizer-only.
/// Panics with the script that fetches it when the file is missing: a target without its
/// vocabulary would fuzz nothing.
fn tokenizer_of(relative: &str, fetched_by: &str) -> Tokenizer {
    let path = repo_root().join(relative);
    assert!(path.is_file(), "{} is missing: run {fetched_by}", path.display());
    let model = Model::load(&path, ModelParams { vocab_only: true, ..Default::default() })
        .unwrap_or_else(|e| panic!("cannot load {}: {}", path.display(), e.message));
    worker_orcd::cli::load::load_tokenizer(&model).expect("the test vocabulary builds a tokenizer")
}

pub struct Vocab {
    pub tokenizer: Tokenizer,
    /// Bytes some token stands for on its own. A vocabulary may lack some (SmolLM2 has no token
    /// for 0x04, 0x06, 0x13, 0x14, 0x16, 0x1d and fifteen bytes UTF-8 never or rarely uses): such a
    /// byte is dropped when encoding, as llama.cpp drops it, so text holding one cannot round-trip.
    pub byte_tokens: [bool; 256],
}

impl Vocab {
    fn new(tokenizer: Tokenizer) -> Vocab {
        let mut byte_tokens = [false; 256];
        for id in 0..tokenizer.vocab_size() as u32 {
            if let [b] = tokenizer.token_bytes(id) {
                byte_tokens[*b as usize] = true;
            }
        }
        Vocab { tokenizer, byte_tokens }
    }
}

/// `gguf-bpe`: SmolLM2's byte-level BPE vocabulary (the test model).
pub fn gguf_bpe() -> &'static Vocab {
    static V: OnceLock<Vocab> = OnceLock::new();
    V.get_or_init(|| Vocab::new(tokenizer_of("models/SmolLM2-135M-Instruct.Q4_1.gguf", "scripts/fetch-test-model.sh")))
}

/// `gguf-spm`: llama.cpp's llama-spm test vocabulary (SentencePiece with byte fallback).
pub fn gguf_spm() -> &'static Vocab {
    static V: OnceLock<Vocab> = OnceLock::new();
    V.get_or_init(|| Vocab::new(tokenizer_of(".cache/llama-vocabs/ggml-vocab-llama-spm.gguf", "scripts/fetch-llama-test-data.sh")))
}
