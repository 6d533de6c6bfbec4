//! The one-machine front of deploy/nginx/worker-orcd.conf, for real: two worker-orcd daemons on the
//! SmolLM2 model and Debian's nginx with that file (only ports and paths changed), run as the test's
//! own user from a temp dir. Requests through nginx must reach both workers, and streamed
//! POST /execute must come through as the job runs and whole, ending with `event: end`.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::test_model;
use common::worker::{check_event_order, SseReader, Worker};
use serde_json::{json, Value};

/// A prompt the model keeps continuing (greedy counting), so a job runs for its whole max_tokens.
const COUNTING_PROMPT: &str = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,";
const NGINX: &str = "/usr/sbin/nginx";
const WORKER_IDS: [&str; 2] = ["0a1b2c3d-0000-4000-8000-00000000000a", "0a1b2c3d-0000-4000-8000-00000000000b"];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a worker with its own id; does not wait for it (both load at once).
fn spawn_worker(model: &Path, worker_id: &str) -> Worker {
    let port = free_port();
    let child = Command::new(common::bin())
        .args(["--worker-id", worker_id, "--model", model.to_str().unwrap(), "--device", "cpu"])
        .args(["--port", &port.to_string()])
        // Two workers share the machine: one thread each, a small KV pool.
        .args(["--threads", "1", "--parallel", "2", "--ctx-size", "512"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker-orcd");
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    Worker { child, base: format!("http://127.0.0.1:{port}"), client }
}

/// nginx's master process; dropped (also on panic), it is asked to stop, then killed.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM makes the master stop its worker processes before it exits (SIGKILL would
        // leave them running, holding the port).
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The committed front config with the test's ports: each replacement must match exactly once, so a
/// change to the file that this test would no longer exercise fails here.
fn front_config(ports: [u16; 2], listen: u16) -> String {
    let committed = std::fs::read_to_string(common::root().join("deploy/nginx/worker-orcd.conf")).unwrap();
    assert!(committed.contains("least_conn;"), "deploy/nginx/worker-orcd.conf must balance with least_conn");
    let mut conf = committed;
    for (from, to) in [
        ("server 127.0.0.1:8081 ".to_string(), format!("server 127.0.0.1:{} ", ports[0])),
        ("server 127.0.0.1:8082 ".to_string(), format!("server 127.0.0.1:{} ", ports[1])),
        ("listen 8080;".to_string(), format!("listen 127.0.0.1:{listen};")),
    ] {
        assert_eq!(conf.matches(&from).count(), 1, "deploy/nginx/worker-orcd.conf should contain {from:?} once");
        conf = conf.replace(&from, &to);
    }
    conf
}

/// Starts nginx with a generated top-level config that holds everything nginx writes (pid, logs,
/// temp files) in a temp dir, includes the front config, and needs no root.
fn start_nginx(ports: [u16; 2]) -> (Nginx, String) {
    let dir = tempfile::tempdir().unwrap();
    // nginx started as root runs its worker processes as `nobody`, which must reach the temp dirs.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let listen = free_port();
    let d = dir.path().display();
    std::fs::write(dir.path().join("worker-orcd.conf"), front_config(ports, listen)).unwrap();
    let main_conf = format!(
        "daemon off;\n\
         worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log notice;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         \x20   access_log {d}/access.log;\n\
         \x20   client_body_temp_path {d}/client_body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   include {d}/worker-orcd.conf;\n\
         }}\n"
    );
    let conf_path: PathBuf = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, main_conf).unwrap();
    // -e: the error log nginx opens before it has read the config (else /var/log/nginx/error.log).
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn nginx");
    let mut nginx = Nginx { child, dir };
    let base = format!("http://127.0.0.1:{listen}");
    let client = reqwest::blocking::Client::new();
    let t0 = Instant::now();
    loop {
        if let Some(status) = nginx.child.try_wait().unwrap() {
            panic!("nginx exited ({status}) at start; its error log:\n{}", nginx.error_log());
        }
        if client.get(format!("{base}/health")).timeout(Duration::from_secs(2)).send().is_ok_and(|r| r.status() == 200) {
            return (nginx, base);
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "nginx not answering after 30 s; error log:\n{}", nginx.error_log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn completed_jobs(worker: &Worker) -> u64 {
    let text = worker.client.get(worker.url("/metrics")).send().unwrap().text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("worker_requests_total{outcome=\"completed\"} "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[test]
fn both_workers_serve_through_nginx_least_conn() {
    // Checked first: a machine without nginx fails this test, it does not skip it.
    assert!(
        Path::new(NGINX).is_file(),
        "{NGINX} is not installed: run scripts/setup.sh (it installs Debian's nginx for this test)"
    );
    let Some(model) = test_model() else { return };
    let workers = [spawn_worker(&model, WORKER_IDS[0]), spawn_worker(&model, WORKER_IDS[1])];
    for w in &workers {
        w.wait_healthy(Duration::from_secs(120));
    }
    let ports = workers.each_ref().map(|w| w.base.rsplit(':').next().unwrap().parse::<u16>().unwrap());
    let (nginx, base) = start_nginx(ports);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();

    // Sequential requests find both workers idle; least_conn then takes them in turn.
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..10 {
        let r = client.get(format!("{base}/health")).send().unwrap();
        assert_eq!(r.status(), 200);
        let health: Value = r.json().unwrap();
        *seen.entry(health["worker_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let expected: Vec<String> = WORKER_IDS.iter().map(|s| s.to_string()).collect();
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), expected, "worker ids seen through nginx: {seen:?}");

    // Streamed jobs through the proxy: every one arrives whole, and both workers run some.
    for n in 0..4 {
        let body = json!({"job_id": format!("front-{n}"), "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0});
        let r = client.post(format!("{base}/execute")).header("content-type", "application/json").body(body.to_string()).send().unwrap();
        assert_eq!(r.status(), 200, "execute through nginx refused: {}", r.text().unwrap_or_default());
        let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/event-stream"), "content-type through nginx: {content_type}");
        let events: Vec<_> = SseReader::new(r).collect();
        let tokens = check_event_order(&events);
        let last = events.last().unwrap();
        assert_eq!(last.event, "end", "stream through nginx ended with {last:?}");
        assert_eq!(last.data["tokens_out"].as_u64().unwrap() as usize, tokens.len());
    }
    // Streamed, not collected: the first events come through while their job is still decoding
    // (nothing in the front may hold a response back until it ends: caching, compression, spooling).
    // /health publishes `running` after each step, so it is polled briefly; the job has ~3 s to go here
    // (400 tokens, within the workers' 512-token context: over a second on a host three times as fast).
    let body = json!({"job_id": "front-long", "prompt": COUNTING_PROMPT, "max_tokens": 400, "temperature": 0});
    let r = client.post(format!("{base}/execute")).header("content-type", "application/json").body(body.to_string()).send().unwrap();
    let mut stream = SseReader::new(r);
    assert_eq!(stream.next().unwrap().event, "started");
    assert_eq!(stream.next().unwrap().event, "token");
    let t0 = Instant::now();
    let running = || workers.iter().map(|w| w.health()["running"].as_u64().unwrap()).sum::<u64>();
    while running() != 1 {
        assert!(t0.elapsed() < Duration::from_millis(500), "the job should still run when its first token has come through nginx");
        std::thread::sleep(Duration::from_millis(10));
    }
    let rest: Vec<_> = stream.collect();
    assert_eq!(rest.last().unwrap().event, "end", "long stream through nginx ended with {:?}", rest.last());

    let per_worker = workers.each_ref().map(completed_jobs);
    assert_eq!(per_worker.iter().sum::<u64>(), 5, "completed jobs per worker: {per_worker:?}");
    assert!(per_worker.iter().all(|&n| n >= 1), "both workers should run jobs from nginx: {per_worker:?}");

    let log = nginx.error_log();
    assert!(!log.contains("[emerg]") && !log.contains("[alert]"), "nginx error log:\n{log}");
    drop(nginx);
}
