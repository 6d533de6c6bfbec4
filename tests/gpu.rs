//! CUDA backend tests. One command runs them all: `cargo test --features cuda --test gpu` (on a
//! GPU machine without a toolchain: build with `--no-run` here, carry the test binary and the
//! worker binary, and point WORKER_ORCD_BIN at the latter; scripts/prepare-gpu-run.sh and
//! scripts/gpu-run.sh do that). Tests that need a GPU print why they skip when there is none; the
//! unavailability test and the tolerance-table check run everywhere.
//!
//! Every bar below is derived from the numerics, not chosen: both backends quantize the activations
//! of quantized weights to the same 8-bit blocks (so their integer sums agree), the CPU rounds
//! activations of f16/bf16 weights to that type and attention probabilities to f16, as llama.cpp
//! does, where the CUDA kernels keep f32; and each side sums floats in its own order. How large the
//! resulting differences are was measured by simulation (scripts/sim_cuda_numerics.py), and each
//! bar's comment gives the estimate, the simulated figure and the margin taken.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::gguf_writer::{ttype, TinyLlama};
use common::batching::{assert_same, requests, run_alone, run_together};
use common::worker::{chat, check_event_order, Worker, WORKER_ID};
use common::{bin, root, test_model};
use serde_json::{json, Value};
use worker_orcd::cli::sequence::OneSequence;
use worker_orcd::ffi::{self, Backend, BatchRow, Context, ContextParams, Model, ModelParams};

/// Device 0 when a usable CUDA device is present, else None with the reason printed.
fn gpu() -> Option<i32> {
    match ffi::probe_backend(Backend::Cuda { device: 0 }) {
        Ok(()) => Some(0),
        Err(e) => {
            eprintln!("SKIP: no usable GPU: {}", e.message);
            None
        }
    }
}

fn load(path: &Path, backend: Backend, graphs: bool) -> Model {
    Model::load(path, ModelParams { backend, cuda_graphs: graphs, ..Default::default() })
        .unwrap_or_else(|e| panic!("loading {} on {backend:?}: {}", path.display(), e.message))
}

// ------------------------------------------------------------------------------------------------
// Op tolerances: `rel` = max |cuda - cpu| / max |cpu| over one op check case (cuda/core/op_check.cpp:
// weights from its generator, inputs N(0, 1), K = 576 for the matmuls).
// ------------------------------------------------------------------------------------------------

/// Quantized matmuls (every quantized type of the op check, and the strided Q4_0 with bias). The
/// CUDA kernels quantize the activations to the CPU's own blocks (q8_1 per 32 values for the
/// 32-weight types, q8_K per 256 for the K-quants: cuda/gpu/act_quant.cuh) and take the same exact
/// integer sums, so the two sides differ only in the order of the float scalings and additions:
/// ~36-48 unit terms per output, each rounding by ≤ 2^-24 of a partial sum of about |y|'s size, a
/// random walk of ~√48 · 2^-24 ≈ 4e-7 of max |y| at most, ~1e-7 typically. Simulated in each
/// side's float order (scripts/sim_cuda_numerics.py ops, "int matmul_*", with the generators'
/// ranges and the CPU's order of cpu/types/*.cpp and k_quants.h): 300 draws of n = 1, 5, 37 per
/// type, medians 0.9e-7 – 2.4e-7, max 3.8e-7 (Q5_1). The strided case adds the same f32 bias on
/// both. Bar: 2e-6, ~5 × the maximum — while a single activation quantized differently (one q
/// off by one: ~d_x · |w| ≈ 1e-4 of max |y|) fails it by far.
const MATMUL_INT_REL: f64 = 2e-6;
/// F16 weights: the CPU rounds activations to f16, relative error ≤ 2^-11, rms ≈ 2^-11 · 0.42 ≈
/// 2.1e-4 (mantissas spread log-uniformly); the same argument gives rel ≲ 4e-4. Simulated max
/// 3.6e-4 (median 2.1e-4). Bar 1.5 × that.
const MATMUL_F16_REL: f64 = 6e-4;
/// BF16 weights: activations rounded to bf16, 2^-8 relative, rms ≈ 1.6e-3, rel ≲ 3.3e-3.
/// Simulated max 2.8e-3 (median 1.7e-3). Bar 1.5 × that.
const MATMUL_BF16_REL: f64 = 4.5e-3;
/// F32 weights: the same f32 products, summed in different orders. Each of the 576 additions
/// rounds by ≤ 2^-24 of a partial sum (rms ~ √k · |w x|), a random walk of ~20 · 2^-24 ≈ 1.2e-6
/// absolute per side against max |y| ≈ 3.5: rel ~ 5e-7, ~2e-6 at the tail of 200·n outputs. The
/// worst case (every rounding one way, K · 2^-24 · Σ|w x| on each side) is 2e-4. Bar: 10× the
/// statistical estimate, a tenth of the worst case.
const MATMUL_F32_REL: f64 = 2e-5;
/// Attention: q, K and V are f16 on both sides and the scores, softmax and sums f32 (order
/// differences ~1e-7). The CPU rounds each probability to f16 before p·v (relative error δ ≤
/// 2^-11, rms 2.1e-4); CUDA keeps it f32. Δout = Σ p_j δ_j v_j has sd σ_δ · √(Σ p_j²) · σ_v and
/// out has √(Σ p_j²) · σ_v, so again σ_Δ/σ_out = σ_δ ≈ 2.1e-4 whatever the softmax's shape; the
/// tail ratio ~2 gives rel ≈ 4e-4. Simulated over the op check's six cases per head shape (9/3x64
/// and 4/1x256, 440 cases): max 4.0e-4, median 2.3e-4. Bar: 1.75 × the simulated maximum.
const ATTENTION_REL: f64 = 7e-4;
/// RoPE: both sides compute the same float angles (pos · theta_scale^i by i float products,
/// theta_scale from the same host expression) and the same fused rotation; only cos and sin
/// differ: glibc's cosf/sinf are within 1 ulp, CUDA's double sincos rounded to float within 0.5,
/// so each differs by ≤ 2 ulps ≤ 2 · 2^-24. fma(x0, c, -x1 s) then moves by ≤ 2 · 2^-24 (|x0| +
/// |x1|) plus ≤ 2 ulps of re-rounding; with M = max |x| and max |out| ≥ M/√2 (a rotation keeps the
/// largest pair's norm), rel ≤ (4 + 2√2) · √2 · 2^-24 ≈ 5.8e-7. Bar ~3.5× that bound.
const ROPE_REL: f64 = 2e-6;
/// RMSNorm: float squares summed in double on both (in order vs a tree: the sums agree to
/// ~576 · 2^-53, far below a float ulp), the same float mean, IEEE 1/sqrt, then (x · scale) · w.
/// Equal unless a row's double sum straddles a float rounding boundary (~1e-6 per row): then the
/// scale differs by an ulp and an output by ≤ 2 ulps, rel ≤ 2 · 2^-23 = 2.4e-7. Bar ~4× that.
const RMS_NORM_REL: f64 = 1e-6;
/// SwiGLU: the 2992 elements in whole blocks of 16 go through exp_approx on both (the same
/// formula with round-to-nearest intrinsics on the device: bit-exact); the 8 tail elements use
/// expf (glibc ≤ 1 ulp, CUDA ≤ 2): x/(1+e) · u moves by ≤ 3 ulps plus 2 re-roundings, 5 · 2^-23 ≈
/// 6e-7 of that output at most. Bar ~3× that.
const SWIGLU_REL: f64 = 2e-6;
/// GeGLU: both sides evaluate ggml's tanh GELU on the same f16-rounded gate and round the result
/// to f16; CUDA's tanhf (≤ 2 ulps) against glibc's (≤ 1) can move it across an f16 rounding
/// boundary, one f16 ulp (≤ 2^-10 relative) of that element; rel ≤ 2^-10 ≈ 9.8e-4. Bar ~1.5× that.
const GEGLU_REL: f64 = 1.5e-3;
/// Embedding rows (every type of the op check): the type's dequantization formula on both, d · q
/// (+ m), the K-quants with the sub-block scale product d · sc first; float types are exact. Equal
/// when both contract the same products into fmas, else one extra rounding of a product ≤ 0.5
/// ulp(0.3) ≈ 1.5e-8 plus one of the sum, against max |row| ≈ 0.2: rel ≤ 1.5e-7. Bar ~7× that.
const EMBED_REL: f64 = 1e-6;
/// Residual add and scale (IEEE addition / multiplication of the same operands in the same order) and gather_rows (a copy):
/// exact.
const EXACT: f64 = 0.0;
/// invariance_*: a backend against itself, rows alone vs inside a batch — must be bit-identical
/// (.specs/batching.md), on CUDA as on the CPU.
const INVARIANT: f64 = 0.0;

