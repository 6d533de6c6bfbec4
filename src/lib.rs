//! worker-orcd: a native LLM inference worker. The binary (src/main.rs) is a thin CLI over these
//! modules; integration tests use them directly.
//!
//! Daemon path: daemon (args, start-up, shutdown) -> server (HTTP, SSE) -> engine (queue, the
//! inference thread, generation) -> tokenizer / ffi.
//! Data path: cli -> tokenizer -> ffi (the only `unsafe`) -> C ABI (include/worker_core.h) -> the
//! C++ core in cuda/ (GGUF loader, model adapters, CPU and CUDA backends).

pub mod admission;
pub mod backend_report;
pub mod chat;
pub mod civil_date;
pub mod cli;
pub mod daemon;
pub mod engine;
pub mod ffi;
pub mod metrics;
pub mod model_vocab;
pub mod server;
pub mod tokenizer;
pub mod utf8_stream;
