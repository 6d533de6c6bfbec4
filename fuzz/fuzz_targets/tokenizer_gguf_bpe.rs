//! Fuzz target: the gguf-bpe tokenizer on arbitrary bytes (checks/tokenizer.rs says what is
//! checked, checks/vocabularies.rs which vocabulary).
#![no_main]

mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::run("tokenizer_gguf_bpe", data);
});
