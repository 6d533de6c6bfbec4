//! The daemon's command line, as the orchestrator calls it:
//!   worker-orcd --worker-id <uuid> --model <path.gguf> --gpu-device <id> --port <port>
//! (or `--device cpu` instead of `--gpu-device`). Every argument is checked before anything
//! starts; a bad one is one clear line on stderr and exit code 1.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(Args, Debug, Default)]
pub struct DaemonArgs {
    /// This worker's id (a UUID), echoed in /health.
    #[arg(long)]
    pub worker_id: Option<String>,
    /// The GGUF model to serve.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// CUDA device index (needs a build with `--features cuda`).
    #[arg(long)]
    pub gpu_device: Option<String>,
    /// Run on the CPU backend instead of a GPU: `--device cpu`.
    #[arg(long)]
    pub device: Option<String>,
    /// TCP port to listen on (1024-65535).
    #[arg(long)]
    pub port: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Context size per job in tokens (default: the model's training context).
    #[arg(long)]
    pub ctx_size: Option<u32>,
    /// Jobs decoded together (continuous batching); default 4 on the CPU, 64 on CUDA; at most 256.
    #[arg(long)]
    pub parallel: Option<u32>,
    /// Most rows (decoded tokens plus prompt chunks) one forward step takes.
    #[arg(long, default_value_t = 512)]
    pub batch_tokens: u32,
    /// KV-cache pool in tokens (default: --parallel full contexts of --ctx-size, reduced to what
    /// memory allows).
    #[arg(long)]
    pub kv_cache_tokens: Option<u32>,
    /// Do not keep finished jobs' full KV blocks for reuse by later prompts.
    #[arg(long)]
    pub no_prefix_cache: bool,
    /// CPU threads (default: one per online core).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Largest max_tokens a request may ask for (and the default when it asks for none).
    #[arg(long, default_value_t = 2048)]
    pub max_tokens_out: u32,
    /// A job running longer than this ends with INFERENCE_TIMEOUT.
    #[arg(long, default_value_t = 300)]
    pub inference_timeout_sec: u64,
    /// Jobs that may wait behind the running one; more get 503 QUEUE_FULL.
    #[arg(long, default_value_t = 16)]
    pub queue_depth: usize,
    /// Require `Authorization: Bearer <key>` on /execute, /cancel and /v1/*.
    #[arg(long, env = "WORKER_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The model's name in the OpenAI API (`model` of requests, /v1/models); default: the file name.
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// Append every evaluated position's logits (tagged with job_id and step) to this file.
    #[arg(long, env = "WORKER_LOGIT_LOG")]
    pub logit_log: Option<PathBuf>,
    /// Include prompts in the per-job log lines (off by default: prompts may be private).
    #[arg(long)]
    pub log_prompts: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How often (seconds) to verify that every weight is still in device memory (CUDA).
    #[arg(long, default_value_t = 60)]
    pub residency_check_sec: u64,
    /// On SIGTERM/SIGINT, how long the running job may take to finish before it is cancelled.
    #[arg(long, default_value_t = 30)]
    pub shutdown_timeout_sec: u64,
    /// Tokenize with this tokenizer.json instead of the GGUF's vocabulary (tokenizer_kind hf-json).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Render `messages` with this Jinja chat template instead of the GGUF's own.
    #[arg(long)]
    pub chat_template_file: Option<PathBuf>,
    /// CUDA: launch the decode step's kernels one by one instead of replaying a CUDA graph.
    #[arg(long)]
    pub no_cuda_graph: bool,
    /// Most open HTTP connections; a connection over the cap gets 503 and is closed at once.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: u32,
    /// A request's headers must arrive within this many seconds of the connection being ready to
    /// read them (also how long an idle keep-alive connection stays open).
    #[arg(long, default_value_t = 10)]
    pub header_timeout_sec: u64,
    /// A request's body must arrive within this many seconds; else 408 BODY_TIMEOUT.
    #[arg(long, default_value_t = 30)]
    pub body_timeout_sec: u64,
}

/// Largest --max-connections (each connection holds a file descriptor and a few KiB).
pub const MAX_CONNECTIONS: u32 = 65_536;
/// Largest --header-timeout-sec and --body-timeout-sec.
pub const MAX_REQUEST_TIMEOUT_SEC: u64 = 3600;

/// The core's largest context (kMaxContext in cuda/core/model.h).
pub const MAX_CTX_SIZE: u32 = 1 << 22;
/// Most jobs decoded together.
pub const MAX_PARALLEL: u32 = 256;
/// Most rows per step (the core's limit).
pub const MAX_BATCH_TOKENS: u32 = 1 << 16;
/// Default --parallel per backend.
pub const DEFAULT_PARALLEL_CPU: u32 = 4;
pub const DEFAULT_PARALLEL_CUDA: u32 = 64;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Gpu(i32),
}

