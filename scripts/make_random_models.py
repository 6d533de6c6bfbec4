#!/usr/bin/env python3
"""Writes the small random-weight GGUFs of the model-coverage suite (tests/model_coverage.rs).

    scripts/make_random_models.py --out-dir models/random [--only NAME ...] [--check] [--quantize BIN]

One file per architecture in F32 (`<arch>-f32.gguf`) and one per quant type on the `llama` shape
(`llama-<type>.gguf`); `--list` prints the names. Everything is seeded: the same numpy and gguf
versions (parity/reference/PIN.json) write the same bytes, and `--check` compares every file with the
sha256 pinned in parity/reference/random/models.json (`--pin` rewrites that file).

Where the types come from:
  - F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: quantized here from the F32 weights by the `gguf` package,
    whose quantizers are ports of ggml's reference ones (the same bytes as llama-quantize --pure, which
    `--quantize` verifies tensor by tensor);
  - Q2_K ... Q6_K: the `gguf` package cannot quantize them, so they come from the pinned llama.cpp's
    `llama-quantize --pure` (parity/setup-llama-quantize.sh). Those files are small and committed in
    parity/reference/random/kquants/; without --quantize they are copied from there.

No vocabulary is written (tokenizer.ggml.model = "none" plus <arch>.vocab_size: llama.cpp adds dummy
tokens, and the dumps are token ids). The weights are Gaussian, scaled so the residual stream stays
bounded and the logits spread over a few units, so most positions have a clear top-1.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import gguf

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "parity" / "reference" / "random"
PINS = REF / "models.json"
KQUANTS = REF / "kquants"
T = gguf.GGMLQuantizationType

# The types the gguf package quantizes itself, and the ones only llama-quantize makes.
GGUF_TYPES = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
LLAMA_QUANTIZE_TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]

# Each architecture: its GGUF arch name, shape and the features its file carries. Row lengths are
# multiples of 256 everywhere so every type (K-quants: 256-weight super-blocks) fits every matrix.
ARCHS = {
    # Plain Llama 2 style: separate Q/K/V, SwiGLU, tied output head.
    "llama": dict(arch="llama", n_embd=256, n_layer=2, n_head=4, n_head_kv=2, head_dim=64, n_ff=256,
                  n_vocab=384, rope_base=10000.0, tied=True),
    # Llama 3: per-dimension rope frequency factors (rope_freqs.weight), untied output head.
    "llama3": dict(arch="llama", n_embd=256, n_layer=2, n_head=4, n_head_kv=1, head_dim=64, n_ff=512,
                   n_vocab=320, rope_base=500000.0, tied=False, rope_freqs=True),
    # Mistral 7B v0.1 style: a llama file with a sliding window (llama.cpp's llama graph ignores it).
    "mistral": dict(arch="llama", n_embd=256, n_layer=2, n_head=4, n_head_kv=2, head_dim=64, n_ff=512,
                    n_vocab=320, rope_base=10000.0, tied=False, sliding_window=32),
    # Qwen2/Qwen2.5: Q/K/V biases, NeoX rope.
    "qwen2": dict(arch="qwen2", n_embd=256, n_layer=2, n_head=4, n_head_kv=2, head_dim=64, n_ff=512,
                  n_vocab=320, rope_base=1000000.0, tied=True, qkv_bias=True),
    # Qwen3: per-head Q/K RMSNorm, head_dim set by key_length (q dim != n_embd).
    "qwen3": dict(arch="qwen3", n_embd=256, n_layer=2, n_head=4, n_head_kv=2, head_dim=128, n_ff=512,
                  n_vocab=320, rope_base=1000000.0, tied=False, qk_norm=True, key_length=True),
    # Phi-3: fused attn_qkv and gate/up (ffn_up holds both), sliding window (llama.cpp disables it).
    "phi3": dict(arch="phi3", n_embd=256, n_layer=2, n_head=4, n_head_kv=4, head_dim=64, n_ff=512,
                 n_vocab=320, rope_base=10000.0, tied=False, fused=True, sliding_window=32),
    # Gemma 3: embedding x sqrt(n_embd), pre- and post-norms, Q/K norms, 256-dim heads, GeGLU,
    # sliding-window layers (window 32) with every third layer global, two rope bases. The embedding
    # is scaled down by sqrt(n_embd) so the layers, not the scaled input token, decide the logits;
    # that needs an untied output head (the real Gemma 3 270M covers the tied one).
    "gemma3": dict(arch="gemma3", n_embd=256, n_layer=3, n_head=2, n_head_kv=1, head_dim=256, n_ff=512,
                   n_vocab=320, rope_base=1000000.0, rope_base_swa=10000.0, tied=False, embd_scale=3.0 / 16,
                   qk_norm=True,
                   key_length=True, post_norms=True, sliding_window=32, swa_pattern=3),
}

CTX = 2048


def names():
    return [f"{a}-f32" for a in ARCHS] + [f"llama-{t.lower()}" for t in GGUF_TYPES + LLAMA_QUANTIZE_TYPES]


def seed_of(arch: str) -> int:
    # One seed per architecture, independent of the order they are written in.
    return int.from_bytes(hashlib.sha256(f"worker-orcd random {arch}".encode()).digest()[:8], "little")


def llama3_rope_factors(head_dim: int, base: float) -> np.ndarray:
    # Llama 3.1's frequency factors (factor 8, low/high 1 and 4, original context 64 so that all three
    # regimes - unscaled, scaled and the smooth band between - occur at head_dim 64).
    factor, low, high, orig = 8.0, 1.0, 4.0, 64
    freqs = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    wavelen = 2 * np.pi / freqs
    out = []
    for w in wavelen:
        if w < orig / high:
            out.append(1.0)
        elif w > orig / low:
            out.append(factor)
        else:
            smooth = (orig / w - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def tensors_of(name: str, c: dict, rng: np.random.Generator):
    """The (name, float32 array) list of an architecture, in file order."""
    E, F, V, L = c["n_embd"], c["n_ff"], c["n_vocab"], c["n_layer"]
    D = c["head_dim"]
    q_dim, kv_dim = c["n_head"] * D, c["n_head_kv"] * D
    out = []

    def mat(t, rows, cols, scale=1.0):
        # rows outputs of cols inputs: numpy shape (rows, cols) is GGUF ne = [cols, rows].
        out.append((t, (scale * rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols)).astype(np.float32)))

    def vec(t, n, mean=1.0, spread=0.1):
        out.append((t, (mean + spread * rng.standard_normal(n)).astype(np.float32)))

    mat("token_embd.weight", V, E, c.get("embd_scale", 3.0))
    if c.get("rope_freqs"):
        out.append(("rope_freqs.weight", llama3_rope_factors(D, c["rope_base"])))
    vec("output_norm.weight", E)
    if not c["tied"]:
        mat("output.weight", V, E, 3.0)
    for l in range(L):
        p = f"blk.{l}."
        vec(p + "attn_norm.weight", E)
        if c.get("fused"):
            mat(p + "attn_qkv.weight", q_dim + 2 * kv_dim, E)
        else:
            mat(p + "attn_q.weight", q_dim, E)
            mat(p + "attn_k.weight", kv_dim, E)
            mat(p + "attn_v.weight", kv_dim, E)
        if c.get("qkv_bias"):
            vec(p + "attn_q.bias", q_dim, 0.0, 0.5)
            vec(p + "attn_k.bias", kv_dim, 0.0, 0.5)
            vec(p + "attn_v.bias", kv_dim, 0.0, 0.5)
        if c.get("qk_norm"):
            vec(p + "attn_q_norm.weight", D)
            vec(p + "attn_k_norm.weight", D)
        mat(p + "attn_output.weight", E, q_dim)
        if c.get("post_norms"):
            vec(p + "post_attention_norm.weight", E)
        vec(p + "ffn_norm.weight", E)
        if c.get("fused"):
            mat(p + "ffn_up.weight", 2 * F, E)  # gate rows first, then up rows
        else:
            mat(p + "ffn_gate.weight", F, E)
            mat(p + "ffn_up.weight", F, E)
        mat(p + "ffn_down.weight", E, F)
        if c.get("post_norms"):
            vec(p + "post_ffw_norm.weight", E)
    return out


def write_gguf(path: Path, name: str, c: dict, tensors, qtype: str):
    a = c["arch"]
    w = gguf.GGUFWriter(str(path), a)
    w.add_name(f"worker-orcd random {name}")
    w.add_context_length(CTX)
    w.add_embedding_length(c["n_embd"])
    w.add_block_count(c["n_layer"])
    w.add_feed_forward_length(c["n_ff"])
    w.add_head_count(c["n_head"])
    w.add_head_count_kv(c["n_head_kv"])
    if c.get("key_length"):
        w.add_key_length(c["head_dim"])
        w.add_value_length(c["head_dim"])
    w.add_rope_dimension_count(c["head_dim"])
    w.add_rope_freq_base(c["rope_base"])
    if "rope_base_swa" in c:
        w.add_rope_freq_base_swa(c["rope_base_swa"])
    if "sliding_window" in c:
        w.add_sliding_window(c["sliding_window"])
    if "swa_pattern" in c:
        w.add_sliding_window_pattern(c["swa_pattern"])
    w.add_layer_norm_rms_eps(1e-6 if a == "gemma3" else 1e-5)
    w.add_vocab_size(c["n_vocab"])
    w.add_tokenizer_model("none")
    ftype = {"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16,
             "BF16": gguf.LlamaFileType.MOSTLY_BF16, "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
             "Q4_0": gguf.LlamaFileType.MOSTLY_Q4_0, "Q4_1": gguf.LlamaFileType.MOSTLY_Q4_1,
             "Q5_0": gguf.LlamaFileType.MOSTLY_Q5_0, "Q5_1": gguf.LlamaFileType.MOSTLY_Q5_1}[qtype]
    w.add_file_type(ftype)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    t = T[qtype]
    for tname, data in tensors:
        # 1-D tensors (norms, biases, rope factors) stay F32, as llama-quantize leaves them.
        if data.ndim == 1 or t == T.F32:
            w.add_tensor(tname, data)
        else:
            w.add_tensor(tname, gguf.quants.quantize(data, t), raw_dtype=t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tensor_types(path: Path) -> dict:
    r = gguf.GGUFReader(str(path))
    return {t.name: t.tensor_type.name for t in r.tensors}


def tensor_bytes(path: Path) -> dict:
    r = gguf.GGUFReader(str(path))
    return {t.name: bytes(t.data.tobytes()) for t in r.tensors}


def check_types(path: Path, qtype: str):
    """Every 2-D tensor has the file's type and every 1-D one is F32; a precise message otherwise."""
    r = gguf.GGUFReader(str(path))
    for t in r.tensors:
        want = "F32" if len(t.shape) == 1 else qtype
        if t.tensor_type.name != want:
            raise SystemExit(f"{path}: tensor {t.name} is {t.tensor_type.name}, expected {want}")


