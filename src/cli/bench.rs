//! `worker-orcd bench`: prefill of --prompt-tokens tokens and greedy decode of --gen-tokens
//! tokens, timed separately (llama-bench's pp and tg), median over --repeat runs after one
//! warm-up. The prompt is a fixed pseudo-random sequence of ordinary tokens, so runs compare.

use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use super::load::{argmax, load_model};
use super::ModelArgs;
use super::sequence::OneSequence;
use crate::ffi::Backend;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: u32,
    #[arg(long, default_value_t = 128)]
    pub gen_tokens: u32,
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// xorshift64: a fixed, platform-independent prompt.
fn bench_prompt(n: usize, n_vocab: usize) -> Vec<i32> {
    let mut state = 0x9e3779b97f4a7c15u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Skip the low ids, where vocabularies keep their special tokens.
            (256 + state % (n_vocab as u64 - 256)) as i32
        })
        .collect()
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.prompt_tokens == 0 || args.repeat == 0 {
        bail!("--prompt-tokens and --repeat must be positive");
    }
    let model = load_model(&args.model)?;
    let info = model.info();
    let prompt = bench_prompt(args.prompt_tokens as usize, info.n_vocab as usize);
    let n_ctx = (args.prompt_tokens + args.gen_tokens) as i32;
    let mut session = OneSequence::new(&model, n_ctx, None, 0)?;

    let mut prefill = Vec::new();
    let mut decode = Vec::new();
    let mut logits = vec![0.0f32; info.n_vocab as usize];
    for run in 0..=args.repeat {
        session.reset()?;
        let t0 = Instant::now();
        logits.copy_from_slice(&session.prefill(&prompt)?);
        let pp = args.prompt_tokens as f64 / t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        for _ in 0..args.gen_tokens {
            let next = argmax(&logits) as i32;
            session.decode_into(next, &mut logits)?;
        }
        let tg = args.gen_tokens as f64 / t1.elapsed().as_secs_f64();
        if run > 0 {
            // run 0 warms caches and the thread pool
            prefill.push(pp);
            decode.push(tg);
        }
    }
    let backend = match info.backend {
        Backend::Cpu => "cpu",
        Backend::Cuda { .. } => "cuda",
    };
    let line = json!({
        "prefill_tok_s": (median(prefill.clone()) * 10.0).round() / 10.0,
        "decode_tok_s": (median(decode.clone()) * 10.0).round() / 10.0,
        "threads": info.n_threads,
        "backend": backend,
        "cuda_graph": matches!(info.backend, Backend::Cuda { .. }) && !args.model.no_cuda_graph,
        "model": args.model.model.display().to_string(),
        "quant": info.quant_kind,
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "repeat": args.repeat,
        "prefill_runs": prefill,
        "decode_runs": decode,
    });
    println!("{line}");
    Ok(())
}
