#!/usr/bin/env python3
"""Writes a Llama GGUF with random weights, for benchmarks at sizes no real model here has.

    python3 scripts/make_synthetic_llama.py --preset 1b --type Q4_0 --out models/synthetic-1b-q4_0.gguf
    python3 scripts/make_synthetic_llama.py --preset 135m --type Q4_1 --embd-type Q8_0 --out models/synthetic-135m.gguf

The second has SmolLM2-135M-Instruct.Q4_1's shapes and tensor types (Q4_1 layers, a Q8_0 token
embedding tied to the output head, F32 norms), so it runs at the real model's speed.

    python3 scripts/make_synthetic_llama.py --preset 1b --type Q4_K_M --embd-type Q8_0 --out models/synthetic-1b-q4_k_m.gguf

`Q4_K_M` stands for llama.cpp's mix: Q4_K layers with attn_v and ffn_down in Q6_K. gguf-py cannot
quantize to K-quants, so their blocks are random quants and sub-block scales under a super-block
scale sized to the same weight spread (and Q4_K's minimums centred), which costs the kernels the
same work.

Needs the PyPI packages `gguf` and `numpy`. The weights are Gaussian with a scale that keeps the
residual stream bounded, so the forward pass does the same work as a trained model; the outputs
mean nothing. No vocabulary is written (benchmarks feed token ids), only llama.vocab_size.
"""
import argparse
import sys

import numpy as np

import gguf

# name: (n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab)
PRESETS = {
    # Llama-3.2-1B's shape with a 32 K vocabulary: 1.04 B parameters.
    "1b": (2048, 16, 32, 8, 8192, 32000),
    # SmolLM2-135M's shape.
    "135m": (576, 30, 9, 3, 1536, 49152),
    "tiny": (256, 2, 4, 2, 512, 1024),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="1b")
    ap.add_argument("--type", choices=["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K_M", "F16", "F32"], default="Q4_0")
    ap.add_argument("--embd-type", choices=["Q4_0", "Q4_1", "Q8_0", "F16", "F32"],
                    help="token_embd.weight (also the tied output head); default: --type")
    ap.add_argument("--ctx", type=int, default=8192, help="llama.context_length")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab = PRESETS[a.preset]
    head_dim = n_embd // n_head
    mix = a.type == "Q4_K_M"
    qtype = gguf.GGMLQuantizationType["Q4_K" if mix else a.type]
    # Q4_K_M: llama.cpp keeps attn_v and ffn_down in Q6_K.
    vtype = gguf.GGMLQuantizationType.Q6_K if mix else qtype
    etype = gguf.GGMLQuantizationType[a.embd_type or a.type]
    rng = np.random.default_rng(a.seed)

    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(f"synthetic-llama-{a.preset}-{a.type.lower()}" + (f"-embd-{a.embd_type.lower()}" if a.embd_type else ""))
    w.add_context_length(a.ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)

    n_params = 0

    def random_k_blocks(rows: int, cols: int, t) -> np.ndarray:
        # Random quants and scales; the f16 super-block scale(s) set so the weights spread ~1/sqrt(cols).
        block, size = gguf.GGML_QUANT_SIZES[t]
        raw = rng.integers(0, 256, (rows, cols // block, size), dtype=np.uint8)
        sd = 1 / np.sqrt(cols)
        f16 = lambda v: np.frombuffer(np.float16(v).tobytes(), np.uint8)
        if t == gguf.GGMLQuantizationType.Q4_K:  # d, dmin, scales[12], qs: w = d sc q - dmin m
            raw[..., 0:2] = f16(sd / 220)  # sd of sc·q over 6-bit scales and 4-bit quants ≈ 220
            raw[..., 2:4] = f16(sd / 220 * 7.4)  # E[sc q] / E[m] ≈ 232 / 31.5: centred
        elif t == gguf.GGMLQuantizationType.Q6_K:  # ql, qh, scales[16] (int8), d: w = d sc (q - 32)
            raw[..., 208:210] = f16(sd / 1370)  # sd of sc·(q - 32) ≈ 74 · 18.5
        else:
            raise SystemExit(f"no random-block generator for {t.name}")
        return raw.reshape(rows, -1)

    def matrix(name: str, rows: int, cols: int, t=qtype) -> None:
        # rows outputs of cols inputs: GGUF ne = [cols, rows], numpy shape (rows, cols).
        nonlocal n_params
        n_params += rows * cols
        if t in (gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q6_K):
            w.add_tensor(name, random_k_blocks(rows, cols, t), raw_dtype=t)
            return
        m = (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols)).astype(np.float32)
        data = gguf.quants.quantize(m, t) if t not in (gguf.GGMLQuantizationType.F32,) else m
        w.add_tensor(name, data, raw_dtype=t)

    def norm(name: str) -> None:
        nonlocal n_params
        v = (1.0 + 0.1 * rng.standard_normal(n_embd)).astype(np.float32)
        n_params += v.size
        w.add_tensor(name, v)

    matrix("token_embd.weight", n_vocab, n_embd, etype)  # tied output head
    norm("output_norm.weight")
    for layer in range(n_layer):
        p = f"blk.{layer}."
        norm(p + "attn_norm.weight")
        matrix(p + "attn_q.weight", n_head * head_dim, n_embd)
        matrix(p + "attn_k.weight", n_head_kv * head_dim, n_embd)
        matrix(p + "attn_v.weight", n_head_kv * head_dim, n_embd, vtype)
        matrix(p + "attn_output.weight", n_embd, n_head * head_dim)
        norm(p + "ffn_norm.weight")
        matrix(p + "ffn_gate.weight", n_ff, n_embd)
        matrix(p + "ffn_up.weight", n_ff, n_embd)
        matrix(p + "ffn_down.weight", n_embd, n_ff, vtype)
        print(f"layer {layer + 1}/{n_layer}", file=sys.stderr, flush=True)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{a.out}: {n_params / 1e9:.3f} B parameters, {a.type}" + (f", token_embd {a.embd_type}" if a.embd_type else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
