//! Helpers shared by the integration tests (each test crate that needs them says `mod common;`).
#![allow(dead_code)]

pub mod batching;
pub mod gguf_writer;
pub mod worker;

use std::path::{Path, PathBuf};

/// The repository root: where cargo built the tests, or $WORKER_ORCD_ROOT (a prebuilt test
/// binary run from a copy of the repository elsewhere, as on a GPU machine).
pub fn root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| std::env::var_os("WORKER_ORCD_ROOT").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from))
}

/// The worker binary cargo built for this test run, or $WORKER_ORCD_BIN (a prebuilt binary
/// carried to a GPU machine without a Rust toolchain).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| std::env::var("WORKER_ORCD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_worker-orcd").to_string()))
}

/// The real test model, or None (printed as a skip) when it has not been fetched. scripts/test.sh
/// sets WORKER_ORCD_REQUIRE_MODEL=1, so in CI a missing model fails instead of skipping.
pub fn test_model() -> Option<PathBuf> {
    let p = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.is_file() {
        return Some(p);
    }
    if std::env::var_os("WORKER_ORCD_REQUIRE_MODEL").is_some_and(|v| v == "1") {
        panic!("test model missing at {} and WORKER_ORCD_REQUIRE_MODEL=1", p.display());
    }
    eprintln!("SKIP: test model missing at {} (run scripts/fetch-test-model.sh)", p.display());
    None
}
