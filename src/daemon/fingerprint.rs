//! The OpenAI API's `system_fingerprint`: `fp_` + the first 12 hex digits of the model file's
//! SHA-256 + `-` + the worker's version. Hashing a multi-GB file takes seconds, so it runs on its
//! own thread after the load and the field is null until it is done.

use std::io::Read;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::server::AppState;

pub fn compute_in_background(state: Arc<AppState>) {
    let spawned = std::thread::Builder::new().name("fingerprint".into()).spawn(move || match sha256_hex(&state.model_path) {
        Ok(hex) => {
            let _ = state.fingerprint.set(format!("fp_{}-{}", &hex[..12], env!("CARGO_PKG_VERSION")));
        }
        Err(e) => tracing::warn!("hashing the model for system_fingerprint: {e}"),
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the fingerprint thread: {e}");
    }
}

fn sha256_hex(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
