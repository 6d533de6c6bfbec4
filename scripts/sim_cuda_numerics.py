#!/usr/bin/env python3
"""Simulates the CUDA backend's numerics against the CPU backend's, to derive the GPU test bars
(tests/gpu.rs) from statistics instead of taste. Needs numpy (and `gguf` for `logits`).

  sim_cuda_numerics.py ops [--draws 1000] [--seed 1]
      The op check's matmul and attention cases (cuda/core/op_check.cpp: its weight generators,
      shapes and N(0,1) inputs) with the CPU's numerics (activations quantized to the weight type's
      dot type: q8_0 / q8_1 blocks, f16, bf16; attention probabilities rounded to f16) and CUDA's
      (f32 activations and probabilities). Prints rel = max|cpu - cuda| / max|cpu| per op. The
      "int matmul_*" rows are the integer mat-vec of every quantized type (CUDA quantizes the
      activations to the CPU's own blocks): the two float orders on the same integers.

  sim_cuda_numerics.py logits MODEL.gguf REF.jsonl [REF.jsonl ...] [--top-k 40]
      A teacher-forced forward pass with CUDA's numerics (weights dequantized to f32; activations of
      quantized matrices through the CPU's q8_1 / q8_K blocks, of float matrices f32; q/K/V rounded
      to f16, f32 softmax) over the tokens of each reference logit log
      (llama.cpp's dumps, or `worker-orcd logits` on the CPU backend, which equals them), compared
      as parity/compare.py compares (top-1, mean |dlogit| over shared top ids, KL), plus the change
      of the top-1-vs-rank-j logit gap (j = 2..5) at every position, and the per-pair tail quantile
      of that change (exponential fit to its top 10 %): a top-1 flip where the reference margin
      exceeds that quantile has probability below it.

The tiny models of tests/gpu.rs for 30 seeds, with their CPU logits, are written by the ignored
test `write_tiny_models_for_the_numerics_simulation` (WORKER_ORCD_SIM_DIR=dir cargo test --test gpu
-- --ignored write_tiny), then:
  for t in mixed q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k f16 bf16 f32; do
    sim_cuda_numerics.py logits --pool dir/$t-s*.gguf; done
(--pool: one model per reference, same stem).
"""
import argparse
import json
import math
import sys

import numpy as np

f16 = lambda a: np.asarray(a).astype(np.float16).astype(np.float64)


def bf16(a):
    b = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32).astype(np.float64)


# ---------------------------------------------------------------------------------------------- ops

def op_weights(rng, t, rows, cols):
    nb = cols // 32
    u = lambda shape: rng.integers(0, 256, shape) / 255.0
    if t == "Q4_0":
        d = f16(0.01 + 0.01 * u((rows, nb, 1)))
        return (d * (rng.integers(0, 16, (rows, nb, 32)) - 8)).reshape(rows, cols), None
    if t == "Q4_1":
        d, m = f16(0.01 + 0.01 * u((rows, nb, 1))), f16(-0.08 - 0.02 * u((rows, nb, 1)))
        q = rng.integers(0, 16, (rows, nb, 32))
        return (d * q + m).reshape(rows, cols), (d, m, q)
    if t == "Q8_0":
        d = f16(0.0005 + 0.0005 * u((rows, nb, 1)))
        return (d * rng.integers(-128, 128, (rows, nb, 32))).reshape(rows, cols), None
    w = rng.normal(0, 0.05, (rows, cols)).astype(np.float32)
    return {"F16": f16, "BF16": bf16, "F32": lambda a: a.astype(np.float64)}[t](w), None


def q8(x):  # cpu/vec_dot_ref.cpp quantize_q8_0/_1: d = amax/127 stored as f16, q = nearbyint(x*127/amax)
    xb = x.reshape(x.shape[0], -1, 32).astype(np.float32)
    amax = np.abs(xb).max(-1, keepdims=True)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    return f16(amax / np.float32(127)), np.rint(xb * inv)


