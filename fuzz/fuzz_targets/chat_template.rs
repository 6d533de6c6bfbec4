//! Fuzz target: chat template rendering (checks/chat_template.rs says what is checked).
#![no_main]

mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::chat_template::check(data));
