//! Continuous batching through the real daemon on the real model, over real HTTP: the same
//! request with the same seed gives the same token ids whatever else runs beside it (batch
//! invariance, .specs/batching.md), cancelling or dropping one job leaves the others unchanged,
//! a full KV pool queues jobs instead of failing them, and the router gauges move.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::batching::{assert_same, ended_ids as ids, requests, run_alone, run_together};
use common::test_model;
use common::worker::Worker;
use serde_json::{json, Value};

fn metrics(w: &Worker) -> String {
    w.client.get(w.url("/metrics")).send().unwrap().text().unwrap()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn the_same_request_gives_the_same_tokens_alone_batched_chunked_staggered_and_cached() {
    let Some(model) = test_model() else { return };
    let reqs = requests();
    let w = Worker::start(&model, &["--parallel", "8", "--no-prefix-cache"]);
    let alone = run_alone(&w, &reqs, "-alone");
    // All eight at once.
    assert_same("--parallel 8", &alone, &run_together(&w, &reqs, "-together", Duration::ZERO));
    // Joining one after another while the others decode.
    assert_same("staggered", &alone, &run_together(&w, &reqs, "-staggered", Duration::from_millis(150)));
    drop(w);

    // Three at a time, prompts prefilled 16 rows per step beside the decoding jobs.
    let w = Worker::start(&model, &["--parallel", "3", "--batch-tokens", "16"]);
    assert_same("--parallel 3 --batch-tokens 16", &alone, &run_together(&w, &reqs, "-small", Duration::ZERO));
    // Again on the same worker: the prompts' full blocks now come from the prefix cache.
    let cached = run_together(&w, &reqs, "-cached", Duration::ZERO);
    assert_same("after a warm prefix cache", &alone, &cached);
    let hits: u64 = cached.values().map(|(_, end)| end["cached_prompt_tokens"].as_u64().unwrap()).sum();
    assert!(hits >= 16 * reqs.len() as u64, "only {hits} prompt tokens came from the cache");
    let m = metrics(&w);
    assert!(metric(&m, "worker_prefix_cache_hit_tokens_total") >= hits as f64, "{m}");
    assert!(metric(&m, "worker_prefix_cache_queried_tokens_total") > metric(&m, "worker_prefix_cache_hit_tokens_total"));
    assert!(metric(&m, "worker_step_rows_count") > 0.0);
}

#[test]
fn cancelling_one_job_or_dropping_its_client_leaves_the_other_three_unchanged() {
    let Some(model) = test_model() else { return };
    let reqs: Vec<Value> = requests().into_iter().take(4).collect();
    let w = Worker::start(&model, &["--parallel", "4"]);
    let alone = run_alone(&w, &reqs, "-alone");
    let w = &w;
    for (round, how) in ["cancel", "disconnect"].iter().enumerate() {
        let victim = format!("victim-{round}");
        let got = std::thread::scope(|scope| {
            let others: Vec<_> = reqs[1..]
                .iter()
                .map(|r| {
                    let mut body = r.clone();
                    body["job_id"] = json!(format!("{}-{how}", r["job_id"].as_str().unwrap()));
                    scope.spawn(move || (r["job_id"].as_str().unwrap().to_string(), (ids(&w.execute(&body)), Value::Null)))
                })
                .collect();
            let mut stream = w.stream(&json!({"job_id": victim, "prompt": "1, 2, 3, 4, 5,", "max_tokens": 500, "temperature": 0}));
            assert_eq!(stream.next().unwrap().event, "started");
            for _ in 0..3 {
                assert_eq!(stream.next().unwrap().event, "token");
            }
            if *how == "cancel" {
                assert_eq!(w.cancel(&victim), 202);
                let last = stream.last().unwrap();
                assert_eq!(last.data["code"], "CANCELLED", "{last:?}");
            } else {
                drop(stream);
            }
            others.into_iter().map(|h| h.join().unwrap()).collect::<HashMap<_, _>>()
        });
        let want: HashMap<_, _> = alone.iter().filter(|(k, _)| got.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(want.len(), 3);
        assert_same(how, &want, &got);
    }
    let m = metrics(w);
    assert_eq!(metric(&m, "worker_cancellations_total"), 2.0, "{m}");
}

#[test]
fn a_full_pool_queues_jobs_instead_of_failing_them_and_one_that_never_fits_is_refused_at_once() {
    let Some(model) = test_model() else { return };
    // 512 positions of KV: two jobs of ~230 positions each fit at once, the others wait.
    let w = Worker::start(&model, &["--parallel", "4", "--ctx-size", "1024", "--kv-cache-tokens", "512"]);
    assert_eq!(w.health()["kv_cache_tokens_total"], 512);
    let reqs: Vec<Value> = (0..4)
        .map(|k| json!({"job_id": format!("pool-{k}"), "prompt": format!("{}, {}, {},", k + 1, k + 2, k + 3), "max_tokens": 200,
            "temperature": 0}))
        .collect();
    let alone = run_alone(&w, &reqs[..1], "-alone");
    let watcher = std::thread::scope(|scope| {
        let jobs = scope.spawn(|| run_together(&w, &reqs, "", Duration::ZERO));
        // The gauges while it runs: two running, two waiting, the pool mostly held.
        let t0 = Instant::now();
        let mut seen = (0.0f64, 0.0f64, 0.0f64);
        while t0.elapsed() < Duration::from_secs(60) && !jobs.is_finished() {
            let m = metrics(&w);
            let (run, wait, kv) =
                (metric(&m, "worker_requests_running"), metric(&m, "worker_requests_waiting"), metric(&m, "worker_kv_cache_usage_ratio"));
            seen = (seen.0.max(run), seen.1.max(wait), seen.2.max(kv));
            let h = w.health();
            assert!(h["running"].as_u64().unwrap() <= 2, "{h}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let results = jobs.join().unwrap();
        for (job, (tokens, end)) in &results {
            assert_eq!(end["stop_reason"], "max_tokens", "{job}: {end}");
            assert_eq!(tokens.len(), 200);
        }
        assert_eq!(results["pool-0"].0, alone["pool-0"].0, "a job that waited for KV room gives its tokens unchanged");
        seen
    });
    assert_eq!(watcher.0, 2.0, "running gauge");
    assert!(watcher.1 >= 1.0, "waiting gauge never moved");
    assert!(watcher.2 > 0.5 && watcher.2 <= 1.0, "KV usage {}", watcher.2);
    let m = metrics(&w);
    assert_eq!((metric(&m, "worker_requests_running"), metric(&m, "worker_requests_waiting")), (0.0, 0.0));
    assert_eq!(metric(&m, "worker_kv_cache_usage_ratio"), 0.0);
    let h = w.health();
    assert_eq!((h["running"].as_u64(), h["kv_cache_tokens_used"].as_u64()), (Some(0), Some(0)), "{h}");

    // 600 positions can never fit a 512-position pool: refused at once, and the worker goes on.
    let t0 = Instant::now();
    let events = w.execute(&json!({"job_id": "never", "prompt": "Hello", "max_tokens": 600}));
    let last = events.last().unwrap();
    assert_eq!((last.event.as_str(), last.data["code"].as_str()), ("error", Some("CONTEXT_LENGTH_EXCEEDED")), "{last:?}");
    assert!(last.data["message"].as_str().unwrap().contains("never fit"), "{last:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let events = w.execute(&json!({"job_id": "after", "prompt": "Hello", "max_tokens": 4}));
    assert_eq!(events.last().unwrap().event, "end");
}

#[test]
fn health_reports_the_batching_configuration() {
    let Some(model) = test_model() else { return };
    let w = Worker::start(&model, &["--ctx-size", "2048"]);
    let h = w.health();
    assert_eq!(h["parallel"], 4, "{h}");
    assert_eq!(h["batch_tokens"], 512, "{h}");
    assert_eq!(h["kv_cache_tokens_total"], 4 * 2048, "{h}");
    assert_eq!(h["kv_cache_tokens_wanted"], 4 * 2048, "{h}");
    assert_eq!(h["kv_cache_tokens_used"], 0, "{h}");
    assert_eq!(h["running"], 0, "{h}");
    assert_eq!(h["prefix_cache"], true, "{h}");
}
