//! `worker-orcd bench`: prefill of --prompt-tokens tokens and greedy decode of --gen-tokens
//! tokens, timed separately (llama-bench's pp and tg), median over --repeat runs after one
//! warm-up. The prompt is a fixed pseudo-random sequence of ordinary tokens, so runs compare.
//!
//! `--parallel N` (N > 1) runs N sequences on one context, as the daemon's scheduler does: their
//! prompts (each its own pseudo-random sequence) are prefilled packed into steps of up to
//! `--batch-tokens` rows, then all N are decoded in lockstep, one row per sequence per step. The
//! speeds are then aggregates: prompt tokens of all sequences per second of prefill, and decoded
//! tokens of all sequences per second of decode. N = 1 is the single-sequence path, unchanged.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde_json::json;

use super::load::{argmax, load_model};
use super::sequence::OneSequence;
use super::ModelArgs;
use crate::ffi::{Backend, BatchRow, Context, ContextParams, Model, KV_BLOCK_TOKENS};

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
    /// Sequences decoded together on one context (one row each per decode step).
    #[arg(long, default_value_t = 1)]
    pub parallel: u32,
    /// With --parallel > 1: most rows per prefill step (the daemon's --batch-tokens).
    #[arg(long, default_value_t = 512)]
    pub batch_tokens: u32,
}

/// Most sequences a bench context holds (the daemon's --parallel limit).
const MAX_PARALLEL: u32 = 256;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// xorshift64: a fixed, platform-independent prompt. Sequence 0 of `--parallel` gets the
/// single-sequence prompt; sequence k starts from another state.
fn bench_prompt(n: usize, n_vocab: usize, seq: u64) -> Vec<i32> {
    let mut state = 0x9e3779b97f4a7c15u64 ^ seq.wrapping_mul(0xbf58476d1ce4e5b9);
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

/// Median prefill and decode speeds, and every timed run's.
struct Timings {
    prefill: Vec<f64>,
    decode: Vec<f64>,
}

fn one_sequence(model: &Model, args: &BenchArgs) -> Result<Timings> {
    let info = model.info();
    let prompt = bench_prompt(args.prompt_tokens as usize, info.n_vocab as usize, 0);
    let n_ctx = (args.prompt_tokens + args.gen_tokens) as i32;
    let mut session = OneSequence::new(model, n_ctx, None, 0)?;

    let mut t = Timings { prefill: Vec::new(), decode: Vec::new() };
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
            t.prefill.push(pp);
            t.decode.push(tg);
        }
    }
    Ok(t)
}

fn many_sequences(model: &Model, args: &BenchArgs) -> Result<Timings> {
    let info = model.info();
    let n = args.parallel as usize;
    let n_ctx = (args.prompt_tokens + args.gen_tokens) as i32;
    let n_batch = args.batch_tokens.max(args.parallel) as i32;
    let params = ContextParams {
        n_seq_max: args.parallel as i32,
        n_ctx,
        // Each sequence reserves whole blocks.
        kv_cache_tokens: (n_ctx as u32).div_ceil(KV_BLOCK_TOKENS)
            .checked_mul(KV_BLOCK_TOKENS * args.parallel)
            .and_then(|t| i32::try_from(t).ok())
            .context("--parallel x context is too large")?,
        n_batch,
        prefix_cache: false,
        ..Default::default()
    };
    let mut ctx = Context::new(model, &params).context("creating the context")?;
    let prompts: Vec<Vec<i32>> = (0..n).map(|k| bench_prompt(args.prompt_tokens as usize, info.n_vocab as usize, k as u64)).collect();

    let mut t = Timings { prefill: Vec::new(), decode: Vec::new() };
    let mut seqs: Vec<i32> = Vec::with_capacity(n);
    let mut rows: Vec<BatchRow> = Vec::with_capacity(n_batch as usize);
    let mut next = vec![0i32; n];
    for run in 0..=args.repeat {
        for s in seqs.drain(..) {
            ctx.remove_sequence(s)?;
        }
        for _ in 0..n {
            seqs.push(ctx.add_sequence(&[], n_ctx)?.0);
        }
        // Prefill: the prompts' rows in sequence order, packed n_batch to a step; each
        // sequence's last prompt row asks for logits, and gives its first token.
        let t0 = Instant::now();
        let all = (0..n).flat_map(|k| (0..prompts[k].len()).map(move |p| (k, p)));
        rows.clear();
        let mut pending = all.peekable();
        while pending.peek().is_some() {
            rows.clear();
            for (k, p) in pending.by_ref().take(n_batch as usize) {
                let last = p + 1 == prompts[k].len();
                rows.push(BatchRow { token: prompts[k][p], pos: p as i32, seq: seqs[k], logits: last });
            }
            ctx.decode(&rows)?;
            for (r, row) in rows.iter().enumerate() {
                if row.logits {
                    let k = seqs.iter().position(|&s| s == row.seq).unwrap();
                    next[k] = argmax(ctx.logits(r)?) as i32;
                }
            }
        }
        let pp = (n * args.prompt_tokens as usize) as f64 / t0.elapsed().as_secs_f64();
        // Decode: every sequence one row per step, greedy.
        let t1 = Instant::now();
        for step in 0..args.gen_tokens as i32 {
            rows.clear();
            rows.extend((0..n).map(|k| BatchRow { token: next[k], pos: args.prompt_tokens as i32 + step, seq: seqs[k], logits: true }));
            ctx.decode(&rows)?;
            for (k, tok) in next.iter_mut().enumerate() {
                *tok = argmax(ctx.logits(k)?) as i32;
            }
        }
        let tg = (n * args.gen_tokens as usize) as f64 / t1.elapsed().as_secs_f64();
        if run > 0 {
            t.prefill.push(pp);
            t.decode.push(tg);
        }
    }
    Ok(t)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.prompt_tokens == 0 || args.repeat == 0 {
        bail!("--prompt-tokens and --repeat must be positive");
    }
    if !(1..=MAX_PARALLEL).contains(&args.parallel) {
        bail!("--parallel {} is out of range (1-{MAX_PARALLEL})", args.parallel);
    }
    if args.batch_tokens == 0 {
        bail!("--batch-tokens must be positive");
    }
    let model = load_model(&args.model)?;
    let info = model.info();
    let t = if args.parallel == 1 { one_sequence(&model, args)? } else { many_sequences(&model, args)? };
    let backend = match info.backend {
        Backend::Cpu => "cpu",
        Backend::Cuda { .. } => "cuda",
    };
    let mut line = json!({
        "prefill_tok_s": (median(t.prefill.clone()) * 10.0).round() / 10.0,
        "decode_tok_s": (median(t.decode.clone()) * 10.0).round() / 10.0,
        "threads": info.n_threads,
        "backend": backend,
        "cuda_graph": matches!(info.backend, Backend::Cuda { .. }) && !args.model.no_cuda_graph,
        "model": args.model.model.display().to_string(),
        "quant": info.quant_kind,
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "repeat": args.repeat,
        "parallel": args.parallel,
        "prefill_runs": t.prefill,
        "decode_runs": t.decode,
    });
    if args.parallel > 1 {
        // Per-sequence decode speed, and the step rate it comes from.
        let agg = median(line["decode_runs"].as_array().unwrap().iter().filter_map(|v| v.as_f64()).collect());
        line["batch_tokens"] = json!(args.batch_tokens.max(args.parallel));
        line["decode_tok_s_per_sequence"] = json!((agg / args.parallel as f64 * 10.0).round() / 10.0);
    }
    println!("{line}");
    Ok(())
}