def cpu_matmul(t, w, extra, x):
    if t in ("Q4_0", "Q8_0"):
        d, q = q8(x)
        return (d * q).reshape(x.shape) @ w.T
    if t == "Q4_1":  # d_w d_x sum(q_w q_x) + m_w s_x, s_x = f16(d_x sum q_x)
        d, q = q8(x)
        wd, wm, wq = extra
        return np.einsum("rbk,nbk->nr", wd * wq, d * q) + np.einsum("rb,nb->nr", wm[..., 0], f16(d[..., 0] * q.sum(-1)))
    return {"F16": f16, "BF16": bf16, "F32": lambda a: a.astype(np.float64)}[t](x) @ w.T


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(a).max())


def sim_matmul(rng, draws):
    out = {}
    for t in ["Q4_0", "Q4_1", "Q8_0", "F16", "BF16", "F32"]:
        r = []
        for _ in range(draws):
            w, extra = op_weights(rng, t, 200, 576)
            for n in (1, 5, 37):
                x = rng.normal(0, 1, (n, 576)).astype(np.float32)
                r.append(rel(cpu_matmul(t, w, extra, x), x.astype(np.float64) @ w.T))
        out[f"matmul_{t}"] = r
    r = []
    for _ in range(draws):  # rows 50..150 of the Q4_0 matrix, n = 7, plus a N(0,1) bias
        w = op_weights(rng, "Q4_0", 200, 576)[0][50:150]
        x, b = rng.normal(0, 1, (7, 576)).astype(np.float32), rng.normal(0, 1, 100)
        r.append(rel(cpu_matmul("Q4_0", w, None, x) + b, x.astype(np.float64) @ w.T + b))
    out["matmul_bias_strided_Q4_0"] = r
    return out


