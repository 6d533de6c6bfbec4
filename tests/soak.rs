//! The soak test of scripts/soak.py as CI runs it: 60 s, 8 clients, a mix of valid jobs, invalid and oversized
//! requests, cancels, disconnects, slow readers and scrapes against the real binary and model, then SIGTERM
//! under load. The script checks that every accepted job ended once, the counters add up, RSS stayed flat and
//! the worker exited 0; this test fails with its report otherwise.

mod common;

use std::process::Command;

#[test]
fn sixty_seconds_of_mixed_load_lose_nothing() {
    let Some(model) = common::test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(common::root().join("scripts/soak.py"))
        .args(["--seconds", "60", "--clients", "8", "--binary", common::bin(), "--model", model.to_str().unwrap()])
        .arg("--log")
        .arg(dir.path().join("worker.log"))
        .output()
        .expect("run python3 scripts/soak.py");
    let report = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default();
    let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(out.status.success(), "soak failed:\n{report}\n{}\nworker log tail:\n{tail}", String::from_utf8_lossy(&out.stderr));
}
