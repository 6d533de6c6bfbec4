//! Every supported architecture on small random-weight models written here (F32, built from the
//! same seed every run): it loads, its logits are finite, and batch invariance holds
//! (.specs/batching.md): a sequence decoded alone gives bit-identical logits when its prompt is
//! prefilled in chunks beside other sequences' prompts and decoded rows. The models exercise each
//! architecture's options: Llama 3's rope_freqs, Qwen2's Q/K/V biases, Qwen3's per-head Q/K norms
//! and a head size apart from n_embd / n_head, Phi-3's fused QKV and gate/up with LongRoPE factors,
//! Gemma 3's sliding-window layers (window 8, so the test's prompts slide past it), post-norms,
//! GeGLU and embedding scale. Parity with llama.cpp on the committed random-model dumps is
//! tests/model_coverage.rs's (parity/reference/random/).

mod common;

use std::path::{Path, PathBuf};

use common::gguf_writer::{ttype, vtype, Gguf, Rng, Tensor, Value};
use worker_orcd::ffi::{Backend, BatchRow, Context, ContextParams, Model, ModelParams};

const N_VOCAB: u32 = 96;
const N_EMBD: u64 = 64;
const N_FF: u64 = 96;

/// The options one test model carries.
struct Spec {
    arch: &'static str,
    n_layer: u32,
    n_head: u32,
    n_head_kv: u32,
    head_dim: u32,
    biases: bool,
    qk_norm: bool,
    fused: bool,
    post_norms: bool,
    rope_factors: Option<&'static str>,
    window: u32,
}

fn specs() -> Vec<Spec> {
    let base = |arch| Spec {
        arch,
        n_layer: 2,
        n_head: 4,
        n_head_kv: 2,
        head_dim: 16,
        biases: false,
        qk_norm: false,
        fused: false,
        post_norms: false,
        rope_factors: None,
        window: 0,
    };
    vec![
        Spec { rope_factors: Some("rope_freqs.weight"), ..base("llama") },
        Spec { biases: true, ..base("qwen2") },
        Spec { qk_norm: true, head_dim: 32, ..base("qwen3") },
        Spec { fused: true, n_head_kv: 4, rope_factors: Some("rope_factors_short.weight"), ..base("phi3") },
        Spec { n_layer: 3, n_head: 2, n_head_kv: 1, head_dim: 64, qk_norm: true, post_norms: true, window: 8, ..base("gemma3") },
    ]
}