def sim_attention(rng, draws, H, Hk, hd):
    res = {"attention_prefill": [], "attention_mixed": [], "attention_decode": []}
    g, scale = H // Hk, 1 / math.sqrt(hd)
    cases = [("attention_prefill", [(0, 0, 100)]), ("attention_mixed", [(0, 100, 37), (1, 0, 50)]),
             ("attention_decode", [(0, 137, 1), (1, 50, 1)]), ("attention_prefill", [(0, 138, 950)]),
             ("attention_decode", [(0, 1088, 1)]), ("attention_decode", [(1, 51, 1), (0, 1089, 1)])]
    for _ in range(draws):
        K = {s: np.zeros((0, Hk, hd)) for s in (0, 1)}
        V = {s: np.zeros((0, Hk, hd)) for s in (0, 1)}
        for op, parts in cases:
            cpu, cuda = [], []
            for s, p0, n in parts:
                q = f16(rng.normal(0, 1, (n, H, hd)))
                K[s] = np.concatenate([K[s], f16(rng.normal(0, 1, (n, Hk, hd)))])
                V[s] = np.concatenate([V[s], f16(rng.normal(0, 1, (n, Hk, hd)))])
                keys = np.arange(K[s].shape[0])
                for h in range(H):
                    sc = (q[:, h, :] @ K[s][:, h // g, :].T).astype(np.float32).astype(np.float64) * scale
                    sc = np.where(keys[None, :] <= (p0 + np.arange(n))[:, None], sc, -np.inf)
                    e = np.exp(sc - sc.max(1, keepdims=True))
                    p = e / e.sum(1, keepdims=True)
                    cpu.append(f16(p) @ V[s][:, h // g, :])
                    cuda.append(p @ V[s][:, h // g, :])
            res[op].append(rel(np.concatenate(cpu), np.concatenate(cuda)))
    return res


# The integer mat-vec of cuda/gpu/matmul.cu against the CPU's: both quantize the activations to the
# same blocks (q8_1 per 32, q8_K per 256) and take the same exact integer sums, so only the float
# order differs. Each weight type is drawn as its integers and scales per 16-weight unit, with the
# float formula of its GpuType::dot (cuda/gpu/types/*.cuh), summed in the kernel's order (lane L:
# units L, L+32, ... in order; then a butterfly over 32 lanes). The CPU side: its documented order
# for the 32-weight types (.specs/numerics.md: 8 lanes of fma(d_w d_x, isum of 4 bytes), folded
# ((0+4)+(2+6))+((1+5)+(3+7)), Q4_1/Q5_1 mins in a separate fma chain added last); for the K-quants
# cpu/types/k_quants.h's (per super-block exact isum and imin, acc = fma(d d_x, isum, acc), mins =
# fma(dmin d_x, imin, mins), acc - mins).
# type: (block, q range [lo, hi), form, d range, scale range, min range (Q4_1/Q5_1: m; K: integer
# minimums), dmin range) — the ranges of the CPU's block generators (cpu/types/*.cpp random_*).
INT_TYPES = {
    "Q4_0": (32, (-8, 8), "d", (0.01, 0.02), None, None, None),
    "Q5_0": (32, (-16, 16), "d", (0.005, 0.01), None, None, None),
    "Q8_0": (32, (-128, 128), "d", (0.0005, 0.001), None, None, None),
    "Q4_1": (32, (0, 16), "dm", (0.01, 0.02), None, (-0.1, -0.08), None),
    "Q5_1": (32, (0, 32), "dm", (0.005, 0.01), None, (-0.1, -0.08), None),
    "Q2_K": (256, (0, 4), "k_min", (0.002, 0.004), (0, 16), (0, 16), (0.002, 0.004)),
    "Q3_K": (256, (-4, 4), "k", (0.0005, 0.001), (-32, 32), None, None),
    "Q4_K": (256, (0, 16), "k_min", (2e-4, 4e-4), (0, 64), (0, 64), (2e-4, 4e-4)),
    "Q5_K": (256, (0, 32), "k_min", (1e-4, 2e-4), (0, 64), (0, 64), (2e-4, 4e-4)),
    "Q6_K": (256, (-32, 32), "k", (2e-5, 4e-5), (-128, 128), None, None),
}

F32 = np.float32


def fma32(a, b, c):
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(F32)


def q8_blocks(x, block):
    """The CPU's activation blocks: q8_1 (d f16, q, s = f16(d Σq)) or q8_K (d = 1/(-127/max), q)."""
    xb = x.reshape(x.shape[0], -1, block).astype(F32)
    if block == 32:
        amax = np.abs(xb).max(-1, keepdims=True)
        d = (amax / F32(127)).astype(F32)
        inv = np.where(amax > 0, F32(127) / np.where(amax > 0, amax, 1), 0).astype(F32)
        q = np.rint(xb * inv)
        return f16(d).astype(F32)[..., 0], q, f16(q.sum(-1).astype(F32) * d[..., 0]).astype(F32)
    i = np.abs(xb).argmax(-1)
    mx = np.take_along_axis(xb, i[..., None], -1)
    iscale = (F32(-127) / mx).astype(F32)
    q = np.minimum(127, np.rint((iscale * xb).astype(F32)))
    return (F32(1) / iscale).astype(F32)[..., 0], q, None


def sim_int_matmul(rng, t, draws, rows=200):
    block, (qlo, qhi), form, (dlo, dhi), scr, mnr, dmr = INT_TYPES[t]
    cols = 576 if block == 32 else 768
    nb, units = cols // block, block // 16
    out = []
    for _ in range(draws):
        wq = rng.integers(qlo, qhi, (rows, nb, units, 16))
        d = f16(rng.uniform(dlo, dhi, (rows, nb))).astype(F32)
        dm = f16(rng.uniform(*(dmr or (dlo, dhi)), (rows, nb))).astype(F32)  # dmin (K) or unused
        m = f16(rng.uniform(*mnr, (rows, nb))).astype(F32) if form == "dm" else None
        sc = rng.integers(*scr, (rows, nb, units)) if scr else None
        mn = rng.integers(*mnr, (rows, nb, units)) if form == "k_min" else None
        for n in (1, 5, 37):
            x = rng.normal(0, 1, (n, cols)).astype(F32)
            xd, xq, xs = q8_blocks(x, block)
            xq = xq.reshape(n, nb, units, 16)
            isum = np.einsum("rbuk,nbuk->nrbu", wq, xq)  # exact integers
            if form in ("d", "dm"):
                dd = (d[None] * xd[:, None]).astype(F32)  # d_w d_x per (n, r, b)
                v = (dd[..., None] * isum.astype(F32)).astype(F32)
                if form == "dm":
                    v[..., 0] = fma32(m[None], xs[:, None], v[..., 0])
            else:
                dx = xd[:, None]  # (n, 1, nb)
                s_int = (isum * sc[None]).astype(F32)
                v = ((dx * d[None]).astype(F32)[..., None] * s_int).astype(F32)
                if form == "k_min":
                    bs = xq.sum(-1)  # bsums per unit
                    m_int = (bs[:, None] * mn[None]).astype(F32)
                    v = (v - ((dx * dm[None]).astype(F32)[..., None] * m_int).astype(F32)).astype(F32)
            vu = v.reshape(n, rows, nb * units)
            lanes = np.zeros((n, rows, 32), F32)
            for u in range(nb * units):
                lanes[..., u % 32] = (lanes[..., u % 32] + vu[..., u]).astype(F32)
            for o in (16, 8, 4, 2, 1):
                lanes = (lanes + lanes[..., np.arange(32) ^ o]).astype(F32)
            gpu = lanes[..., 0].astype(np.float64)
            if block == 32:
                wv = wq.reshape(rows, nb, 32)
                xv = xq.reshape(n, nb, 32)
                acc = np.zeros((n, rows, 8), F32)
                mins = np.zeros((n, rows), F32)
                for b in range(nb):
                    dd = (d[None, :, b] * xd[:, None, b]).astype(F32)
                    i8 = np.einsum("rlk,nlk->nrl", wv[:, b].reshape(rows, 8, 4), xv[:, b].reshape(n, 8, 4))
                    acc = fma32(dd[..., None], i8.astype(F32), acc)
                    if form == "dm":
                        mins = fma32(m[None, :, b], xs[:, None, b], mins)
                a8 = acc
                h = ((a8[..., 0] + a8[..., 4]) + (a8[..., 2] + a8[..., 6])) + ((a8[..., 1] + a8[..., 5]) + (a8[..., 3] + a8[..., 7]))  # f32 throughout
                cpu = (h.astype(F32) + mins).astype(np.float64)
                out.append(rel(cpu, gpu))
            else:
                acc, mins = np.zeros((n, rows), F32), np.zeros((n, rows), F32)
                isb = (isum * sc[None]).sum(-1)  # per super-block, exact
                for b in range(nb):
                    acc = fma32((d[None, :, b] * xd[:, None, b]).astype(F32), isb[..., b].astype(F32), acc)
                    if form == "k_min":
                        imin = (bs[:, None, b] * mn[None, :, b]).sum(-1)
                        mins = fma32((dm[None, :, b] * xd[:, None, b]).astype(F32), imin.astype(F32), mins)
                cpu = (acc - mins).astype(np.float64)
                out.append(rel(cpu, gpu))
    return out


def cmd_ops(a):
    rng = np.random.default_rng(a.seed)
    rows = list(sim_matmul(rng, a.draws).items())
    rows += [(f"int matmul_{t}", sim_int_matmul(rng, t, max(1, a.draws // 10))) for t in INT_TYPES]
    for shape in [(9, 3, 64), (4, 1, 256)]:
        rows += [(f"{k} {shape[0]}/{shape[1]}x{shape[2]}", v) for k, v in sim_attention(rng, max(1, a.draws // 25), *shape).items()]
    for k, v in rows:
        v = np.array(v)
        print(f"{k:32s} n {len(v):5d}  median {np.median(v):.3e}  p99.9 {np.quantile(v, .999):.3e}  max {v.max():.3e}")


# ------------------------------------------------------------------------------------------- logits

class Model:
    def __init__(self, path):
        import gguf
        r = gguf.GGUFReader(path)
        f = {}
        for k, fld in r.fields.items():
            try:
                f[k] = fld.parts[fld.data[0]]
            except (IndexError, TypeError):
                pass
        self.t = {t.name: np.ascontiguousarray(gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)) for t in r.tensors}
        # Activation block size of each matrix's dot type: 32 (q8_1) for 32-weight blocks, 256 (q8_K)
        # for the K-quants, 0 for float weights (f32 activations on CUDA).
        self.act_block = {t.name: (0 if t.tensor_type.name in ("F32", "F16", "BF16") else gguf.GGML_QUANT_SIZES[t.tensor_type][0])
                          for t in r.tensors}
        arch = bytes(f["general.architecture"]).decode()
        g = lambda k, d=None: f[f"{arch}.{k}"][0] if f"{arch}.{k}" in f else d
        self.n_layer, self.n_embd = int(g("block_count")), int(g("embedding_length"))
        self.n_head, self.n_head_kv = int(g("attention.head_count")), int(g("attention.head_count_kv"))
        self.eps, self.base = float(g("attention.layer_norm_rms_epsilon")), float(g("rope.freq_base", 10000.0))
        self.hd = self.n_embd // self.n_head
        self.n_rot = int(g("rope.dimension_count", self.hd))


def rms(x, w, eps):
    s = (x.astype(np.float64) ** 2).mean(axis=-1, keepdims=True).astype(np.float32)
    return (x * (1.0 / np.sqrt(s + np.float32(eps))).astype(np.float32)) * w


def rope(x, pos, n_rot, base):  # adjacent pairs, angles by repeated float multiplication as the kernels
    ts = np.float32(base) ** np.float32(-2.0 / n_rot)
    theta, th = np.empty((x.shape[0], n_rot // 2), np.float32), pos.astype(np.float32)
    for i in range(n_rot // 2):
        theta[:, i] = th
        th = (th * ts).astype(np.float32)
    c, s = np.cos(theta.astype(np.float64)).astype(np.float32)[:, None, :], np.sin(theta.astype(np.float64)).astype(np.float32)[:, None, :]
    y = x.copy()
    x0, x1 = x[:, :, 0:n_rot:2], x[:, :, 1:n_rot:2]
    y[:, :, 0:n_rot:2], y[:, :, 1:n_rot:2] = x0 * c - x1 * s, x0 * s + x1 * c
    return y


def mm(m, x, name):
    """x @ W.T as cuda/gpu/matmul.cu computes it: quantized weights see the activations through the
    CPU's own q8_1 / q8_K blocks (act_quant.cuh), float weights see f32 activations. (The q8_1 sum
    term of Q4_1/Q5_1 is modelled as d·Σq unrounded; the kernel's f16 rounding of it is below this
    simulation's resolution.)"""
    block = m.act_block[name]
    if block:
        d, q, _ = q8_blocks(x, block)
        x = (d[..., None].astype(np.float64) * q).reshape(x.shape).astype(np.float32)
    return x @ m.t[name].T


def forward(m, tokens):
    T = len(tokens)
    pos, x = np.arange(T), m.t["token_embd.weight"][np.array(tokens)].copy()
    H, Hk, hd = m.n_head, m.n_head_kv, m.hd
    mask = np.triu(np.full((T, T), -np.inf, np.float32), 1)
    for layer in range(m.n_layer):
        p = f"blk.{layer}."
        h = rms(x, m.t[p + "attn_norm.weight"], m.eps)
        q = rope(mm(m, h, p + "attn_q.weight").reshape(T, H, hd), pos, m.n_rot, m.base)
        k = rope(mm(m, h, p + "attn_k.weight").reshape(T, Hk, hd), pos, m.n_rot, m.base)
        v = mm(m, h, p + "attn_v.weight")
        q, k, v = f16(q).astype(np.float32), f16(k).astype(np.float32), f16(v).astype(np.float32).reshape(T, Hk, hd)
        att = np.empty((T, H, hd), np.float32)
        for hh in range(H):
            sc = (q[:, hh, :] @ k[:, hh // (H // Hk), :].T) * np.float32(1 / math.sqrt(hd)) + mask
            e = np.exp(sc - sc.max(axis=1, keepdims=True))
            att[:, hh, :] = (e @ v[:, hh // (H // Hk), :]) / e.sum(axis=1, keepdims=True)
        x = x + mm(m, att.reshape(T, H * hd), p + "attn_output.weight")
        h = rms(x, m.t[p + "ffn_norm.weight"], m.eps)
        gate, up = mm(m, h, p + "ffn_gate.weight"), mm(m, h, p + "ffn_up.weight")
        x = x + mm(m, (gate / (1 + np.exp(-gate))) * up, p + "ffn_down.weight")
    head = "output.weight" if "output.weight" in m.t else "token_embd.weight"
    return mm(m, rms(x, m.t["output_norm.weight"], m.eps), head).astype(np.float64)


def compare_like_compare_py(ref, logits, k):
    """parity/compare.py's logits statistics, ours being `logits` cut to its top k."""
    agree, flips, abs_sum, abs_n, kl, pairs = 0, [], 0.0, 0, 0.0, []
    for r, o in zip(ref, logits):
        order = np.argsort(-o, kind="stable")[:k]
        ours = {int(i): float(o[i]) for i in order}
        lse = float(np.log(np.exp(o - o.max()).sum()) + o.max())
        rid = [i for i, _ in r["top"]]
        if rid[0] == int(order[0]):
            agree += 1
        else:
            flips.append(r["top"][0][1] - r["top"][1][1])
        for i, v in r["top"]:
            if i in ours:
                abs_sum += abs(v - ours[i])
                abs_n += 1
        floor = min(ours.values())
        for i, v in r["top"]:
            lp, lq = v - r["logsumexp"], ours.get(i, floor) - lse
            kl += math.exp(lp) * (lp - lq)
        for j in range(1, min(5, len(r["top"]))):
            pairs.append((r["top"][0][1] - r["top"][j][1]) - (o[rid[0]] - o[rid[j]]))
    n = len(ref)
    return {"top1": agree / n, "mean_abs": abs_sum / max(abs_n, 1), "kl": kl / n, "flips": flips, "pairs": pairs}


def tail_quantile(x, p):
    x = np.abs(np.asarray(x))
    u = np.quantile(x, 0.9)
    ex = x[x > u] - u
    return u + math.log((x > u).mean() / p) * ex.mean()


def cmd_logits(a):
    res = []
    if a.pool:  # MODEL args are models, each compared with the .cpu.jsonl beside it
        pairs_of = [(m, m[:-5] + ".cpu.jsonl") for m in a.model_and_refs]
    else:
        pairs_of = [(a.model_and_refs[0], r) for r in a.model_and_refs[1:]]
    cache = {}
    for model, refpath in pairs_of:
        m = cache.setdefault(model, Model(model))
        ref = [json.loads(line) for line in open(refpath)]
        for r in ref:
            r["top"] = r["top"][: a.top_k]
        s = compare_like_compare_py(ref, forward(m, [r["token"] for r in ref]), a.top_k)
        res.append(s)
        if not a.pool:
            print(f"{refpath}: top-1 {s['top1']:.4f}, mean |dlogit| {s['mean_abs']:.4f}, KL {s['kl']:.4f}, "
                  f"flips at reference margins {[round(f, 3) for f in s['flips']]}")
        if len(cache) > 1:
            cache.pop(model)
    pairs = [p for s in res for p in s["pairs"]]
    flips = [f for s in res for f in s["flips"]]
    print(f"{len(res)} references: mean |dlogit| max {max(s['mean_abs'] for s in res):.5f} (median {np.median([s['mean_abs'] for s in res]):.5f}), "
          f"KL max {max(s['kl'] for s in res):.3g}, top-1 min {min(s['top1'] for s in res):.4f}, {len(flips)} flips at margins <= "
          f"{max(flips) if flips else 0:.4f}")
    print(f"gap change over {len(pairs)} (top-1, rank j) pairs: sd {np.std(pairs):.4g}, max |.| {np.max(np.abs(pairs)):.4g}, "
          f"tail quantile 1e-5: {tail_quantile(pairs, 1e-5):.4g}, 1e-6: {tail_quantile(pairs, 1e-6):.4g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("ops")
    o.add_argument("--draws", type=int, default=1000)
    o.add_argument("--seed", type=int, default=1)
    lg = sub.add_parser("logits")
    lg.add_argument("model_and_refs", nargs="+")
    lg.add_argument("--top-k", type=int, default=40)
    lg.add_argument("--pool", action="store_true")
    a = ap.parse_args()
    {"ops": cmd_ops, "logits": cmd_logits}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
