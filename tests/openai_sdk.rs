//! The OpenAI-compatible API through the official `openai` Python SDK (pinned in
//! tests/openai_sdk/requirements.txt, installed into the git-ignored tests/openai_sdk/.venv by
//! tests/openai_sdk/setup.sh), and the README's OpenAI examples run as written. Each test starts the
//! real daemon on the real SmolLM2 model; nothing is mocked.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::worker::Worker;
use common::{root, test_model};

const API_KEY: &str = "sdk-test-key";
/// Served under an alias, so the `--served-model-name` path is what the SDK sees.
const SERVED_NAME: &str = "smol";

fn sdk_dir() -> PathBuf {
    root().join("tests/openai_sdk")
}

/// The venv's python, after setup.sh made sure the venv matches requirements.txt (instant when it does).
/// Once per test binary: tests running in parallel must not build the venv twice at once.
fn venv_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(make_venv).clone()
}

fn make_venv() -> PathBuf {
    let setup = sdk_dir().join("setup.sh");
    let o = Command::new(&setup).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", setup.display()));
    assert!(
        o.status.success(),
        "{} failed ({}), so the OpenAI SDK tests cannot run (it needs python3 with venv and PyPI):\n{}{}",
        setup.display(),
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let python = sdk_dir().join(".venv/bin/python");
    assert!(python.is_file(), "{} ran but {} is missing", setup.display(), python.display());
    python
}

fn report(what: &str, o: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_openai_sdk_suite_passes() {
    let Some(model) = test_model() else { return };
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logits.jsonl");
    let w = Worker::start(
        &model,
        &["--api-key", API_KEY, "--logit-log", log.to_str().unwrap(), "--parallel", "4", "--served-model-name", SERVED_NAME],
    );
    let o = Command::new(python)
        .arg(sdk_dir().join("test_sdk.py"))
        .args(["--base-url", &w.url("/v1"), "--api-key", API_KEY, "--model", SERVED_NAME])
        .args(["--logit-log", log.to_str().unwrap(), "--metrics-url", &w.url("/metrics")])
        .output()
        .expect("spawn the venv's python");
    let text = report("test_sdk.py", &o);
    println!("{text}");
    assert!(o.status.success(), "{text}");
}

/// The fenced block that follows `<!-- test: NAME -->` in README.md.
fn readme_block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- test: {name} -->");
    let after = &readme[readme.find(&marker).unwrap_or_else(|| panic!("README.md lacks {marker}")) + marker.len()..];
    let open = after.find("```").expect("a fenced block after the marker");
    let body_start = open + after[open..].find('\n').unwrap() + 1;
    let body_len = after[body_start..].find("```").expect("the fenced block's end");
    after[body_start..body_start + body_len].to_string()
}

/// The README's examples talk to `localhost:8080`; the test worker listens on a free port.
fn at_port(block: &str, w: &Worker) -> String {
    block.replace("http://localhost:8080", &w.base).replace("localhost:8080", w.base.trim_start_matches("http://"))
}

#[test]
fn the_readme_openai_examples_work() {
    let Some(model) = test_model() else { return };
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // As the README starts it: no API key, no alias (the examples name the model by its file name).
    let w = Worker::start(&model, &[]);

    let chat = at_port(&readme_block(&readme, "openai-chat-stream"), &w);
    let o = Command::new("sh").args(["-c", &format!("set -e\n{chat}")]).output().expect("sh");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", report("README chat curl", &o));
    let data: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "the stream does not end with [DONE]:\n{out}");
    let chunks: Vec<serde_json::Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("bad chunk {d:?}: {e}")))
        .collect();
    assert!(chunks.len() >= 2 && chunks.iter().all(|c| c["object"] == "chat.completion.chunk"), "{out}");
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(!text.trim().is_empty(), "no content streamed:\n{out}");

    let completions = at_port(&readme_block(&readme, "openai-completions"), &w);
    let o = Command::new("sh").args(["-c", &format!("set -e\n{completions}")]).output().expect("sh");
    assert!(o.status.success(), "{}", report("README completions curl", &o));
    let body: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not one JSON body ({e}): {}", String::from_utf8_lossy(&o.stdout)));
    assert_eq!(body["object"], "text_completion", "{body}");
    assert!(!body["choices"][0]["text"].as_str().unwrap_or_default().is_empty(), "{body}");

    let python = venv_python();
    let code = at_port(&readme_block(&readme, "openai-python"), &w);
    let o = Command::new(python).args(["-c", &code]).output().expect("spawn the venv's python");
    assert!(o.status.success(), "{}", report("README python example", &o));
    assert!(!String::from_utf8_lossy(&o.stdout).trim().is_empty(), "{}", report("README python example", &o));
}
