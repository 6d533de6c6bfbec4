#!/usr/bin/env python3
"""Times llama.cpp (the pinned llama-cpp-python) the way `worker-orcd bench` times us.

Same prompt (the xorshift64 token sequence of src/cli/bench.rs), prefill of the whole prompt in
one batch, then greedy decode one token at a time on top of it, one warm-up run, the median of
--repeat runs. Prints one JSON line with the keys of `worker-orcd bench`.

  parity/.venv/bin/python parity/bench_llamacpp.py --model M.gguf [--threads N]
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
from llama_cpp import Llama, __version__ as llama_cpp_version


def bench_prompt(n, n_vocab):
    """The prompt of src/cli/bench.rs: xorshift64 from a fixed seed, ids >= 256."""
    mask = (1 << 64) - 1
    state = 0x9E3779B97F4A7C15
    out = []
    for _ in range(n):
        state ^= (state << 13) & mask
        state ^= state >> 7
        state ^= (state << 17) & mask
        out.append(256 + state % (n_vocab - 256))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    n_ctx = args.prompt_tokens + args.gen_tokens
    llm = Llama(model_path=args.model, n_ctx=n_ctx, n_batch=args.prompt_tokens, n_ubatch=args.prompt_tokens,
                n_threads=args.threads, n_threads_batch=args.threads, logits_all=False, verbose=False)
    n_vocab = llm.n_vocab()
    prompt = bench_prompt(args.prompt_tokens, n_vocab)

    def last_logits():
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))

    prefill, decode = [], []
    for run in range(args.repeat + 1):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        pp = args.prompt_tokens / (time.perf_counter() - t0)
        t1 = time.perf_counter()
        for _ in range(args.gen_tokens):
            llm.eval([int(np.argmax(last_logits()))])
        tg = args.gen_tokens / (time.perf_counter() - t1)
        if run > 0:  # run 0 warms caches and threads
            prefill.append(pp)
            decode.append(tg)
    print(json.dumps({
        "prefill_tok_s": round(statistics.median(prefill), 1),
        "decode_tok_s": round(statistics.median(decode), 1),
        "threads": args.threads,
        "backend": "cpu",
        "engine": f"llama.cpp (llama-cpp-python {llama_cpp_version})",
        "model": args.model,
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "repeat": args.repeat,
        "prefill_runs": prefill,
        "decode_runs": decode,
    }))


if __name__ == "__main__":
    main()
