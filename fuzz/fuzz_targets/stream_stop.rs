//! Fuzz target: the UTF-8 stream and the stop matcher (checks/stream_stop.rs says what is checked).
#![no_main]

mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::stream_stop::check(data));
