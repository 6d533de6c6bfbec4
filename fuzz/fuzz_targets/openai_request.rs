//! Fuzz target: the OpenAI request parser (checks/openai_request.rs says what is checked).
#![no_main]

mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::openai_request::check(data));