/// The bar for an op of the op check's report; None for an op this table does not know.
fn op_tolerance(op: &str) -> Option<f64> {
    Some(match op {
        "matmul_Q4_0" | "matmul_Q4_1" | "matmul_Q5_0" | "matmul_Q5_1" | "matmul_Q8_0" | "matmul_Q2_K" | "matmul_Q3_K"
        | "matmul_Q4_K" | "matmul_Q5_K" | "matmul_Q6_K" | "matmul_bias_strided_Q4_0" => MATMUL_INT_REL,
        "matmul_F16" => MATMUL_F16_REL,
        "matmul_BF16" => MATMUL_BF16_REL,
        "matmul_F32" => MATMUL_F32_REL,
        _ if op.starts_with("embed_") => EMBED_REL,
        "rms_norm" | "rms_norm_heads" => RMS_NORM_REL,
        "rope_norm" | "rope_neox" | "rope_neox_factors" => ROPE_REL,
        "swiglu" => SWIGLU_REL,
        "geglu" => GEGLU_REL,
        "add" | "gather_rows" | "scale" => EXACT,
        "attention_prefill" | "attention_mixed" | "attention_decode" => ATTENTION_REL,
        _ if op.starts_with("invariance_matmul_") || op == "invariance_attention" => INVARIANT,
        _ => return None,
    })
}

/// Every op of a report within its bar (and finite); the failures as lines.
fn check_op_report(report: &Value, label: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let ops = report["ops"].as_array().unwrap_or_else(|| panic!("{label}: no ops in {report}"));
    assert!(!ops.is_empty(), "{label}: empty op report");
    for o in ops {
        let op = o["op"].as_str().unwrap();
        let Some(limit) = op_tolerance(op) else {
            failures.push(format!("no tolerance named for op {op}: {o}"));
            continue;
        };
        let rel = o["rel"].as_f64().unwrap();
        eprintln!("{label} {op:<26} {:<44} rel {rel:.3e} (limit {limit:.1e})", o["shape"].as_str().unwrap());
        if o["finite"] != true || rel > limit {
            failures.push(o.to_string());
        }
    }
    failures
}

#[test]
fn every_op_the_op_check_reports_has_a_tolerance_and_the_cpu_matches_itself() {
    // Runs without a GPU: a renamed or new op fails here, in CI, not first on a GPU machine.
    let report: Value = serde_json::from_str(&ffi::backend_op_check(Backend::Cpu).unwrap()).unwrap();
    let failures = check_op_report(&report, "cpu");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for o in report["ops"].as_array().unwrap() {
        assert_eq!(o["max_abs"].as_f64(), Some(0.0), "CPU against CPU must be exact: {o}");
    }
    let names: Vec<&str> = report["ops"].as_array().unwrap().iter().map(|o| o["op"].as_str().unwrap()).collect();
    for want in ["matmul_Q4_0", "matmul_Q5_0", "matmul_Q4_K", "matmul_Q6_K", "matmul_F32", "embed_Q8_0", "embed_Q4_K",
        "attention_decode", "attention_mixed", "invariance_attention", "invariance_matmul_Q4_1"] {
        assert!(names.contains(&want), "{want} missing from the op check: {names:?}");
    }
}

