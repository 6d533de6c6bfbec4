//! Helpers shared by the integration tests (each test crate that needs them says `mod common;`).
#![allow(dead_code)]

pub mod gguf_writer;
