//! worker-orcd: a native LLM inference worker. The binary (src/main.rs) is a thin CLI over these
//! modules; integration tests use them directly.
//!
//! Data path: cli -> tokenizer -> ffi (the only `unsafe`) -> C ABI (include/worker_core.h) -> the
//! C++ core in cuda/ (GGUF loader, model adapters, CPU and CUDA backends).

pub mod cli;
pub mod ffi;
pub mod model_vocab;
pub mod tokenizer;
pub mod utf8_stream;