fn build(s: &Spec) -> Gguf {
    let mut rng = Rng::new(0x5eed ^ s.arch.len() as u64);
    let key = |k: &str| format!("{}.{k}", s.arch);
    let (e, f, v) = (N_EMBD, N_FF, N_VOCAB as u64);
    let q_dim = (s.n_head * s.head_dim) as u64;
    let kv_dim = (s.n_head_kv * s.head_dim) as u64;
    let mut g = Gguf::new()
        .kv("general.architecture", Value::str(s.arch))
        .kv(&key("context_length"), Value::U32(512))
        .kv(&key("embedding_length"), Value::U32(e as u32))
        .kv(&key("block_count"), Value::U32(s.n_layer))
        .kv(&key("feed_forward_length"), Value::U32(f as u32))
        .kv(&key("attention.head_count"), Value::U32(s.n_head))
        .kv(&key("attention.head_count_kv"), Value::U32(s.n_head_kv))
        .kv(&key("attention.key_length"), Value::U32(s.head_dim))
        .kv(&key("attention.value_length"), Value::U32(s.head_dim))
        .kv(&key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6))
        .kv(&key("rope.freq_base"), Value::F32(100000.0))
        .kv(&key("vocab_size"), Value::U32(N_VOCAB))
        .kv("tokenizer.ggml.model", Value::str("none"));
    if s.window > 0 {
        g = g
            .kv(&key("attention.sliding_window"), Value::U32(s.window))
            .kv(&key("attention.sliding_window_pattern"), Value::Array(vtype::BOOL, vec![Value::Bool(true), Value::Bool(false), Value::Bool(true)]))
            .kv(&key("rope.freq_base_swa"), Value::F32(10000.0));
    }
    let mut values = |n: u64, scale: f32, offset: f32| -> Vec<f32> { (0..n).map(|_| offset + scale * rng.uniform()).collect() };
    let mut tensors = Vec::new();
    let matrix = |tensors: &mut Vec<Tensor>, name: String, cols: u64, rows: u64, values: &mut dyn FnMut(u64, f32, f32) -> Vec<f32>| {
        tensors.push(Tensor::from_f32(&name, &[cols, rows], ttype::F32, &values(cols * rows, 1.0 / (cols as f32).sqrt(), 0.0)));
    };
    let vector = |tensors: &mut Vec<Tensor>, name: String, n: u64, scale: f32, offset: f32, values: &mut dyn FnMut(u64, f32, f32) -> Vec<f32>| {
        tensors.push(Tensor::from_f32(&name, &[n], ttype::F32, &values(n, scale, offset)));
    };
    matrix(&mut tensors, "token_embd.weight".into(), e, v, &mut values);
    vector(&mut tensors, "output_norm.weight".into(), e, 0.1, 1.0, &mut values);
    matrix(&mut tensors, "output.weight".into(), e, v, &mut values);
    if let Some(name) = s.rope_factors {
        vector(&mut tensors, name.into(), (s.head_dim / 2) as u64, 1.5, 2.5, &mut values);
    }
    for l in 0..s.n_layer {
        let n = |what: &str| format!("blk.{l}.{what}");
        vector(&mut tensors, n("attn_norm.weight"), e, 0.1, 1.0, &mut values);
        if s.fused {
            matrix(&mut tensors, n("attn_qkv.weight"), e, q_dim + 2 * kv_dim, &mut values);
        } else {
            matrix(&mut tensors, n("attn_q.weight"), e, q_dim, &mut values);
            matrix(&mut tensors, n("attn_k.weight"), e, kv_dim, &mut values);
            matrix(&mut tensors, n("attn_v.weight"), e, kv_dim, &mut values);
        }
        if s.biases {
            vector(&mut tensors, n("attn_q.bias"), q_dim, 0.5, 0.0, &mut values);
            vector(&mut tensors, n("attn_k.bias"), kv_dim, 0.5, 0.0, &mut values);
            vector(&mut tensors, n("attn_v.bias"), kv_dim, 0.5, 0.0, &mut values);
        }
        if s.qk_norm {
            vector(&mut tensors, n("attn_q_norm.weight"), s.head_dim as u64, 0.1, 1.0, &mut values);
            vector(&mut tensors, n("attn_k_norm.weight"), s.head_dim as u64, 0.1, 1.0, &mut values);
        }
        matrix(&mut tensors, n("attn_output.weight"), q_dim, e, &mut values);
        vector(&mut tensors, n("ffn_norm.weight"), e, 0.1, 1.0, &mut values);
        if s.fused {
            matrix(&mut tensors, n("ffn_up.weight"), e, 2 * f, &mut values);
        } else {
            matrix(&mut tensors, n("ffn_gate.weight"), e, f, &mut values);
            matrix(&mut tensors, n("ffn_up.weight"), e, f, &mut values);
        }
        matrix(&mut tensors, n("ffn_down.weight"), f, e, &mut values);
        if s.post_norms {
            vector(&mut tensors, n("post_attention_norm.weight"), e, 0.1, 1.0, &mut values);
            vector(&mut tensors, n("post_ffw_norm.weight"), e, 0.1, 1.0, &mut values);
        }
    }
    for t in tensors {
        g = g.tensor(t);
    }
    g
}

fn write_models(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    specs()
        .iter()
        .map(|s| {
            let p = dir.join(format!("{}.gguf", s.arch));
            build(s).write(&p);
            (s.arch, p)
        })
        .collect()
}

fn load(path: &Path) -> Model {
    Model::load(path, ModelParams { backend: Backend::Cpu, n_threads: 2, ..Default::default() })
        .unwrap_or_else(|e| panic!("loading {}: {}", path.display(), e.message))
}

fn prompt(k: usize, len: usize, n_vocab: usize) -> Vec<i32> {
    (0..len).map(|i| ((i * 37 + k * 11 + 5) % n_vocab.min(4096)) as i32).collect()
}

fn argmax(v: &[f32]) -> i32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as i32
}

const STEPS: usize = 6;

/// How long sequence 0's prompt is, and the chunks it is prefilled in beside the others.
#[derive(Clone, Copy)]
struct Run {
    prompt: usize,
    chunk: usize,
}

const SMALL: Run = Run { prompt: 30, chunk: 7 };

fn ctx_size(run: Run) -> i32 {
    ((run.prompt + STEPS + 64) / 16 * 16) as i32
}

fn context(model: &Model, n: usize, run: Run) -> Context<'_> {
    let n_ctx = ctx_size(run);
    let params = ContextParams { n_seq_max: n as i32, n_ctx, kv_cache_tokens: n_ctx * n as i32, prefix_cache: false, ..Default::default() };
    Context::new(model, &params).unwrap()
}