def llama_quantize(binary: str, src: Path, dst: Path, qtype: str):
    o = subprocess.run([binary, "--pure", str(src), str(dst), qtype], capture_output=True, text=True)
    if o.returncode != 0:
        raise SystemExit(f"llama-quantize {qtype} failed:\n{o.stdout}\n{o.stderr}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=str(ROOT / "models" / "random"))
    ap.add_argument("--only", nargs="+", metavar="NAME", help="only these files (names as --list prints)")
    ap.add_argument("--list", action="store_true", help="print the file names and exit")
    ap.add_argument("--quantize", metavar="BIN", help="llama-quantize: make the K-quant files (and store them in "
                    "parity/reference/random/kquants/), and check that llama-quantize gives the gguf package's "
                    "bytes for the other types")
    ap.add_argument("--check", action="store_true", help="fail unless every written file has its pinned sha256")
    ap.add_argument("--ensure", action="store_true", help="keep files that already have their pinned sha256, "
                    "write the others, then --check (what the tests call)")
    ap.add_argument("--pin", action="store_true", help="write the sha256s into parity/reference/random/models.json")
    a = ap.parse_args()

    if a.list:
        print("\n".join(names()))
        return 0
    wanted = a.only or names()
    unknown = [n for n in wanted if n not in names()]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; the models are: {' '.join(names())}")
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pins = json.loads(PINS.read_text())["sha256"] if PINS.exists() else {}
    written = {}
    if a.ensure:
        a.check = True
        kept = [n for n in wanted if (out / f"{n}.gguf").is_file() and sha256(out / f"{n}.gguf") == pins.get(n)]
        wanted = [n for n in wanted if n not in kept]
        if kept:
            print(f"{len(kept)} file(s) present with their pinned sha256", file=sys.stderr)

    # The llama F32 weights feed every quantized llama file, so they are made once.
    llama_tensors = None
    for name in wanted:
        arch, qtype = name.rsplit("-", 1)
        qtype = qtype.upper()
        c = ARCHS[arch]
        path = out / f"{name}.gguf"
        if qtype in LLAMA_QUANTIZE_TYPES:
            committed = KQUANTS / f"{name}.gguf"
            if a.quantize:
                with tempfile.TemporaryDirectory() as tmp:
                    f32 = Path(tmp) / "llama-f32.gguf"
                    write_gguf(f32, "llama-f32", c, tensors_of("llama", c, np.random.default_rng(seed_of("llama"))), "F32")
                    llama_quantize(a.quantize, f32, path, qtype)
                KQUANTS.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, committed)
            else:
                if not committed.exists():
                    raise SystemExit(f"{committed} is missing; make it with --quantize $(parity/setup-llama-quantize.sh)")
                shutil.copyfile(committed, path)
        else:
            if arch == "llama":
                if llama_tensors is None:
                    llama_tensors = tensors_of("llama", c, np.random.default_rng(seed_of("llama")))
                tensors = llama_tensors
            else:
                tensors = tensors_of(arch, c, np.random.default_rng(seed_of(arch)))
            write_gguf(path, name, c, tensors, qtype)
            if a.quantize and qtype != "F32":
                # Our quantizer (the gguf package's) against llama.cpp's, tensor by tensor.
                with tempfile.TemporaryDirectory() as tmp:
                    f32 = Path(tmp) / "llama-f32.gguf"
                    theirs = Path(tmp) / f"{name}.gguf"
                    write_gguf(f32, "llama-f32", c, tensors, "F32")
                    llama_quantize(a.quantize, f32, theirs, qtype)
                    ours_b, theirs_b = tensor_bytes(path), tensor_bytes(theirs)
                    diff = [t for t in ours_b if ours_b[t] != theirs_b.get(t)]
                    if diff:
                        raise SystemExit(f"{name}: the gguf package's {qtype} differs from llama-quantize's in {diff}")
                    print(f"{name}: tensor data equal to llama-quantize --pure {qtype}", file=sys.stderr)
        check_types(path, qtype)
        written[name] = sha256(path)
        print(f"{path}: {path.stat().st_size} bytes, sha256 {written[name]}", file=sys.stderr)

    if a.pin:
        pins.update(written)
        PINS.write_text(json.dumps({"comment": "sha256 of each file scripts/make_random_models.py writes "
                                    "(numpy and gguf as pinned in parity/reference/PIN.json)",
                                    "sha256": dict(sorted(pins.items()))}, indent=1) + "\n")
    if a.check:
        bad = [n for n in written if pins.get(n) != written[n]]
        if bad:
            raise SystemExit(f"sha256 differs from parity/reference/random/models.json for {bad}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