/// DaemonArgs after validation.
#[derive(Debug)]
pub struct DaemonConfig {
    pub worker_id: String,
    pub model: PathBuf,
    pub device: Device,
    pub host: IpAddr,
    pub port: u16,
    pub ctx_size: Option<u32>,
    pub parallel: u32,
    pub batch_tokens: u32,
    pub kv_cache_tokens: Option<u32>,
    pub prefix_cache: bool,
    pub threads: Option<u32>,
    pub max_tokens_out: u32,
    pub inference_timeout: Duration,
    pub queue_depth: usize,
    pub api_key: Option<String>,
    pub served_model_name: Option<String>,
    pub logit_log: Option<PathBuf>,
    pub log_prompts: bool,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    pub residency_check: Duration,
    pub tokenizer: Option<PathBuf>,
    pub chat_template_file: Option<PathBuf>,
    pub cuda_graphs: bool,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

/// A file given on the command line must exist and be readable before the server starts.
fn readable_file(flag: &str, path: &std::path::Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(format!("{flag} {}: not a regular file", path.display())),
        Err(e) => return Err(format!("{flag} {}: {e}", path.display())),
    }
    std::fs::File::open(path).map(|_| ()).map_err(|e| format!("{flag} {}: cannot be read: {e}", path.display()))
}

