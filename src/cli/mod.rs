//! The command line: argument types (clap) and one module per subcommand.

pub mod bench;
pub mod generate;
pub mod load;
pub mod logits;
pub mod sequence;
pub mod tokenize;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Without a subcommand, worker-orcd is the daemon (`--worker-id … --model … --port …`).
#[derive(Parser, Debug)]
#[command(name = "worker-orcd", version, about = "LLM inference worker: one GGUF model per process",
    args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub daemon: crate::daemon::args::DaemonArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Greedy generation from a prompt; prints only the continuation.
    Generate(generate::GenerateArgs),
    /// Teacher-forced evaluation of a sequence; writes per-position logits as JSON Lines.
    Logits(logits::LogitsArgs),
    /// Times prefill and greedy decode, like llama-bench's pp and tg; prints one JSON line.
    Bench(bench::BenchArgs),
    /// Token ids of a text as a JSON array (or --decode ids back to text).
    Tokenize(tokenize::TokenizeArgs),
    /// Internal: renders the daemon's chat template in a process of its own (src/chat/isolated.rs).
    #[command(name = "chat-template-helper", hide = true)]
    ChatTemplateHelper(ChatTemplateHelperArgs),
}

#[derive(Args, Debug)]
pub struct ChatTemplateHelperArgs {
    /// Memory the helper may map beyond what it maps at start.
    #[arg(long)]
    pub memory_mib: u64,
}

/// Options every subcommand that loads a model shares.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Path to the GGUF model file.
    #[arg(long)]
    pub model: PathBuf,
    /// CPU threads (default: one per online core).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Run on this CUDA device instead of the CPU (needs a build with `--features cuda`).
    #[arg(long)]
    pub gpu_device: Option<i32>,
    /// Append every evaluated position's logits to this JSON Lines file.
    #[arg(long, env = "WORKER_LOGIT_LOG")]
    pub logit_log: Option<PathBuf>,
    /// Tokenize with this tokenizer.json instead of the GGUF's vocabulary.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// CUDA: launch the decode step's kernels one by one instead of replaying a CUDA graph.
    #[arg(long)]
    pub no_cuda_graph: bool,
}
