//! Starts the real worker-orcd daemon on the real model and talks to it over real HTTP
//! (reqwest), reading SSE streams event by event.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const WORKER_ID: &str = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f";

pub struct Worker {
    pub child: Child,
    pub base: String,
    pub client: reqwest::blocking::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Worker {
    /// Starts the daemon with `--device cpu` plus `extra` and waits until /health is 200.
    pub fn start(model: &Path, extra: &[&str]) -> Worker {
        Worker::start_on(model, &["--device", "cpu"], extra)
    }

    /// Starts the daemon on `device` (`--device cpu` or `--gpu-device N`).
    pub fn start_on(model: &Path, device: &[&str], extra: &[&str]) -> Worker {
        Worker::spawn(model, device, extra, false)
    }

    /// Starts the daemon on the CPU with its stderr a pipe whose reading end is closed at once
    /// (a log collector that went away): every log line it writes fails with EPIPE.
    pub fn start_with_closed_stderr(model: &Path, extra: &[&str]) -> Worker {
        Worker::spawn(model, &["--device", "cpu"], extra, true)
    }

    fn spawn(model: &Path, device: &[&str], extra: &[&str], closed_stderr: bool) -> Worker {
        let port = free_port();
        let mut cmd = Command::new(super::bin());
        cmd.args(["--worker-id", WORKER_ID, "--model", model.to_str().unwrap()])
            .args(device)
            .args(["--port", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(if closed_stderr { Stdio::piped() } else { Stdio::inherit() });
        let mut child = cmd.spawn().expect("spawn worker-orcd");
        drop(child.stderr.take());
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
        let w = Worker { child, base: format!("http://127.0.0.1:{port}"), client };
        w.wait_healthy(Duration::from_secs(120));
        w
    }

    pub fn wait_healthy(&self, limit: Duration) {
        let t0 = Instant::now();
        loop {
            if let Ok(r) = self.client.get(self.url("/health")).timeout(Duration::from_secs(2)).send() {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(t0.elapsed() < limit, "worker not healthy after {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn health(&self) -> Value {
        self.client.get(self.url("/health")).send().unwrap().json().unwrap()
    }

    pub fn post(&self, path: &str, body: &str) -> reqwest::blocking::Response {
        self.client.post(self.url(path)).header("content-type", "application/json").body(body.to_string()).send().unwrap()
    }

    pub fn cancel(&self, job_id: &str) -> u16 {
        self.post("/cancel", &serde_json::json!({ "job_id": job_id }).to_string()).status().as_u16()
    }

    /// POST /execute and read the whole stream.
    pub fn execute(&self, body: &Value) -> Vec<SseEvent> {
        let r = self.post("/execute", &body.to_string());
        assert_eq!(r.status(), 200, "execute refused: {}", r.text().unwrap_or_default());
        SseReader::new(r).collect()
    }

    /// POST /execute and return the open stream.
    pub fn stream(&self, body: &Value) -> SseReader {
        let r = self.post("/execute", &body.to_string());
        assert_eq!(r.status(), 200, "execute refused");
        SseReader::new(r)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe_free_sigterm(self.child.id());
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "worker did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// SIGTERM through the `kill` command (keeps the tests free of `unsafe`).
pub fn unsafe_free_sigterm(pid: u32) {
    let ok = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill -TERM {pid}");
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

/// Reads `event:`/`data:` blocks from an SSE body; comment lines (keep-alives) are counted.
pub struct SseReader {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
    pub comments: usize,
}

impl SseReader {
    pub fn new(r: reqwest::blocking::Response) -> SseReader {
        SseReader { lines: BufReader::new(r).lines(), comments: 0 }
    }
}

impl Iterator for SseReader {
    type Item = SseEvent;

    fn next(&mut self) -> Option<SseEvent> {
        let (mut event, mut data) = (None, String::new());
        loop {
            let line = match self.lines.next() {
                Some(Ok(l)) => l,
                _ => return None,
            };
            if line.is_empty() {
                if let Some(event) = event.take() {
                    let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad data {data:?}: {e}"));
                    return Some(SseEvent { event, data });
                }
                continue;
            }
            if line.starts_with(':') {
                self.comments += 1;
            } else if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    }
}

/// Checks the contract's event order: started, token*, then exactly one of end / error, nothing
/// after. Returns the token events' (text, id) pairs.
pub fn check_event_order(events: &[SseEvent]) -> Vec<(String, u32)> {
    assert!(!events.is_empty(), "no events");
    assert_eq!(events[0].event, "started", "first event: {events:?}");
    let last = events.last().unwrap();
    assert!(last.event == "end" || last.event == "error", "last event {last:?}");
    let mut tokens = Vec::new();
    for (n, e) in events[1..events.len() - 1].iter().enumerate() {
        assert_eq!(e.event, "token", "event {n}: {e:?}");
        assert_eq!(e.data["i"].as_u64().unwrap() as usize, n, "token index");
        tokens.push((e.data["t"].as_str().unwrap().to_string(), e.data["id"].as_u64().unwrap() as u32));
    }
    tokens
}

pub fn chat(user: &str) -> String {
    format!("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}