/// Sequence 0's prompt in one step (in steps of 512 rows at most), then STEPS greedy decodes: the
/// logits of every position that asked for them (the last prompt row, then each decoded row).
fn alone(model: &Model, run: Run) -> Vec<Vec<f32>> {
    let mut ctx = context(model, 1, run);
    let s = ctx.add_sequence(&[], ctx_size(run)).unwrap().0;
    let p = prompt(0, run.prompt, ctx.n_vocab());
    let all: Vec<BatchRow> = p.iter().enumerate().map(|(i, &t)| BatchRow { token: t, pos: i as i32, seq: s, logits: i + 1 == p.len() }).collect();
    let mut rows: &[BatchRow] = &[];
    for part in all.chunks(512) {
        ctx.decode(part).unwrap();
        rows = part;
    }
    let mut out = vec![ctx.logits(rows.len() - 1).unwrap().to_vec()];
    for _ in 0..STEPS {
        let tok = argmax(out.last().unwrap());
        ctx.decode(&[BatchRow { token: tok, pos: ctx.seq_len(s).unwrap(), seq: s, logits: true }]).unwrap();
        out.push(ctx.logits(0).unwrap().to_vec());
    }
    out
}

/// The same sequence prefilled in chunks while two others decode beside it (their rows first),
/// then decoded in lockstep with them.
fn together(model: &Model, run: Run) -> Vec<Vec<f32>> {
    let mut ctx = context(model, 3, run);
    let seqs: Vec<i32> = (0..3).map(|_| ctx.add_sequence(&[], ctx_size(run)).unwrap().0).collect();
    let mut next = vec![0i32; 3];
    let n_vocab = ctx.n_vocab();
    for k in 1..3 {
        let p = prompt(k, 5 + 4 * k, n_vocab);
        let rows: Vec<BatchRow> =
            p.iter().enumerate().map(|(i, &t)| BatchRow { token: t, pos: i as i32, seq: seqs[k], logits: i + 1 == p.len() }).collect();
        ctx.decode(&rows).unwrap();
        next[k] = argmax(ctx.logits(rows.len() - 1).unwrap());
    }
    let p = prompt(0, run.prompt, n_vocab);
    let mut out = Vec::new();
    for chunk in (0..p.len()).collect::<Vec<_>>().chunks(run.chunk) {
        let mut rows: Vec<BatchRow> =
            (1..3).map(|k| BatchRow { token: next[k], pos: ctx.seq_len(seqs[k]).unwrap(), seq: seqs[k], logits: true }).collect();
        rows.extend(chunk.iter().map(|&i| BatchRow { token: p[i], pos: i as i32, seq: seqs[0], logits: i + 1 == p.len() }));
        ctx.decode(&rows).unwrap();
        for (k, tok) in next.iter_mut().enumerate().skip(1) {
            *tok = argmax(ctx.logits(k - 1).unwrap());
        }
        if *chunk.last().unwrap() + 1 == p.len() {
            out.push(ctx.logits(rows.len() - 1).unwrap().to_vec());
        }
    }
    for _ in 0..STEPS {
        next[0] = argmax(out.last().unwrap());
        // Sequence 0's row in the middle of the step.
        let order = [1usize, 0, 2];
        let rows: Vec<BatchRow> =
            order.iter().map(|&k| BatchRow { token: next[k], pos: ctx.seq_len(seqs[k]).unwrap(), seq: seqs[k], logits: true }).collect();
        ctx.decode(&rows).unwrap();
        for (r, &k) in order.iter().enumerate() {
            let l = ctx.logits(r).unwrap();
            if k == 0 {
                out.push(l.to_vec());
            } else {
                next[k] = argmax(l);
            }
        }
    }
    out
}

#[test]
fn every_architecture_loads_and_gives_finite_spread_logits() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, path) in write_models(dir.path()) {
        let model = load(&path);
        let logits = alone(&model, SMALL);
        for l in &logits {
            assert_eq!(l.len(), N_VOCAB as usize, "{arch}");
            assert!(l.iter().all(|x| x.is_finite()), "{arch}: non-finite logits");
            let (lo, hi) = l.iter().fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            assert!(hi - lo > 0.1, "{arch}: logits do not depend on the input ({lo}..{hi})");
        }
    }
}

