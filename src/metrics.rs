//! Prometheus metrics of the worker (served at GET /metrics), registered once per process.

use prometheus::{Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::engine::job::Endpoint;

pub struct Metrics {
    registry: Registry,
    /// Finished or refused requests of every endpoint by outcome: completed, cancelled, the error
    /// codes in lower case (context_length_exceeded, …), or rejected_<reason> for HTTP-level refusals.
    pub requests: IntCounterVec,
    /// The same, by endpoint (/execute, /v1/completions, /v1/chat/completions) and outcome.
    pub endpoint_requests: IntCounterVec,
    pub endpoint_time_to_first_token: HistogramVec,
    pub prompt_tokens: IntCounter,
    pub generated_tokens: IntCounter,
    pub time_to_first_token: Histogram,
    pub request_duration: Histogram,
    pub queue_depth: IntGauge,
    pub cancellations: IntCounter,
    pub memory_bytes: IntGauge,
    pub uptime_seconds: IntGauge,
    /// What routers read (the Gateway API Inference Extension's model-server protocol).
    pub requests_running: IntGauge,
    pub requests_waiting: IntGauge,
    pub kv_cache_usage_ratio: Gauge,
    pub prefix_cache_queries: IntCounter,
    pub prefix_cache_hits: IntCounter,
    pub batch_rows: Histogram,
}

const ROW_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0];

const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("worker".into()), None).expect("metrics registry");
        let requests = IntCounterVec::new(Opts::new("requests_total", "Requests of every endpoint by outcome"), &["outcome"]).unwrap();
        let endpoint_requests =
            IntCounterVec::new(Opts::new("endpoint_requests_total", "Requests by endpoint and outcome"), &["endpoint", "outcome"]).unwrap();
        let endpoint_time_to_first_token = HistogramVec::new(
            HistogramOpts::new("endpoint_time_to_first_token_seconds", "From request accepted to first token, by endpoint")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["endpoint"],
        )
        .unwrap();
        let prompt_tokens = IntCounter::new("prompt_tokens_total", "Prompt tokens evaluated").unwrap();
        let generated_tokens = IntCounter::new("generated_tokens_total", "Tokens generated and streamed").unwrap();
        let time_to_first_token = Histogram::with_opts(
            HistogramOpts::new("time_to_first_token_seconds", "From request accepted to first token event")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .unwrap();
        let request_duration = Histogram::with_opts(
            HistogramOpts::new("request_duration_seconds", "From request accepted to its terminal event")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .unwrap();
        let queue_depth = IntGauge::new("queue_depth", "Jobs waiting in the queue").unwrap();
        let cancellations = IntCounter::new("cancellations_total", "Jobs cancelled (cancel call or client gone)").unwrap();
        let memory_bytes = IntGauge::new("memory_bytes", "Bytes of model weights plus the context (KV pool and scratch)").unwrap();
        let uptime_seconds = IntGauge::new("uptime_seconds", "Seconds since the worker started").unwrap();
        let requests_running = IntGauge::new("requests_running", "Jobs admitted and running together").unwrap();
        let requests_waiting = IntGauge::new("requests_waiting", "Jobs waiting to be admitted (queued or held for KV room)").unwrap();
        let kv_cache_usage_ratio =
            Gauge::new("kv_cache_usage_ratio", "KV-cache blocks held by running jobs over the pool's blocks (0..1)").unwrap();
        let prefix_cache_queries =
            IntCounter::new("prefix_cache_queried_tokens_total", "Prompt tokens looked up in the prefix cache").unwrap();
        let prefix_cache_hits =
            IntCounter::new("prefix_cache_hit_tokens_total", "Prompt tokens whose KV came from the prefix cache").unwrap();
        let batch_rows = Histogram::with_opts(
            HistogramOpts::new("step_rows", "Rows per forward step (decoded tokens plus prompt chunks)").buckets(ROW_BUCKETS.to_vec()),
        )
        .unwrap();
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(endpoint_requests.clone()),
            Box::new(endpoint_time_to_first_token.clone()),
            Box::new(prompt_tokens.clone()),
            Box::new(generated_tokens.clone()),
            Box::new(time_to_first_token.clone()),
            Box::new(request_duration.clone()),
            Box::new(queue_depth.clone()),
            Box::new(cancellations.clone()),
            Box::new(memory_bytes.clone()),
            Box::new(uptime_seconds.clone()),
            Box::new(requests_running.clone()),
            Box::new(requests_waiting.clone()),
            Box::new(kv_cache_usage_ratio.clone()),
            Box::new(prefix_cache_queries.clone()),
            Box::new(prefix_cache_hits.clone()),
            Box::new(batch_rows.clone()),
        ] {
            registry.register(c).expect("register metric");
        }
        Metrics {
            registry,
            requests,
            endpoint_requests,
            endpoint_time_to_first_token,
            prompt_tokens,
            generated_tokens,
            time_to_first_token,
            request_duration,
            queue_depth,
            cancellations,
            memory_bytes,
            uptime_seconds,
            requests_running,
            requests_waiting,
            kv_cache_usage_ratio,
            prefix_cache_queries,
            prefix_cache_hits,
            batch_rows,
        }
    }

    /// A request of `endpoint` ended (or was refused) with `outcome`.
    pub fn outcome(&self, endpoint: Endpoint, outcome: &str) {
        self.requests.with_label_values(&[outcome]).inc();
        self.endpoint_requests.with_label_values(&[endpoint.as_str(), outcome]).inc();
    }

    /// A job of `endpoint` sent its first token `seconds` after it was accepted.
    pub fn first_token(&self, endpoint: Endpoint, seconds: f64) {
        self.time_to_first_token.observe(seconds);
        self.endpoint_time_to_first_token.with_label_values(&[endpoint.as_str()]).observe(seconds);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("encode metrics");
        String::from_utf8(buf).expect("metrics are UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
