//! Fuzz target: the `/execute` request parser (checks/execute_request.rs says what is checked).
#![no_main]

mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::execute_request::check(data));