#[test]
fn batch_invariance_holds_on_every_architecture() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, path) in write_models(dir.path()) {
        let model = load(&path);
        let a = alone(&model, SMALL);
        let b = together(&model, SMALL);
        assert_eq!(a.len(), b.len(), "{arch}");
        for (step, (x, y)) in a.iter().zip(&b).enumerate() {
            let same = x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same, "{arch}: step {step}: logits alone differ from the batched run");
        }
    }
}

#[test]
fn batch_invariance_holds_on_gemma3_270m_past_its_window() {
    // The real model (scripts/fetch-gemma3.sh; skipped without it): K-quant matmuls, a 262k
    // vocabulary, and a 530-token prompt that passes its 512-position sliding window.
    let path = common::root().join("models/gemma-3-270m.Q4_K_M.gguf");
    if !path.is_file() {
        eprintln!("SKIP: {} is missing (run scripts/fetch-gemma3.sh)", path.display());
        return;
    }
    let model = load(&path);
    let run = Run { prompt: 530, chunk: 97 };
    let a = alone(&model, run);
    let b = together(&model, run);
    for (step, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()), "gemma3 270M: step {step}: alone differs from batched");
    }
}

#[test]
fn the_sliding_window_changes_what_gemma3_attends_to() {
    // The same model with the window removed must give other logits once the prompt passes it
    // (30 positions against a window of 8): the window is applied, not only read.
    let dir = tempfile::tempdir().unwrap();
    let spec = specs().into_iter().find(|s| s.arch == "gemma3").unwrap();
    let with = dir.path().join("with.gguf");
    build(&spec).write(&with);
    let mut g = build(&spec);
    g.remove("gemma3.attention.sliding_window");
    let without = dir.path().join("without.gguf");
    g.write(&without);
    let a = alone(&load(&with), SMALL);
    let b = alone(&load(&without), SMALL);
    assert_ne!(a[0], b[0], "gemma3: the sliding window made no difference at position 29");
}

/// Loading `g` fails with a message containing `needle`.
fn assert_refused(dir: &Path, name: &str, g: &Gguf, needle: &str) {
    let p = dir.join(format!("{name}.gguf"));
    g.write(&p);
    match Model::load(&p, ModelParams { backend: Backend::Cpu, n_threads: 1, ..Default::default() }) {
        Ok(_) => panic!("{name}: loaded, expected an error containing {needle:?}"),
        Err(e) => assert!(e.message.contains(needle), "{name}: {:?} does not contain {needle:?}", e.message),
    }
}

#[test]
fn each_architecture_names_what_its_file_lacks_or_gets_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |arch: &str| specs().into_iter().find(|s| s.arch == arch).unwrap();

    let mut g = build(&spec("qwen3"));
    g.remove_tensor("blk.1.attn_k_norm.weight");
    assert_refused(dir.path(), "qwen3-no-k-norm", &g, "required tensor 'blk.1.attn_k_norm.weight' is missing");

    let mut g = build(&spec("phi3"));
    g.remove_tensor("blk.0.attn_qkv.weight");
    assert_refused(dir.path(), "phi3-no-qkv", &g, "required tensor 'blk.0.attn_q.weight' is missing");

    let mut g = build(&spec("qwen2"));
    *g.tensor_mut("blk.0.attn_k.bias") = Tensor::from_f32("blk.0.attn_k.bias", &[16], ttype::F32, &[0.0; 16]);
    assert_refused(dir.path(), "qwen2-bias-shape", &g, "tensor 'blk.0.attn_k.bias' has shape [16], expected [32]");

    let mut g = build(&spec("llama"));
    g.set("llama.rope.scaling.type", Value::str("yarn"));
    assert_refused(dir.path(), "llama-yarn", &g, "rope scaling 'yarn' is not supported (supported: none, linear)");

    let mut g = build(&spec("gemma3"));
    g.set("gemma3.attention.sliding_window_pattern", Value::Array(vtype::BOOL, vec![Value::Bool(true); 2]));
    assert_refused(dir.path(), "gemma3-pattern", &g, "key 'gemma3.attention.sliding_window_pattern' has 2 entries, expected one per layer (3)");

    let mut g = build(&spec("gemma3"));
    g.set("gemma3.final_logit_softcapping", Value::F32(30.0));
    assert_refused(dir.path(), "gemma3-softcap", &g, "final_logit_softcapping is not supported");

    let mut g = build(&spec("qwen3"));
    g.set("qwen3.attention.value_length", Value::U32(16));
    assert_refused(dir.path(), "qwen3-value-length", &g, "attention.value_length 16 differs from key_length 32");
}
