//! What the batch-invariance tests share (tests/batching.rs on the CPU, tests/gpu.rs on CUDA):
//! eight different requests, and running them alone or all at once through the daemon.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::worker::{chat, check_event_order, SseEvent, Worker};

/// Token ids and the `end` event of each job, by its job id without the run's suffix.
pub type Results = HashMap<String, (Vec<u32>, Value)>;

/// Eight different requests: greedy and seeded, chat and plain, short and long prompts (the long
/// ones span several 16-row chunks when --batch-tokens is 16).
pub fn requests() -> Vec<Value> {
    let story = "The lighthouse keeper climbed the stairs every evening, counting each step, and at the top he \
                 lit the lamp and watched the ships pass far out on the dark water. One night";
    let spec = |id: &str, prompt: String, t: f64, seed: u64| {
        json!({"job_id": id, "prompt": prompt, "max_tokens": 24, "temperature": t, "seed": seed, "top_k": 40})
    };
    vec![
        spec("greedy-chat", chat("Write a haiku about GPUs."), 0.0, 0),
        spec("greedy-plain", "The capital of France is".into(), 0.0, 0),
        spec("seeded-chat", chat("Tell me a short story about a robot."), 0.8, 42),
        spec("seeded-plain", story.into(), 0.9, 7),
        spec("greedy-long", format!("{story} {story}"), 0.0, 0),
        spec("seeded-code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n".into(), 1.0, 1234),
        spec("greedy-count", "1, 2, 3, 4, 5, 6, 7, 8,".into(), 0.0, 0),
        spec("seeded-chat-2", chat("What is the boiling point of water?"), 0.7, 99),
    ]
}

/// The token ids of a stream that ended with `end`.
pub fn ended_ids(events: &[SseEvent]) -> Vec<u32> {
    let tokens = check_event_order(events);
    let last = events.last().unwrap();
    assert_eq!(last.event, "end", "{last:?}");
    tokens.into_iter().map(|(_, id)| id).collect()
}

fn with_suffix(r: &Value, suffix: &str) -> Value {
    let mut body = r.clone();
    body["job_id"] = json!(format!("{}{suffix}", r["job_id"].as_str().unwrap()));
    body
}

fn run_one(w: &Worker, r: &Value, suffix: &str) -> (String, (Vec<u32>, Value)) {
    let events = w.execute(&with_suffix(r, suffix));
    (r["job_id"].as_str().unwrap().to_string(), (ended_ids(&events), events.last().unwrap().data.clone()))
}

/// One request after another: each runs alone.
pub fn run_alone(w: &Worker, reqs: &[Value], suffix: &str) -> Results {
    reqs.iter().map(|r| run_one(w, r, suffix)).collect()
}

/// Every request at once (one client thread each, started `stagger` apart).
pub fn run_together(w: &Worker, reqs: &[Value], suffix: &str, stagger: Duration) -> Results {
    std::thread::scope(|scope| {
        let handles: Vec<_> = reqs
            .iter()
            .enumerate()
            .map(|(k, r)| {
                scope.spawn(move || {
                    std::thread::sleep(stagger * k as u32);
                    run_one(w, r, suffix)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Every job of `want` got the same token ids in `got`.
pub fn assert_same(label: &str, want: &Results, got: &Results) {
    for (job, (tokens, _)) in want {
        assert_eq!(&got[job].0, tokens, "{label}: {job} differs from its run alone");
    }
}
