//! The checks each fuzz target makes on one input, apart from libFuzzer so that
//! tests/fuzz_regressions.rs runs the same checks on the inputs the fuzzer once broke. Only
//! `worker_orcd` and std are used here.
#![allow(dead_code)] // each target binary uses one check

pub mod chat_template;
pub mod execute_request;
pub mod openai_request;
pub mod stream_stop;
pub mod tokenizer;
pub mod vocabularies;

/// Runs the check of `target` (a fuzz target's name) on `data`; false for an unknown target.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "tokenizer_gguf_bpe" => tokenizer::check(vocabularies::gguf_bpe(), data, tokenizer::RoundTrip::Always),
        "tokenizer_gguf_spm" => tokenizer::check(vocabularies::gguf_spm(), data, tokenizer::RoundTrip::SentencePiece),
        "chat_template" => chat_template::check(data),
        "execute_request" => execute_request::check(data),
        "openai_request" => openai_request::check(data),
        "stream_stop" => stream_stop::check(data),
        _ => return false,
    }
    true
}
