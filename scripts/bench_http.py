#!/usr/bin/env python3
"""Benchmarks worker-orcd through HTTP, as a client sees it: time to first token, decode tokens/s
and cancel latency, over --runs jobs each. Starts the release binary on the test model (CPU).

  scripts/bench_http.py [--threads N] [--runs 5] [--binary target/release/worker-orcd]

Prints a markdown table (medians, min, max). Standard library only.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
        "<|im_start|>assistant\n")
LONG = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stream:
    """One /execute call; yields (event, data, t_received)."""

    def __init__(self, port, body):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.t_sent = time.perf_counter()
        self.conn.request("POST", "/execute", json.dumps(body), {"content-type": "application/json"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.read()

    def events(self):
        event, data = None, ""
        while True:
            line = self.resp.readline()
            if not line:
                return
            line = line.decode().rstrip("\r\n")
            if line == "":
                if event:
                    yield event, json.loads(data), time.perf_counter()
                event, data = None, ""
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].lstrip(" ")


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.status


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/worker-orcd"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    port = free_port()
    worker = subprocess.Popen([args.binary, "--worker-id", "00000000-0000-4000-8000-000000000001", "--model", args.model,
                               "--device", "cpu", "--port", str(port), "--threads", str(args.threads)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() - t0 > 120:
                sys.exit("worker did not become healthy")
            time.sleep(0.05)

        ttft, client_tps, server_tps, cancel = [], [], [], []
        for n in range(args.runs + 1):  # run 0 warms up
            s = Stream(port, {"job_id": f"gen-{n}", "prompt": CHAT.format("Write a short story about a lighthouse."),
                              "max_tokens": 128, "temperature": 0})
            first = last = None
            count = 0
            end = None
            for ev, data, t in s.events():
                if ev == "token":
                    count += 1
                    first = first or t
                    last = t
                elif ev in ("end", "error"):
                    end = data
            if n == 0:
                continue
            ttft.append((first - s.t_sent) * 1000)
            if count > 1:
                client_tps.append((count - 1) / (last - first))
            server_tps.append(end["decode_tokens_per_s"])

            s = Stream(port, {"job_id": f"cancel-{n}", "prompt": LONG, "max_tokens": 2000, "temperature": 0})
            it = s.events()
            tokens = 0
            for ev, data, t in it:
                if ev == "token":
                    tokens += 1
                    if tokens == 5:
                        break
            t_cancel = time.perf_counter()
            assert post(port, "/cancel", {"job_id": f"cancel-{n}"}) == 202
            for ev, data, t in it:
                if ev == "error":
                    assert data["code"] == "CANCELLED", data
                    cancel.append((t - t_cancel) * 1000)
                    break
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    def row(name, xs, unit):
        return f"| {name} | {statistics.median(xs):.1f} | {min(xs):.1f} | {max(xs):.1f} | {unit} |"

    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {cpu}, {args.threads} threads; date: {time.strftime('%Y-%m-%d')}; commit: {commit}; runs: {args.runs}\n")
    print("| measure (through HTTP) | median | min | max | unit |")
    print("| --- | ---: | ---: | ---: | --- |")
    print(row("time to first token (chat prompt, ~30 tokens)", ttft, "ms"))
    print(row("decode, client side (token events/s after the first)", client_tps, "tok/s"))
    print(row("decode, server's end event", server_tps, "tok/s"))
    print(row("cancel latency (POST /cancel → error event)", cancel, "ms"))


if __name__ == "__main__":
    main()
