//! The Kubernetes manifests of deploy/kubernetes validate offline (deploy/validate.sh: the pinned
//! kubernetes-validate schemas, strict, plus deploy/schemas/ for the custom kinds), use only flags
//! the worker binary has, and point the endpoint picker at metrics the worker really exports; and
//! the validator refuses broken manifests, so its success means something.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::test_model;
use common::worker::Worker;

fn validate(args: &[&str]) -> (Output, String) {
    let output = Command::new(common::root().join("deploy/validate.sh")).args(args).output().expect("run deploy/validate.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output, text)
}

#[test]
fn manifests_validate_with_the_real_flags_and_metrics() {
    let metrics = tempfile::NamedTempFile::new().unwrap();
    let mut args = vec!["--worker-bin", common::bin()];
    // The picker's metric names are checked against a live worker's exposition when the model is here.
    if let Some(model) = test_model() {
        let w = Worker::start(&model, &["--ctx-size", "256", "--parallel", "1", "--threads", "1"]);
        let text = w.client.get(w.url("/metrics")).send().unwrap().text().unwrap();
        std::fs::write(metrics.path(), text).unwrap();
        args.extend(["--metrics-file", metrics.path().to_str().unwrap()]);
    }
    let (output, text) = validate(&args);
    assert!(output.status.success(), "deploy/validate.sh failed:\n{text}");
    assert!(text.contains(" 0 errors"), "{text}");
    for file in ["worker-gpu.yaml", "worker-cpu.yaml", "service.yaml", "inferencepool.yaml", "kustomization.yaml"] {
        assert!(text.contains(&format!("/{file}: ")), "{file} was not validated:\n{text}");
    }
    for kind in ["InferencePool/worker-orcd", "HTTPRoute/worker-orcd", "EndpointPickerConfig"] {
        assert!(text.lines().any(|l| l.starts_with("OK") && l.contains(kind)), "{kind} was not validated:\n{text}");
    }
    if args.contains(&"--metrics-file") {
        for gauge in ["worker_requests_waiting", "worker_requests_running", "worker_kv_cache_usage_ratio"] {
            assert!(text.contains(&format!("{gauge} is exported by the worker")), "{gauge} not checked:\n{text}");
        }
    }
}

/// Copies a committed manifest into `dir` with one edit, which must apply.
fn broken_copy(dir: &Path, manifest: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(common::root().join("deploy/kubernetes").join(manifest)).unwrap();
    assert!(text.contains(from), "{manifest} no longer contains {from:?}");
    std::fs::write(dir.join(format!("broken-{manifest}")), text.replacen(from, to, 1)).unwrap();
}

#[test]
fn validator_refuses_broken_manifests() {
    let dir = tempfile::tempdir().unwrap();
    // A built-in kind with a wrong type, a custom kind missing a required field, a kind no schema
    // knows, and a grace period shorter than the drain: each must be refused on its own line.
    broken_copy(dir.path(), "worker-cpu.yaml", "replicas: 2", "replicas: \"two\"");
    broken_copy(dir.path(), "inferencepool.yaml", "  targetPorts:\n    - number: 8080\n", "");
    broken_copy(dir.path(), "worker-gpu.yaml", "terminationGracePeriodSeconds: 150", "terminationGracePeriodSeconds: 100");
    std::fs::write(dir.path().join("unknown-kind.yaml"), "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n").unwrap();

    let (output, text) = validate(&[dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "deploy/validate.sh should fail:\n{text}");
    let error_line = |needle: &str| text.lines().any(|l| l.starts_with("ERROR") && l.contains(needle));
    assert!(error_line("broken-worker-cpu.yaml: Deployment/worker-orcd-cpu: spec.replicas: 'two' is not of type"), "{text}");
    assert!(error_line("broken-inferencepool.yaml: InferencePool/worker-orcd: spec: 'targetPorts' is a required property"), "{text}");
    assert!(error_line("broken-worker-gpu.yaml: Deployment/worker-orcd-gpu: container worker-orcd: terminationGracePeriodSeconds 100"), "{text}");
    assert!(error_line("unknown-kind.yaml: Widget/w: no schema for kind Widget"), "{text}");
}
