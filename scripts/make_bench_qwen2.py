#!/usr/bin/env python3
"""Writes a random-weight Qwen2 at Qwen2.5-0.5B's shape, for speed comparisons only.

    parity/.venv/bin/python scripts/make_bench_qwen2.py --out models/random/qwen2-0.5b-f16.gguf [--type F16|F32]

Same tensor recipe and GGUF keys as the coverage suite's `qwen2` file (scripts/make_random_models.py),
at n_embd 896, 24 layers, 14 heads, 2 KV heads, head_dim 64, n_ff 4864, vocab 151936, QKV biases,
tied embedding. The weights are random, so only timings mean anything; quantize the result with
`llama-quantize` (e.g. Q4_K_M, or `--pure Q6_K`). Not pinned and not committed (about 1 GB in F16).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_random_models as m  # noqa: E402

QWEN2_0_5B = dict(m.ARCHS["qwen2"], n_embd=896, n_layer=24, n_head=14, n_head_kv=2, head_dim=64, n_ff=4864,
                  n_vocab=151936)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--type", default="F16", choices=["F16", "F32"])
    a = ap.parse_args()
    tensors = m.tensors_of("qwen2", QWEN2_0_5B, np.random.default_rng(m.seed_of("qwen2-0.5b")))
    m.write_gguf(Path(a.out), "qwen2-0.5b", QWEN2_0_5B, tensors, a.type)
    print(f"{a.out}: {Path(a.out).stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
