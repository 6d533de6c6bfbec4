#!/usr/bin/env python3
"""worker-orcd next to llama.cpp's llama-bench on the CPU, per model and thread count, measured alternately.

  scripts/bench_cpu.py --llama-bench PATH [--threads 1,2] [--rounds 3] [--isa avx2] [--json OUT] MODEL...

MODEL is LABEL=PATH (e.g. Q4_1=models/SmolLM2-135M-Instruct.Q4_1.gguf). Each round runs, in an order that rotates
from round to round: worker-orcd, llama-bench with flash attention off, llama-bench with it on; so slow drifts of
the machine fall on all three alike. Each measures what llama-bench calls pp512 (prefill of 512 tokens into an
empty context) and tg128 (128 tokens decoded one by one from an empty context):
  - worker-orcd: `bench --prompt-tokens 512 --gen-tokens 1` for pp512 and `bench --prompt-tokens 1 --gen-tokens 128`
    for tg128 (one warm-up run each, then --repeat 1);
  - llama-bench: `-p 512 -n 128 -r 1 -fa 0|1 -o jsonl` (its own warm-up run).
The table gives medians over rounds in tokens/s and the ratio ours / llama.cpp's faster setting (> 1: ours faster).
--isa sets WC_ISA for worker-orcd only (the llama-bench given must be built for that ISA to compare like with like).
Standard library only.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bench_http import cpu_model  # noqa: E402  (one definition of the machine's name)


def run(cmd, env=None):
    o = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if o.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({o.returncode}):\n{o.stdout[-2000:]}\n{o.stderr[-2000:]}")
    return o.stdout


def ours(binary, model, threads, isa):
    env = dict(os.environ)
    if isa:
        env["WC_ISA"] = isa
    base = [binary, "bench", "--model", model, "--threads", str(threads), "--repeat", "1"]
    pp = json.loads(run(base + ["--prompt-tokens", "512", "--gen-tokens", "1"], env).strip().splitlines()[-1])
    tg = json.loads(run(base + ["--prompt-tokens", "1", "--gen-tokens", "128"], env).strip().splitlines()[-1])
    return pp["prefill_tok_s"], tg["decode_tok_s"]


def llama(binary, model, threads, fa):
    out = run([binary, "-m", model, "-t", str(threads), "-p", "512", "-n", "128", "-r", "1", "-fa", str(fa), "-o", "jsonl"])
    pp = tg = None
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r.get("n_prompt") == 512 and r.get("n_gen") == 0:
            pp = r["avg_ts"]
        elif r.get("n_gen") == 128 and r.get("n_prompt") == 0:
            tg = r["avg_ts"]
    if pp is None or tg is None:
        raise SystemExit(f"llama-bench printed no pp512/tg128 rows:\n{out}")
    return pp, tg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="LABEL=PATH")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/worker-orcd"))
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--isa", help="WC_ISA for worker-orcd (avx2, avx512, scalar)")
    ap.add_argument("--json", help="also write every round's figures here")
    a = ap.parse_args()
    models = [m.split("=", 1) for m in a.models]
    threads = [int(t) for t in a.threads.split(",")]
    engines = ["ours", "fa0", "fa1"]
    raw = []
    for label, path in models:
        for t in threads:
            for r in range(a.rounds):
                order = engines[r % 3:] + engines[:r % 3]
                for e in order:
                    if e == "ours":
                        pp, tg = ours(a.binary, path, t, a.isa)
                    else:
                        pp, tg = llama(a.llama_bench, path, t, 1 if e == "fa1" else 0)
                    raw.append({"model": label, "threads": t, "round": r, "engine": e, "pp512": pp, "tg128": tg})
                    print(f"bench_cpu: {label} t={t} round {r} {e}: pp512 {pp:.1f} tg128 {tg:.1f}", file=sys.stderr)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(f"machine: {cpu_model()} ({os.cpu_count()} CPUs); date: {datetime.date.today()}; commit: {commit}; "
          f"worker-orcd ISA: {a.isa or 'native (the widest the CPU has)'}; rounds: {a.rounds}\n")
    print("| model | threads | ours pp512 | llama fa off | llama fa on | pp ratio | ours tg128 | llama fa off | llama fa on | tg ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, _ in models:
        for t in threads:
            med = {}
            for e in engines:
                rows = [x for x in raw if x["model"] == label and x["threads"] == t and x["engine"] == e]
                med[e] = (statistics.median(x["pp512"] for x in rows), statistics.median(x["tg128"] for x in rows))
            ppr = med["ours"][0] / max(med["fa0"][0], med["fa1"][0])
            tgr = med["ours"][1] / max(med["fa0"][1], med["fa1"][1])
            print(f"| {label} | {t} | {med['ours'][0]:.1f} | {med['fa0'][0]:.1f} | {med['fa1'][0]:.1f} | {ppr:.2f} "
                  f"| {med['ours'][1]:.1f} | {med['fa0'][1]:.1f} | {med['fa1'][1]:.1f} | {tgr:.2f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"commit": commit, "cpu": cpu_model(), "isa": a.isa, "rounds": raw}, f, indent=1)


if __name__ == "__main__":
    main()