impl DaemonArgs {
    pub fn validate(self) -> Result<DaemonConfig, String> {
        let worker_id = self.worker_id.ok_or("--worker-id is required (a UUID)")?;
        uuid::Uuid::parse_str(&worker_id).map_err(|e| format!("--worker-id '{worker_id}' is not a UUID: {e}"))?;
        let model = self.model.ok_or("--model is required (path to a .gguf file)")?;
        readable_file("--model", &model)?;
        for (flag, path) in [("--tokenizer", &self.tokenizer), ("--chat-template-file", &self.chat_template_file)] {
            if let Some(path) = path {
                readable_file(flag, path)?;
            }
        }
        let device = match (self.gpu_device, self.device) {
            (Some(_), Some(_)) => return Err("give either --gpu-device <id> or --device cpu, not both".into()),
            (None, None) => return Err("--gpu-device <id> is required (or --device cpu for the CPU backend)".into()),
            (None, Some(d)) if d == "cpu" => Device::Cpu,
            (None, Some(d)) => return Err(format!("--device '{d}' is not known; the only value is 'cpu' (use --gpu-device <id> for a GPU)")),
            (Some(g), None) => {
                let id: i32 = g.parse().map_err(|_| format!("--gpu-device '{g}' is not a device index"))?;
                if id < 0 {
                    return Err(format!("--gpu-device {id} is out of range (indices start at 0)"));
                }
                Device::Gpu(id)
            }
        };
        let port_text = self.port.ok_or("--port is required (1024-65535)")?;
        let port: u32 = port_text.parse().map_err(|_| format!("--port '{port_text}' is not a number"))?;
        if !(1024..=65535).contains(&port) {
            return Err(format!("--port {port} is out of range (1024-65535)"));
        }
        let host: IpAddr = self.host.parse().map_err(|_| format!("--host '{}' is not an IP address", self.host))?;
        if let Some(c) = self.ctx_size {
            if !(1..=MAX_CTX_SIZE).contains(&c) {
                return Err(format!("--ctx-size {c} is out of range (1-{MAX_CTX_SIZE})"));
            }
        }
        let parallel = self.parallel.unwrap_or(match device {
            Device::Cpu => DEFAULT_PARALLEL_CPU,
            Device::Gpu(_) => DEFAULT_PARALLEL_CUDA,
        });
        if !(1..=MAX_PARALLEL).contains(&parallel) {
            return Err(format!("--parallel {parallel} is out of range (1-{MAX_PARALLEL})"));
        }
        if !(1..=MAX_BATCH_TOKENS).contains(&self.batch_tokens) {
            return Err(format!("--batch-tokens {} is out of range (1-{MAX_BATCH_TOKENS})", self.batch_tokens));
        }
        if self.batch_tokens < parallel {
            return Err(format!(
                "--batch-tokens {} is smaller than --parallel {parallel}: a step must hold one token of every running job",
                self.batch_tokens
            ));
        }
        if let Some(k) = self.kv_cache_tokens {
            if k == 0 || k > i32::MAX as u32 {
                return Err(format!("--kv-cache-tokens {k} is out of range (1-{})", i32::MAX));
            }
        }
        if self.threads == Some(0) {
            return Err("--threads must be at least 1".into());
        }
        if self.max_tokens_out == 0 {
            return Err("--max-tokens-out must be at least 1".into());
        }
        if self.inference_timeout_sec == 0 {
            return Err("--inference-timeout-sec must be at least 1".into());
        }
        if self.queue_depth == 0 {
            return Err("--queue-depth must be at least 1".into());
        }
        if self.residency_check_sec == 0 {
            return Err("--residency-check-sec must be at least 1".into());
        }
        if self.api_key.as_deref() == Some("") {
            return Err("--api-key must not be empty".into());
        }
        if self.served_model_name.as_deref().is_some_and(|n| n.is_empty() || n.chars().any(char::is_control)) {
            return Err("--served-model-name must be a non-empty name without control characters".into());
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!("--max-connections {} is out of range (1-{MAX_CONNECTIONS})", self.max_connections));
        }
        for (flag, secs) in [("--header-timeout-sec", self.header_timeout_sec), ("--body-timeout-sec", self.body_timeout_sec)] {
            if !(1..=MAX_REQUEST_TIMEOUT_SEC).contains(&secs) {
                return Err(format!("{flag} {secs} is out of range (1-{MAX_REQUEST_TIMEOUT_SEC})"));
            }
        }
        Ok(DaemonConfig {
            worker_id,
            model,
            device,
            host,
            port: port as u16,
            ctx_size: self.ctx_size,
            parallel,
            batch_tokens: self.batch_tokens,
            kv_cache_tokens: self.kv_cache_tokens,
            prefix_cache: !self.no_prefix_cache,
            threads: self.threads,
            max_tokens_out: self.max_tokens_out,
            inference_timeout: Duration::from_secs(self.inference_timeout_sec),
            queue_depth: self.queue_depth,
            api_key: self.api_key,
            served_model_name: self.served_model_name,
            logit_log: self.logit_log,
            log_prompts: self.log_prompts,
            log_format: self.log_format,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_sec),
            residency_check: Duration::from_secs(self.residency_check_sec),
            tokenizer: self.tokenizer,
            chat_template_file: self.chat_template_file,
            cuda_graphs: !self.no_cuda_graph,
            max_connections: self.max_connections as usize,
            header_timeout: Duration::from_secs(self.header_timeout_sec),
            body_timeout: Duration::from_secs(self.body_timeout_sec),
        })
    }
}