#[test]
fn every_kernel_matches_its_cpu_twin() {
    let Some(device) = gpu() else { return };
    let report: Value = serde_json::from_str(&ffi::backend_op_check(Backend::Cuda { device }).unwrap()).unwrap();
    let failures = check_op_report(&report, "cuda");
    assert!(failures.is_empty(), "kernels outside their tolerance:\n{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// Whole models. `compare.py logits` bars per model, derived from a forward pass with CUDA's
// numerics (q8 activations for quantized matrices, f32 elsewhere) simulated against the CPU
// backend's logits (scripts/sim_cuda_numerics.py logits), measured exactly as compare.py measures
// (top 40 ids on each side):
//   mean_abs  mean |Δlogit| over shared top ids: 1.5 × the largest simulated value (a mean over
//             ~2000 values: seed to seed it varies ±15 % around its median, so 1.5× the worst of
//             30 seeds is far outside it);
//   kl        mean KL(cpu || cuda) over the reference's top ids: 2-3 × the largest simulated value
//             (a mean of squares, so a wider spread);
//   margin    a top-1 disagreement counts only where the reference's top-2 margin is ≥ this. A flip
//             at margin m needs the (top-1, rank j) logit gap to change by ≥ m; this bar is the
//             1e-6 per-pair tail quantile of the simulated gap changes (exponential fit to their top
//             10 %), rounded up, so a correct kernel fails it with probability ~1e-6 per pair (~1e-3
//             for a whole test). Raw top-1 shares are not a bar: random tiny models are full of
//             near-ties (simulated: 16-19 of 30 seeds per quantized type fail top-1 ≥ 0.98).
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Bars {
    mean_abs: f64,
    kl: f64,
    margin: f64,
}

/// Tiny random models (tiny_model(), 48 positions; simulated over 30 seeds each: largest mean
/// |Δ|, largest KL, 1e-6 gap-change tail quantile in the comments).
fn tiny_bars(name: &str) -> Bars {
    match name {
        // 0.00465, 8.6e-5, 0.047 (quantized matrices: the CPU's q8 activations on both sides, the
        // integer mat-vec; the q8 rounding amplifies the other ops' float differences about as much
        // as f32 activations did)
        "mixed" => Bars { mean_abs: 0.007, kl: 2.4e-4, margin: 0.05 },
        // 0.00572, 9.4e-5, 0.070
        "q4_0" => Bars { mean_abs: 0.009, kl: 2.5e-4, margin: 0.075 },
        // 0.00695, 1.35e-4, 0.0695
        "q4_1" => Bars { mean_abs: 0.011, kl: 4e-4, margin: 0.075 },
        // 0.00615, 1.83e-4, 0.068
        "q5_0" => Bars { mean_abs: 0.0095, kl: 5e-4, margin: 0.07 },
        // 0.00697, 1.54e-4, 0.0745
        "q5_1" => Bars { mean_abs: 0.011, kl: 4e-4, margin: 0.075 },
        // 0.00602, 1.33e-4, 0.066
        "q8_0" => Bars { mean_abs: 0.0095, kl: 4e-4, margin: 0.07 },
        // 0.00935, 2.0e-4, 0.103 (256 wide, q8_K activations)
        "q2_k" => Bars { mean_abs: 0.014, kl: 5e-4, margin: 0.11 },
        // 0.00791, 2.15e-4, 0.0844
        "q3_k" => Bars { mean_abs: 0.012, kl: 6e-4, margin: 0.09 },
        // 0.00841, 1.94e-4, 0.0902
        "q4_k" => Bars { mean_abs: 0.013, kl: 5e-4, margin: 0.095 },
        // 0.00833, 1.69e-4, 0.0984
        "q5_k" => Bars { mean_abs: 0.0125, kl: 5e-4, margin: 0.1 },
        // 0.00819, 2.33e-4, 0.0924
        "q6_k" => Bars { mean_abs: 0.0125, kl: 6e-4, margin: 0.095 },
        // 0.00037, 9.0e-6, 0.0036 (activations rounded to f16 on the CPU)
        "f16" => Bars { mean_abs: 6e-4, kl: 3e-5, margin: 0.004 },
        // 0.00224, 6.4e-5, 0.0215 (bf16 activations)
        "bf16" => Bars { mean_abs: 3.5e-3, kl: 2e-4, margin: 0.025 },
        // 0.00011, 2.6e-6, 0.0012 (only the f16 probabilities and summation orders differ)
        "f32" => Bars { mean_abs: 2e-4, kl: 8e-6, margin: 0.0015 },
        other => panic!("no bars for tiny model {other}"),
    }
}

/// SmolLM2-135M Q4_1 through CUDA against llama.cpp's dumps (which the CPU backend equals bit
/// for bit). Simulated per prompt (the integer mat-vec: the CPU's q8_1 activations, other ops in
/// f32 with their own orders): mean |Δ| 0.147–0.187, KL 0.0032–0.0045, top-1 95.9–98.7 %, flips
/// at reference margins up to 0.48; gap changes over 1568 pairs: sd 0.171, max 1.04, tail
/// quantiles 1.23 (1e-5) and 1.47 (1e-6). The same q8 activations do not bring CUDA onto the
/// CPU's numbers: a float difference elsewhere moves an activation across a rounding boundary,
/// and the chaos is llama.cpp's own (f32 → f64 accumulation alone moves a q8 simulation by 0.147).
/// The CPU backend's own bar (mean ≤ 0.1, margin 0.2) would fail correct kernels.
const SMOLLM2_BARS: Bars = Bars { mean_abs: 0.28, kl: 0.01, margin: 1.5 };

const TINY_TYPES: [(&str, Option<u32>); 14] = [("mixed", None), ("q4_0", Some(ttype::Q4_0)), ("q4_1", Some(ttype::Q4_1)),
    ("q5_0", Some(ttype::Q5_0)), ("q5_1", Some(ttype::Q5_1)), ("q8_0", Some(ttype::Q8_0)), ("q2_k", Some(ttype::Q2_K)),
    ("q3_k", Some(ttype::Q3_K)), ("q4_k", Some(ttype::Q4_K)), ("q5_k", Some(ttype::Q5_K)), ("q6_k", Some(ttype::Q6_K)),
    ("f16", Some(ttype::F16)), ("bf16", Some(ttype::BF16)), ("f32", Some(ttype::F32))];

/// The tiny model of a TINY_TYPES entry: 64 wide, or 256 wide (512 in the feed-forward) for the
/// K-quants, whose rows are whole 256-weight super-blocks.
fn tiny_model(ty: Option<u32>, seed: u64) -> TinyLlama {
    let k_quant = matches!(ty, Some(ttype::Q2_K | ttype::Q3_K | ttype::Q4_K | ttype::Q5_K | ttype::Q6_K));
    let base = TinyLlama { seed, matrix_type: ty, ..Default::default() };
    if k_quant { TinyLlama { n_embd: 256, n_ff: 512, ..base } } else { base }
}

/// The tiny models' teacher-forced tokens (the simulation used the same).
fn tiny_tokens() -> Vec<i32> {
    (0..48).map(|i| (i * 37 + 5) % 256).collect()
}

fn logits_cmd(model: &Path, device: Option<i32>, tokens: &[i32], top_k: usize, out: &Path) {
    let tokens = tokens.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(",");
    let mut cmd = Command::new(bin());
    cmd.args(["logits", "--model", model.to_str().unwrap(), "--tokens", &tokens, "--top-k", &top_k.to_string(), "--out", out.to_str().unwrap()]);
    if let Some(d) = device {
        cmd.args(["--gpu-device", &d.to_string()]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn compare(reference: &Path, ours: &Path, bars: Bars) -> Value {
    let o = Command::new("python3")
        .arg(root().join("parity/compare.py"))
        .args(["logits", reference.to_str().unwrap(), ours.to_str().unwrap(), "--json"])
        .args(["--max-mean-abs", &bars.mean_abs.to_string(), "--max-kl", &bars.kl.to_string(), "--margin", &bars.margin.to_string()])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert!(o.status.success(), "{report}\n{}", String::from_utf8_lossy(&o.stderr));
    report
}

fn summary(r: &Value) -> String {
    format!(
        "top-1 {:.4}, mean |dlogit| {:.5}, max {:.4}, KL {:.3e}, disagreements at reference margins {:?}",
        r["top1_agreement"].as_f64().unwrap_or(f64::NAN),
        r["mean_abs_dlogit"].as_f64().unwrap_or(f64::NAN),
        r["max_abs_dlogit"].as_f64().unwrap_or(f64::NAN),
        r["mean_kl"].as_f64().unwrap_or(f64::NAN),
        r["disagreements"].as_array().map(|d| d.iter().map(|x| x["ref_margin"].clone()).collect::<Vec<_>>()).unwrap_or_default()
    )
}

fn write_tiny_models(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    TINY_TYPES
        .iter()
        .map(|&(name, ty)| {
            let path = dir.join(format!("{name}.gguf"));
            tiny_model(ty, 1).build().write(&path);
            (name, path)
        })
        .collect()
}

#[test]
fn every_weight_type_matches_the_cpu_backend_on_tiny_models() {
    let Some(device) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tokens = tiny_tokens();
    let mut failures = Vec::new();
    for (name, path) in write_tiny_models(dir.path()) {
        let (cpu, cuda) = (dir.path().join(format!("{name}-cpu.jsonl")), dir.path().join(format!("{name}-cuda.jsonl")));
        logits_cmd(&path, None, &tokens, 40, &cpu);
        logits_cmd(&path, Some(device), &tokens, 40, &cuda);
        let r = std::panic::catch_unwind(|| compare(&cpu, &cuda, tiny_bars(name)));
        match r {
            Ok(r) => eprintln!("{name}: {} (bars {:?})", summary(&r), tiny_bars(name)),
            Err(_) => failures.push(name),
        }
    }
    assert!(failures.is_empty(), "outside their bars: {failures:?}");
}

#[test]
fn smollm2_matches_llama_cpp_through_cuda() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let refs = root().join("parity/reference/smollm2-135m-q4_1");
    let mut failures = Vec::new();
    for p in reference_prompts() {
        let name = p["name"].as_str().unwrap();
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(refs.join(format!("{name}.meta.json"))).unwrap()).unwrap();
        let ids: Vec<i32> = meta["prompt_tokens"].as_array().unwrap().iter().chain(meta["continuation"].as_array().unwrap())
            .map(|v| v.as_i64().unwrap() as i32).collect();
        let ours = dir.path().join(format!("{name}.jsonl"));
        logits_cmd(&model, Some(device), &ids, 40, &ours);
        match std::panic::catch_unwind(|| compare(&refs.join(format!("{name}.jsonl")), &ours, SMOLLM2_BARS)) {
            Ok(r) => eprintln!("{name}: {}", summary(&r)),
            Err(_) => failures.push(name.to_string()),
        }
    }
    assert!(failures.is_empty(), "outside the bars {SMOLLM2_BARS:?}: {failures:?}");
}

fn reference_prompts() -> Vec<Value> {
    let refs = root().join("parity/reference/smollm2-135m-q4_1");
    serde_json::from_str(&std::fs::read_to_string(refs.join("prompts.json")).unwrap()).unwrap()
}

// ------------------------------------------------------------------------------------------------
// Greedy decoding end to end: the decode kernels (one row per step, the graph replay) against the
// CPU backend. Both generate greedily on their own; they must choose the same tokens until their
// first disagreement, and that disagreement must sit where the CPU's top-2 margin is below the
// model's `margin` bar (a near-tie the numerics may break either way). After it the two inputs
// differ, so nothing further is compared.
// ------------------------------------------------------------------------------------------------

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Top-1 minus top-2.
fn top2_margin(v: &[f32]) -> f64 {
    let b = argmax(v);
    let second = v.iter().enumerate().filter(|&(i, _)| i != b).map(|(_, &x)| x).fold(f32::NEG_INFINITY, f32::max);
    (v[b] - second) as f64
}

/// Greedy decoding of `steps` tokens after `prompt` through OneSequence; every step's logits
/// (the prompt's last position first).
fn greedy_logits(model: &Model, prompt: &[i32], steps: usize) -> Vec<Vec<f32>> {
    let mut s = OneSequence::new(model, 512, None, 0).unwrap();
    let mut logits = s.prefill(prompt).unwrap();
    let mut out = vec![logits.clone()];
    for _ in 0..steps {
        let next = argmax(&logits) as i32;
        s.decode_into(next, &mut logits).unwrap();
        out.push(logits.clone());
    }
    out
}

/// One greedy step: the top-1, the top-2 margin, the logits by id (all, or the listed ones).
type Step = (usize, f64, HashMap<usize, f32>);

/// What a greedy comparison found.
#[derive(Debug)]
struct GreedyCheck {
    /// Steps with the same token on both.
    equal: usize,
    /// Of those, steps where the CPU's margin was at least the bar (a flip there would fail).
    decisive: usize,
    /// The first disagreement: (step, CPU margin there).
    first_difference: Option<(usize, f64)>,
    mean_abs: f64,
}

/// Compares two greedy runs given as per-step (top-1, CPU-side margin or NaN, logits by id).
fn compare_greedy(cpu: &[Step], cuda: &[Step], bar: f64) -> GreedyCheck {
    let mut c = GreedyCheck { equal: 0, decisive: 0, first_difference: None, mean_abs: 0.0 };
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (k, (a, b)) in cpu.iter().zip(cuda).enumerate() {
        for (id, v) in &a.2 {
            if let Some(w) = b.2.get(id) {
                sum += (v - w).abs() as f64;
                n += 1;
            }
        }
        if a.0 != b.0 {
            c.first_difference = Some((k, a.1));
            break;
        }
        c.equal += 1;
        if a.1 >= bar {
            c.decisive += 1;
        }
    }
    c.mean_abs = sum / n.max(1) as f64;
    c
}

fn steps_of(all: &[Vec<f32>]) -> Vec<Step> {
    all.iter().map(|l| (argmax(l), top2_margin(l), l.iter().copied().enumerate().collect())).collect()
}

fn assert_greedy_ok(label: &str, c: &GreedyCheck, bars: Bars, steps: usize) {
    eprintln!("{label}: {c:?} (of {steps} steps; bars {bars:?})");
    if let Some((k, m)) = c.first_difference {
        assert!(m < bars.margin, "{label}: greedy tokens differ at step {k} where the CPU's margin is {m:.4} >= {}", bars.margin);
    }
    assert!(c.mean_abs <= bars.mean_abs, "{label}: mean |dlogit| {} over the equal steps > {}", c.mean_abs, bars.mean_abs);
}

#[test]
fn greedy_decoding_on_the_gpu_follows_the_cpu_on_tiny_models() {
    let Some(device) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let prompt: Vec<i32> = tiny_tokens()[..8].to_vec();
    let steps = 100;
    for (name, path) in write_tiny_models(dir.path()) {
        let cpu = steps_of(&greedy_logits(&load(&path, Backend::Cpu, true), &prompt, steps));
        for graphs in [true, false] {
            let cuda = steps_of(&greedy_logits(&load(&path, Backend::Cuda { device }, graphs), &prompt, steps));
            let c = compare_greedy(&cpu, &cuda, tiny_bars(name).margin);
            assert_greedy_ok(&format!("{name} (graphs {graphs})"), &c, tiny_bars(name), steps + 1);
        }
    }
}

/// A `generate --logit-log` run: the prompt's tokens (from the log) and per-step (top-1, margin,
/// listed logits) from the prompt's last position on.
fn generate_log(model: &Path, device: Option<i32>, prompt: &str, max_tokens: u32, log: &Path) -> (Vec<i64>, Vec<Step>) {
    let _ = std::fs::remove_file(log);
    let mut cmd = Command::new(bin());
    cmd.args(["generate", "--model", model.to_str().unwrap(), "--prompt", prompt, "--max-tokens", &max_tokens.to_string()])
        .args(["--logit-log", log.to_str().unwrap()]);
    if let Some(d) = device {
        cmd.args(["--gpu-device", &d.to_string()]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = std::fs::read_to_string(log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let tokens = lines.iter().map(|l| l["token"].as_i64().unwrap()).collect();
    let steps = lines
        .iter()
        .map(|l| {
            let top = l["top"].as_array().unwrap();
            let logit = |i: usize| top[i][1].as_f64().unwrap();
            let m = if top.len() > 1 { logit(0) - logit(1) } else { f64::INFINITY };
            let listed = top.iter().map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_f64().unwrap() as f32)).collect();
            (top[0][0].as_u64().unwrap() as usize, m, listed)
        })
        .collect();
    (tokens, steps)
}

#[test]
fn greedy_decoding_of_smollm2_on_the_gpu_follows_the_cpu() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let refs = root().join("parity/reference/smollm2-135m-q4_1");
    for p in reference_prompts() {
        let name = p["name"].as_str().unwrap();
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(refs.join(format!("{name}.meta.json"))).unwrap()).unwrap();
        let n_prompt = meta["n_prompt"].as_u64().unwrap() as usize;
        let text = p["text"].as_str().unwrap();
        let (cpu_tokens, cpu) = generate_log(&model, None, text, 48, &dir.path().join(format!("{name}-cpu.jsonl")));
        let (cuda_tokens, cuda) = generate_log(&model, Some(device), text, 48, &dir.path().join(format!("{name}-cuda.jsonl")));
        let want: Vec<i64> = meta["prompt_tokens"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(&cpu_tokens[..n_prompt], &want[..], "{name}: the prompt tokenizes as llama.cpp's");
        assert_eq!(&cuda_tokens[..n_prompt], &want[..], "{name}");
        // From the prompt's last position on, each line's top-1 is the token generated next.
        let c = compare_greedy(&cpu[n_prompt - 1..], &cuda[n_prompt - 1..], SMOLLM2_BARS.margin);
        assert_greedy_ok(name, &c, SMOLLM2_BARS, cpu.len() - (n_prompt - 1));
    }
}

// ------------------------------------------------------------------------------------------------
// Graph replay and batch invariance: exact, not within a bar.
// ------------------------------------------------------------------------------------------------

/// N sequences (different prompts) decoded in lockstep on one context: every step's logits.
fn lockstep_logits(model: &Model, n: usize, steps: usize) -> Vec<Vec<f32>> {
    let params = ContextParams { n_seq_max: n as i32, n_ctx: 256, kv_cache_tokens: 256 * n as i32, prefix_cache: false, ..Default::default() };
    let mut ctx = Context::new(model, &params).unwrap();
    let seqs: Vec<i32> = (0..n).map(|_| ctx.add_sequence(&[], 256).unwrap().0).collect();
    let mut next = vec![0i32; n];
    let mut out = Vec::new();
    for (k, &s) in seqs.iter().enumerate() {
        let prompt: Vec<i32> = (0..5 + 3 * k as i32).map(|i| (i * 53 + 11 * k as i32 + 7) % 250).collect();
        let rows: Vec<BatchRow> =
            prompt.iter().enumerate().map(|(i, &t)| BatchRow { token: t, pos: i as i32, seq: s, logits: i + 1 == prompt.len() }).collect();
        ctx.decode(&rows).unwrap();
        next[k] = argmax(ctx.logits(rows.len() - 1).unwrap()) as i32;
    }
    for _ in 0..steps {
        let rows: Vec<BatchRow> =
            seqs.iter().enumerate().map(|(k, &s)| BatchRow { token: next[k], pos: ctx.seq_len(s).unwrap(), seq: s, logits: true }).collect();
        ctx.decode(&rows).unwrap();
        for (k, tok) in next.iter_mut().enumerate() {
            let l = ctx.logits(k).unwrap();
            *tok = argmax(l) as i32;
            out.push(l.to_vec());
        }
    }
    out
}

fn graph_vs_eager(path: &Path, device: i32, label: &str, prompt: &[i32]) {
    let eager_model = load(path, Backend::Cuda { device }, false);
    let eager = greedy_logits(&eager_model, prompt, 40);
    let eager_batched = lockstep_logits(&eager_model, 5, 20);
    drop(eager_model);
    let graphed = load(path, Backend::Cuda { device }, true);
    // Twice on the same model: the second context gets graphs of its own.
    for round in 0..2 {
        let replayed = greedy_logits(&graphed, prompt, 40);
        for (step, (a, b)) in eager.iter().zip(&replayed).enumerate() {
            assert!(a == b, "{label}, round {round}, step {step}: graph replay differs from eager launches");
        }
        let batched = lockstep_logits(&graphed, 5, 20);
        for (i, (a, b)) in eager_batched.iter().zip(&batched).enumerate() {
            assert!(a == b, "{label}, round {round}: five sequences in lockstep, row {i}: graph replay differs from eager launches");
        }
    }
}

#[test]
fn the_decode_graph_replays_exactly_what_the_kernels_compute() {
    let Some(device) = gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("mixed.gguf");
    TinyLlama::default().build().write(&tiny);
    graph_vs_eager(&tiny, device, "tiny mixed", &tiny_tokens()[..10]);
    let Some(model) = test_model() else { return };
    graph_vs_eager(&model, device, "SmolLM2", &[1, 504, 3458, 282, 4649, 314, 2114, 30, 28, 216]);
}

#[test]
fn batching_on_the_gpu_never_changes_a_result() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let dev = device.to_string();
    let on_gpu = ["--gpu-device", dev.as_str()];
    let reqs = requests();
    let w = Worker::start_on(&model, &on_gpu, &["--parallel", "8", "--no-prefix-cache", "--ctx-size", "1024"]);
    let alone = run_alone(&w, &reqs, "-alone");
    assert_same("--parallel 8, all at once", &alone, &run_together(&w, &reqs, "-together", Duration::ZERO));
    assert_same("--parallel 8, staggered", &alone, &run_together(&w, &reqs, "-staggered", Duration::from_millis(40)));
    drop(w);

    // Three at a time, prompts prefilled 16 rows per step beside the decoding jobs; then again
    // with the prompts' full blocks from the prefix cache.
    let w = Worker::start_on(&model, &on_gpu, &["--parallel", "3", "--batch-tokens", "16", "--ctx-size", "1024"]);
    assert_same("--parallel 3 --batch-tokens 16", &alone, &run_together(&w, &reqs, "-small", Duration::ZERO));
    let cached = run_together(&w, &reqs, "-cached", Duration::ZERO);
    assert_same("--parallel 3 --batch-tokens 16, warm prefix cache", &alone, &cached);
    let hits: u64 = cached.values().map(|(_, end)| end["cached_prompt_tokens"].as_u64().unwrap()).sum();
    assert!(hits >= 16 * reqs.len() as u64, "only {hits} prompt tokens came from the cache");
    drop(w);

    // Eager launches instead of graph replays: the same tokens, alone and batched.
    let w = Worker::start_on(&model, &on_gpu, &["--parallel", "8", "--no-prefix-cache", "--ctx-size", "1024", "--no-cuda-graph"]);
    assert_same("--no-cuda-graph, alone", &alone, &run_alone(&w, &reqs, "-eager-alone"));
    assert_same("--no-cuda-graph, all at once", &alone, &run_together(&w, &reqs, "-eager-together", Duration::ZERO));
}

#[test]
fn serving_on_the_gpu_streams_reproduces_and_cancels() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let w = Worker::start_on(&model, &["--gpu-device", &device.to_string()], &[]);
    let h = w.health();
    assert_eq!(h["backend"], "cuda");
    for key in ["vram_bytes_used", "vram_total_bytes", "vram_free_bytes"] {
        assert!(h[key].as_u64().unwrap() > 0, "{key} in {h}");
    }
    assert!(h["vram_bytes_used"].as_u64().unwrap() >= 60_000_000, "weights are in VRAM: {h}");
    assert!(h["sm"].as_str().unwrap().starts_with("sm_"), "{h}");
    assert!(h["cuda_runtime_version"].as_str().unwrap().starts_with("13."), "{h}");
    let body = |id: &str, seed: u64| json!({"job_id": id, "prompt": chat("Write a haiku about GPU computing."),
        "max_tokens": 32, "temperature": 0.7, "seed": seed});
    let a = check_event_order(&w.execute(&body("a", 5)));
    let b = check_event_order(&w.execute(&body("b", 5)));
    assert!(!a.is_empty());
    assert_eq!(a, b, "same seed, same tokens");
    let mut s = w.stream(&json!({"job_id": "long", "prompt": "1, 2, 3, 4, 5,", "max_tokens": 2000, "temperature": 0}));
    assert_eq!(s.next().unwrap().event, "started");
    assert_eq!(s.next().unwrap().event, "token");
    assert_eq!(w.cancel("long"), 202);
    assert_eq!(s.last().unwrap().data["code"], "CANCELLED");
    let after = w.execute(&body("after", 1));
    assert_eq!(after.last().unwrap().event, "end");
}

#[test]
fn device_info_and_residency_on_the_cpu_and_the_gpu() {
    let Some(model) = test_model() else { return };
    let m = Model::load(&model, Default::default()).unwrap();
    let d = m.device_info().unwrap();
    assert_eq!((d.name.as_str(), d.index, d.weight_bytes), ("cpu", -1, 0));
    m.check_residency().unwrap();
    let Some(device) = gpu() else { return };
    let g = load(&model, Backend::Cuda { device }, true);
    let d = g.device_info().unwrap();
    assert_eq!(d.index, device);
    assert!(d.weight_bytes >= m.info().weight_bytes, "{d:?}");
    assert!(d.total_bytes > d.free_bytes && d.free_bytes > 0, "{d:?}");
    assert!(d.compute_capability.0 >= 8, "{d:?}");
    g.check_residency().unwrap();
}

#[test]
fn a_gpu_that_cannot_start_is_one_json_line_and_exit_1() {
    if ffi::probe_backend(Backend::Cuda { device: 0 }).is_ok() {
        eprintln!("SKIP: a GPU is present; out-of-range device instead");
    }
    let Some(model) = test_model() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    for device in ["0", "7"] {
        if device == "0" && ffi::probe_backend(Backend::Cuda { device: 0 }).is_ok() {
            continue;
        }
        let o = Command::new(bin())
            .args(["--worker-id", WORKER_ID, "--model", model.to_str().unwrap(), "--gpu-device", device, "--port", &port])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        let first: Value = serde_json::from_str(stderr.lines().next().unwrap()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        assert_eq!(first["error"], "BACKEND_UNAVAILABLE");
        assert_eq!(first["device"], device.parse::<i32>().unwrap());
        let cause = first["cause"].as_str().unwrap();
        let expected: &[&str] = if cfg!(feature = "cuda") {
            &["no_driver", "no_device", "device_out_of_range", "cuda_error"]
        } else {
            &["built_without_cuda"]
        };
        assert!(expected.contains(&cause), "cause {cause}: {stderr}");
        assert!(stderr.lines().nth(1).is_some_and(|l| l.starts_with("error: --gpu-device")), "{stderr}");
    }
}

// ------------------------------------------------------------------------------------------------
// Memory: the KV pool is allocated once at start-up (.specs/batching.md), sized by
// --kv-cache-tokens or --parallel full contexts of --ctx-size, and checked against free VRAM minus
// 64 MiB after the weights.
// ------------------------------------------------------------------------------------------------

/// Free device memory as a process sees it now (a tiny model's load reads cudaMemGetInfo; its own
/// weights are added back). This test process's CUDA context stays, so later readings compare.
fn free_vram(device: i32, tiny: &Path) -> u64 {
    let m = load(tiny, Backend::Cuda { device }, false);
    let d = m.device_info().unwrap();
    d.free_bytes + d.weight_bytes
}

fn worker_cmd(model: &Path, device: i32, port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["--worker-id", WORKER_ID, "--model", model.to_str().unwrap(), "--gpu-device", &device.to_string()])
        .args(["--port", &port.to_string()])
        .args(extra)
        .stdout(Stdio::null());
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a worker whose stderr goes to `log`; waits until healthy (panicking with the log if it
/// exits first).
fn start_logged(model: &Path, device: i32, extra: &[&str], log: &Path) -> Worker {
    let port = free_port();
    let child = worker_cmd(model, device, port, extra).stderr(std::fs::File::create(log).unwrap()).spawn().unwrap();
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
    let mut w = Worker { child, base: format!("http://127.0.0.1:{port}"), client };
    let t0 = Instant::now();
    loop {
        if let Some(status) = w.child.try_wait().unwrap() {
            panic!("worker {extra:?} exited with {status} before it was healthy:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        if let Ok(r) = w.client.get(w.url("/health")).timeout(Duration::from_secs(2)).send() {
            if r.status() == 200 {
                return w;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "worker {extra:?} not healthy after 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a worker that should refuse to start: its exit code and stderr (killed after `limit`).
fn run_refused(model: &Path, device: i32, extra: &[&str], log: &Path, limit: Duration) -> (Option<i32>, String) {
    let mut child = worker_cmd(model, device, free_port(), extra).stderr(std::fs::File::create(log).unwrap()).spawn().unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.and_then(|s| s.code()), std::fs::read_to_string(log).unwrap_or_default())
}

fn one_short_job(w: &Worker, id: &str) {
    let events = w.execute(&json!({"job_id": id, "prompt": "Hello", "max_tokens": 8, "temperature": 0}));
    assert_eq!(events.last().unwrap().event, "end", "{id}: {events:?}");
}

#[test]
fn the_kv_pool_is_sized_at_start_up_refused_reduced_or_shared_and_jobs_queue_for_it() {
    let Some(device) = gpu() else { return };
    let Some(model) = test_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny.gguf");
    TinyLlama::default().build().write(&tiny);
    let per_token = Model::load(&model, Default::default()).unwrap().info().kv_bytes_per_token;
    let free = free_vram(device, &tiny);
    eprintln!("free VRAM {free} bytes, {per_token} KV bytes per token");
    let block = |t: u64| t / 16 * 16;

    // (b) The default pool, --parallel 256 full contexts of 65536, is far more than the device
    // holds: it is reduced to what fits (at least one full context), logged, and the worker serves.
    let (parallel, ctx) = (256u64, 65536u64);
    assert!(parallel * ctx * per_token > free, "the default pool of this case must not fit");
    let log_b = dir.path().join("reduced.log");
    let w = start_logged(&model, device, &["--parallel", "256", "--ctx-size", "65536"], &log_b);
    let h = w.health();
    let total = h["kv_cache_tokens_total"].as_u64().unwrap();
    assert!(total < parallel * ctx && total >= ctx, "{h}");
    assert_eq!(h["kv_cache_tokens_wanted"].as_u64(), Some(parallel * ctx), "{h}");
    assert!(total * per_token <= free, "the pool takes no more than the free memory: {h}");
    one_short_job(&w, "reduced");
    drop(w);
    let log = std::fs::read_to_string(&log_b).unwrap();
    assert!(log.contains("the KV pool was reduced"), "no warning in:\n{log}");
    // Its memory comes back once it exits.
    let t0 = Instant::now();
    while free_vram(device, &tiny) < free - free / 20 {
        assert!(t0.elapsed() < Duration::from_secs(30), "VRAM not freed 30 s after the worker exited");
        std::thread::sleep(Duration::from_millis(200));
    }

    // (c) Two workers on one GPU, each with its pool: A takes ~60 % of the free memory, B a pool of
    // 512 positions beside it.
    let t_a = block((free as f64 * 0.6) as u64 / per_token).to_string();
    let a = Worker::start_on(&model, &["--gpu-device", &device.to_string()], &["--kv-cache-tokens", &t_a]);
    let ha = a.health();
    assert_eq!(ha["kv_cache_tokens_total"].as_u64().unwrap().to_string(), t_a, "{ha}");
    assert!(ha["vram_bytes_used"].as_u64().unwrap() >= t_a.parse::<u64>().unwrap() * per_token, "{ha}");
    let b = Worker::start_on(&model, &["--gpu-device", &device.to_string()],
        &["--parallel", "4", "--ctx-size", "1024", "--kv-cache-tokens", "512"]);
    assert_eq!(b.health()["kv_cache_tokens_total"], 512);

    // (a) A third worker asking A's pool again finds ~40 % free: it refuses to start (exit 2),
    // naming the bytes it needs, the bytes available and the device.
    let log_c = dir.path().join("refused.log");
    let (code, stderr) = run_refused(&model, device, &["--kv-cache-tokens", &t_a], &log_c, Duration::from_secs(120));
    assert_eq!(code, Some(2), "{stderr}");
    for needle in ["not enough memory", &format!("--kv-cache-tokens {t_a} needs"), "bytes are available",
        &format!("device cuda:{device}"), model.to_str().unwrap()] {
        assert!(stderr.contains(needle), "'{needle}' missing from: {stderr}");
    }

    // On B: a job that can never fit its pool is refused at once; jobs beyond the pool queue (two
    // of ~230 positions fit at a time) and all finish; A serves meanwhile.
    let t0 = Instant::now();
    let events = b.execute(&json!({"job_id": "never", "prompt": "Hello", "max_tokens": 600}));
    let last = events.last().unwrap();
    assert_eq!((last.event.as_str(), last.data["code"].as_str()), ("error", Some("CONTEXT_LENGTH_EXCEEDED")), "{last:?}");
    assert!(last.data["message"].as_str().unwrap().contains("never fit"), "{last:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let reqs: Vec<Value> = (0..4)
        .map(|k| json!({"job_id": format!("pool-{k}"), "prompt": format!("{}, {}, {},", k + 1, k + 2, k + 3), "max_tokens": 200,
            "temperature": 0}))
        .collect();
    let most_running = std::thread::scope(|scope| {
        let jobs = scope.spawn(|| run_together(&b, &reqs, "", Duration::ZERO));
        let on_a = scope.spawn(|| one_short_job(&a, "beside"));
        let mut most = 0;
        while !jobs.is_finished() {
            most = most.max(b.health()["running"].as_u64().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
        on_a.join().unwrap();
        for (job, (tokens, end)) in jobs.join().unwrap() {
            assert_eq!(end["stop_reason"], "max_tokens", "{job}: {end}");
            assert_eq!(tokens.len(), 200, "{job}");
        }
        most
    });
    assert!(most_running <= 2, "{most_running} jobs ran at once on a pool of 512 positions");
    assert_eq!(b.health()["kv_cache_tokens_used"], 0);
}

/// Not a test: writes the tiny models of 30 seeds and their CPU logits into $WORKER_ORCD_SIM_DIR,
/// the input of `scripts/sim_cuda_numerics.py logits --pool` (how the tiny bars were derived).
#[test]
#[ignore]
fn write_tiny_models_for_the_numerics_simulation() {
    let dir = PathBuf::from(std::env::var_os("WORKER_ORCD_SIM_DIR").expect("set WORKER_ORCD_SIM_DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in 1..=30u64 {
        for &(name, ty) in &TINY_TYPES {
            let path = dir.join(format!("{name}-s{seed}.gguf"));
            let m = tiny_model(ty, seed);
            m.build().write(&path);
            logits_cmd(&path, None, &tiny_tokens(), m.n_vocab() as usize, &dir.join(format!("{name}-s{seed}.cpu.jsonl")));
        }
    }
}
