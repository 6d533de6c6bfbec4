#!/usr/bin/env python3
"""Benchmarks worker-orcd through HTTP, as a client sees it. Standard library only.

Single-job mode (default): time to first token, decode tokens/s and cancel latency, over --runs jobs each.
Starts the release binary on the test model (CPU). Prints a markdown table (medians, min, max).

  scripts/bench_http.py [--threads N] [--runs 5] [--binary target/release/worker-orcd] [--endpoint execute]

--endpoint chat drives the same jobs through the OpenAI-compatible /v1/chat/completions (streamed, the prompt as
`messages` that the chat template renders to the same tokens, `max_tokens`, `temperature: 0`); tokens are the
final usage chunk's completion_tokens (`stream_options.include_usage`), first/last token the arrivals of the first
and last chunks with content, cancel through POST /cancel with the response's id. --endpoint both alternates the
two endpoints run by run (the order swapping each run) on one worker and prints them side by side with the ratio.

Concurrency mode (--concurrency 1,2,4,8,16): worker-orcd next to llama.cpp's llama-server, same model, same
--threads, one engine at a time (never both running). For each N, each engine is started fresh with N slots
(worker-orcd `--ctx-size ctx --parallel N --no-prefix-cache`, each of the last two only when its --help lists
it; llama-server `-np N -cb -c N*ctx -fa off --cache-ram 0 -fit off`), gets one warm-up job, then --runs
rounds of N concurrent streaming clients (one thread and one connection each, released together by a barrier).
Client i sends its own ChatML prompt (a counting task that starts at a different number) with greedy decoding
and --gen-tokens tokens asked for: worker-orcd `/execute` with `max_tokens`, `temperature: 0`; llama-server
`/completion` with `n_predict`, `stream: true`, `temperature: 0`, `samplers: ["temperature"]` (plain argmax),
`cache_prompt: false`, `ignore_eos: true`.
Tokens are counted as they arrive (worker-orcd: `token` events; llama-server: chunks with a token id).

  scripts/bench_http.py --concurrency 1,2,4 --threads 2 [--runs 3] [--gen-tokens 128] [--llama-server PATH]

Definitions (per engine, N and round; the table gives the median over rounds):
  - t_sent(i): just before client i writes its request; first(i), last(i): arrival of its first / last token;
    n(i): tokens it received.
  - aggregate decode throughput = sum_i (n(i) - 1) / (max_i last(i) - min_i first(i)): every token after each
    stream's first, over the decode phase, which runs from the first token of any stream to the last token of
    any stream. (A server that runs jobs one after another has the later jobs' waiting and prefill inside that
    window; that is the throughput a client population sees.)
  - scaling = aggregate throughput at N / aggregate throughput at N=1, same engine.
  - TTFT(i) = first(i) - t_sent(i); median and p95 (nearest rank) over all clients of all rounds.
  - worker/llama = worker-orcd's aggregate throughput / llama-server's at the same N (> 1: worker is faster).
Footprint (per engine and N): start to ready = from spawning the process to its first healthy /health (polled every
50 ms; the model file is in the page cache after the first start); resident memory = VmRSS, and PSS, of the process and
its children (worker-orcd's chat template helper) summed, after the warm-up job, with the same context for both (N
slots of --ctx tokens each). PSS counts a page shared by k processes 1/k in each, so the sum is what the host gives
the whole process tree; the RSS sum counts the worker's executable pages that its helper maps twice.
TTFT under load (once per engine, server with 4 slots): idle TTFT is a job alone; loaded TTFT is the same
job sent once 3 long jobs (--long-tokens) all stream (or --busy-wait seconds after the first one does, for a
server that runs them one at a time: the table says how many were streaming). Medians over --runs.
The llama-server binary comes from parity/setup-llama-server.sh; without one only worker-orcd is measured.
Shared machines: before each round the script waits (--quiet-wait) until other processes use under
--max-other-load cores (/proc/stat's busy time minus this script's and the server's), measures what they use
during the round, and reruns a round they disturbed (--retries); the header reports that load and warns if a
disturbed round had to be kept.
"""
import argparse
import atexit
import ctypes
import http.client
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid

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


class ChatStream:
    """One streamed /v1/chat/completions call; yields (chunk, t_received) per `data:` line, up to `[DONE]`."""

    def __init__(self, port, body):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.t_sent = time.perf_counter()
        self.conn.request("POST", "/v1/chat/completions", json.dumps(dict(body, stream=True)),
                          {"content-type": "application/json"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.read()

    def chunks(self):
        while True:
            line = self.resp.readline()
            if not line:
                return
            line = line.decode().rstrip("\r\n")
            if line.startswith("data:"):
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield json.loads(data), time.perf_counter()


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.status


STORY = "Write a short story about a lighthouse."
# As messages, rendered by SmolLM2's template, this is exactly CHAT.format(STORY): the same prompt tokens.
STORY_MESSAGES = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": STORY}]
COUNT_MESSAGES = [{"role": "user", "content": "Count from 1 to 2000, separated by commas."}]


def execute_job(port, n):
    """/execute: one 128-token greedy job, then one cancelled after 5 tokens. Returns the measures of the run."""
    s = Stream(port, {"job_id": f"gen-{n}", "prompt": CHAT.format(STORY), "max_tokens": 128, "temperature": 0})
    first = last = started = end = None
    count = 0
    for ev, data, t in s.events():
        if ev == "started":
            started = data
        elif ev == "token":
            count += 1
            first = first or t
            last = t
        elif ev in ("end", "error"):
            end = data
    out = {"ttft": (first - s.t_sent) * 1000, "server_tps": end["decode_tokens_per_s"], "tokens": count,
           "prompt_tokens": started["prompt_tokens"]}
    if count > 1:
        out["client_tps"] = (count - 1) / (last - first)

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
            out["cancel"] = (t - t_cancel) * 1000
            break
    return out


def chat_job(port, model, n):
    """/v1/chat/completions, streamed: the same two jobs. Tokens are the usage chunk's completion_tokens; first and
    last are the arrivals of the first and last chunks with non-empty content (held-back text joins a later
    chunk, so chunks can be fewer than tokens)."""
    s = ChatStream(port, {"model": model, "messages": STORY_MESSAGES, "max_tokens": 128, "temperature": 0,
                          "stream_options": {"include_usage": True}})
    first = last = usage = None
    for chunk, t in s.chunks():
        assert "error" not in chunk, chunk
        if chunk.get("usage"):
            usage = chunk["usage"]
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            first = first or t
            last = t
    count = usage["completion_tokens"]
    out = {"ttft": (first - s.t_sent) * 1000, "tokens": count, "prompt_tokens": usage["prompt_tokens"]}
    if count > 1:
        out["client_tps"] = (count - 1) / (last - first)

    s = ChatStream(port, {"model": model, "messages": COUNT_MESSAGES, "max_tokens": 2000, "temperature": 0})
    it = s.chunks()
    contents, job_id = 0, None
    for chunk, t in it:
        job_id = chunk["id"]
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            contents += 1
            if contents == 5:
                break
    t_cancel = time.perf_counter()
    assert post(port, "/cancel", {"job_id": job_id}) == 202
    for chunk, t in it:
        if "error" in chunk:
            assert chunk["error"]["code"] == "cancelled", chunk
            out["cancel"] = (t - t_cancel) * 1000
            break
    return out


def single_job_bench(args):
    """One job at a time against worker-orcd only, through /execute, /v1/chat/completions, or both alternating
    (each run measures one endpoint then the other, the order swapping every run)."""
    port = free_port()
    worker = subprocess.Popen([args.binary, "--worker-id", "00000000-0000-4000-8000-000000000001", "--model", args.model,
                               "--device", "cpu", "--port", str(port), "--threads", str(args.threads)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoints = {"execute": ["execute"], "chat": ["chat"], "both": ["execute", "chat"]}[args.endpoint]
    model = os.path.basename(args.model)
    runs = {e: [] for e in endpoints}
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

        meter = ForeignCpu(types.SimpleNamespace(proc=worker))
        for n in range(args.runs + 1):  # run 0 warms up
            order = endpoints if n % 2 == 0 else endpoints[::-1]
            for e in order:
                meter.start()
                out = execute_job(port, n) if e == "execute" else chat_job(port, model, n)
                out["foreign"] = meter.stop()
                if n > 0:
                    runs[e].append(out)
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    def values(e, key):
        return [r[key] for r in runs[e] if key in r]

    def row(name, xs, unit):
        return f"| {name} | {statistics.median(xs):.1f} | {min(xs):.1f} | {max(xs):.1f} | {unit} |"

    commit = git_commit()
    print(f"machine: {cpu_model()}, {args.threads} threads; date: {time.strftime('%Y-%m-%d')}; commit: {commit}; "
          f"runs: {args.runs}\n")
    if args.endpoint == "execute":
        print("| measure (through HTTP) | median | min | max | unit |")
        print("| --- | ---: | ---: | ---: | --- |")
        print(row("time to first token (chat prompt, ~30 tokens)", values("execute", "ttft"), "ms"))
        print(row("decode, client side (token events/s after the first)", values("execute", "client_tps"), "tok/s"))
        print(row("decode, server's end event", values("execute", "server_tps"), "tok/s"))
        print(row("cancel latency (POST /cancel → error event)", values("execute", "cancel"), "ms"))
        return
    if args.endpoint == "chat":
        print("| measure (through /v1/chat/completions, streamed) | median | min | max | unit |")
        print("| --- | ---: | ---: | ---: | --- |")
        print(row("time to first content chunk (chat prompt, ~30 tokens)", values("chat", "ttft"), "ms"))
        print(row("decode, client side (usage tokens after the first / content time)", values("chat", "client_tps"),
                  "tok/s"))
        print(row("cancel latency (POST /cancel → error chunk)", values("chat", "cancel"), "ms"))
        return

    def cell(xs):
        return f"{statistics.median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})"

    foreign = values("execute", "foreign") + values("chat", "foreign")
    print(f"other processes during the runs (cores, /proc/stat minus this script and the worker): median "
          f"{statistics.median(foreign):.2f}, max {max(foreign):.2f}")
    ptoks = {e: sorted(set(values(e, "prompt_tokens"))) for e in endpoints}
    toks = {e: sorted(set(values(e, "tokens"))) for e in endpoints}
    print(f"prompt tokens: /execute {ptoks['execute']}, chat {ptoks['chat']}; generated tokens: /execute "
          f"{toks['execute']}, chat {toks['chat']}\n")
    # On a shared machine the load moves between runs; the two measurements of one run are seconds apart, so the
    # median of the per-run ratios is steadier than the ratio of the medians.
    print("| measure (single job, median (min–max)) | /execute | /v1/chat/completions | chat / execute, medians "
          "| chat / execute, median of per-run ratios | unit |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, key, unit in [("time to first token", "ttft", "ms"),
                            ("decode, client side (tokens after the first / their time)", "client_tps", "tok/s"),
                            ("cancel latency (POST /cancel → error)", "cancel", "ms")]:
        a, b = values("execute", key), values("chat", key)
        paired = [c[key] / x[key] for x, c in zip(runs["execute"], runs["chat"]) if key in x and key in c]
        print(f"| {name} | {cell(a)} | {cell(b)} | {statistics.median(b) / statistics.median(a):.3f} | "
              f"{statistics.median(paired):.3f} ({min(paired):.2f}–{max(paired):.2f}) | {unit} |")
    print(f"| decode, server's end event | {cell(values('execute', 'server_tps'))} | — | — | — | tok/s |")


# ---------------------------------------------------------------------------------------------------------------
# Concurrency mode: worker-orcd next to llama-server
# ---------------------------------------------------------------------------------------------------------------

LLAMA_SERVER_DEFAULT = os.path.join(ROOT, "parity/.cache/llama-server/build/bin/llama-server")
_children = []  # every server process this script started; stopped on any exit


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def git_commit():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip()


def git_dirty():
    r = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                       text=True)
    return bool(r.stdout.strip())


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM if this script dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def stop_child(proc, timeout=30):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in _children:
        _children.remove(proc)


def stop_all_children():
    for p in list(_children):
        stop_child(p, timeout=10)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks, then atexit stops the children


class ForeignCpu:
    """CPU time (in cores) that processes other than this script and the given server used between start() and
    stop(): /proc/stat's busy time minus ours. On a shared machine a benchmark next to someone's compiler is not
    a benchmark; the table reports this so a contaminated run shows."""
    HZ = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _busy():
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(f[:3]) + sum(f[5:8]), sum(f[:8])  # user nice system + irq softirq steal; all but guest

    @classmethod
    def _proc(cls, pid):
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return sum(int(x) for x in f[11:15])  # utime stime cutime cstime
        except (OSError, IndexError):
            return 0

    def __init__(self, server):
        self.server = server

    def _ours(self):
        t = os.times()
        return (t.user + t.system) * self.HZ + self._proc(self.server.proc.pid)

    def start(self):
        self.t0, self.b0, self.o0 = time.monotonic(), self._busy()[0], self._ours()
        return self

    def stop(self):
        """Cores used by others on average (0 = quiet machine)."""
        dt = time.monotonic() - self.t0
        foreign = (self._busy()[0] - self.b0) - (self._ours() - self.o0)
        return max(0.0, foreign / self.HZ / dt) if dt > 0 else 0.0


def percentile(xs, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(q / 100 * len(xs)) - 1)]


def http_get(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def counting_prompt(k):
    """A ChatML counting task whose answer is already under way: the model keeps counting for hundreds of tokens
    instead of ending its turn, so worker-orcd (which has no ignore_eos) produces the tokens asked for."""
    a = 1 + 37 * k
    return (f"<|im_start|>user\nCount from {a} to {a + 900}, separated by commas.<|im_end|>\n"
            f"<|im_start|>assistant\n{a}, {a + 1}, {a + 2}, {a + 3},")


class Server:
    """One engine process on a free port, ready when its /health says so. start() retries on a new port if the
    process dies (e.g. someone took the port between free_port() and its bind)."""

    def __init__(self, kind, argv_for_port, logdir, label):
        self.kind, self.argv_for_port, self.logdir, self.label = kind, argv_for_port, logdir, label
        self.proc = self.port = self.log = None
        self.worker_id = str(uuid.uuid4())

    def start(self, timeout=300):
        for attempt in range(5):
            self.port = free_port()
            self.log = os.path.join(self.logdir, f"{self.label}-{attempt}.log")
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(self.argv_for_port(self.port, self.worker_id), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            _children.append(self.proc)
            t0 = time.time()
            while self.proc.poll() is None and time.time() - t0 < timeout:
                if self._ready():
                    self.ready_s = time.time() - t0
                    return self
                time.sleep(0.05)
            if self.proc.poll() is None:
                stop_child(self.proc)
                raise RuntimeError(f"{self.label} not ready after {timeout} s; log: {self.log}\n{self.log_tail()}")
            stop_child(self.proc)
            text = open(self.log, "rb").read().lower()
            if b"bind" not in text and b"address already in use" not in text:  # not a port clash: don't hide it
                break
        raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; log: {self.log}\n{self.log_tail()}")

    def memory_mib(self):
        """Resident memory of the process and its children (worker-orcd's chat template helper), in MiB: the sum
        of their RSS, and the sum of their PSS (each page shared by k processes counted 1/k in each: the helper
        maps the worker's own executable, whose pages RSS counts twice)."""
        def field(pid, path, key):
            try:
                for line in open(f"/proc/{pid}/{path}"):
                    if line.startswith(key):
                        return int(line.split()[1])
            except OSError:
                pass
            return 0

        def children(pid):
            out = []
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    out += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
            except OSError:
                pass
            return out

        pids, seen = [self.proc.pid], 0
        while seen < len(pids):
            pids += children(pids[seen])
            seen += 1
        return (sum(field(p, "status", "VmRSS:") for p in pids) / 1024,
                sum(field(p, "smaps_rollup", "Pss:") for p in pids) / 1024)

    def _ready(self):
        try:
            status, body = http_get(self.port, "/health", timeout=2)
        except OSError:
            return False
        if status != 200:
            return False
        if self.kind == "worker":  # the worker echoes our id: it is our process answering, not a stranger's
            h = json.loads(body)
            return h.get("worker_id") == self.worker_id and h.get("status") == "healthy"
        return True

    def log_tail(self, n=20):
        try:
            return "\n".join(open(self.log, errors="replace").read().splitlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_idle(self, timeout=120):
        """Until no job runs or waits (worker: /health busy/queued; llama-server: /slots is_processing)."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if not self.alive():
                raise RuntimeError(f"{self.label} died; log: {self.log}\n{self.log_tail()}")
            try:
                status, body = http_get(self.port, "/health" if self.kind == "worker" else "/slots")
            except OSError:
                status = 0
            if status == 200:
                j = json.loads(body)
                if self.kind == "worker":
                    if not j.get("busy") and not j.get("queued") and not j.get("running"):
                        return
                elif not any(s.get("is_processing") for s in j):
                    return
            elif self.kind == "llama" and status in (404, 501):  # no /slots: give it a moment
                time.sleep(0.5)
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.label} still busy after {timeout} s")

    def stop(self):
        if self.proc is not None:
            stop_child(self.proc)


class Client(threading.Thread):
    """One streaming request in its own thread and connection. Records t_sent, the arrival time of every token
    (only first/last/count are kept) and the prompt size the server reports."""

    def __init__(self, server, prompt, n_tokens, job_id, barrier=None, any_first=None):
        super().__init__(daemon=True)
        self.any_first = any_first  # an Event shared by a group of clients: set at the group's first token
        self.server, self.prompt, self.n_tokens, self.job_id, self.barrier = server, prompt, n_tokens, job_id, barrier
        self.t_sent = self.first = self.last = None
        self.count = 0
        self.prompt_tokens = None
        self.stop_reason = None
        self.error = None
        self.closing = False
        self.first_token = threading.Event()
        self.done = threading.Event()  # set when the stream is over, however it ended
        self.conn = None

    def request(self):
        if self.server.kind == "worker":
            return "/execute", {"job_id": self.job_id, "prompt": self.prompt, "max_tokens": self.n_tokens,
                                "temperature": 0}
        return "/completion", {"prompt": self.prompt, "n_predict": self.n_tokens, "stream": True, "temperature": 0,
                               "samplers": ["temperature"], "cache_prompt": False, "ignore_eos": True,
                               "return_tokens": True}

    def on_token(self, t):
        self.count += 1
        self.last = t
        if self.first is None:
            self.first = t
            self.first_token.set()
            if self.any_first is not None:
                self.any_first.set()

    def run(self):
        try:
            path, body = self.request()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=900)
            self.conn.connect()
            if self.barrier is not None:
                self.barrier.wait()
            self.t_sent = time.perf_counter()
            self.conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
            resp = self.conn.getresponse()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
            event, data = None, ""
            while True:
                line = resp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if line == "":
                    if data and self._on_event(event, json.loads(data), time.perf_counter()):
                        break
                    event, data = None, ""
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].lstrip(" ")
        except Exception as e:  # noqa: BLE001 -- recorded and raised by the caller, unless we closed it
            if not self.closing:
                self.error = f"{type(e).__name__}: {e}"
        finally:
            self.done.set()
            self.first_token.set()
            if self.conn is not None:
                self.conn.close()

    def _on_event(self, event, data, t):
        """Returns True at the terminal event."""
        if self.server.kind == "worker":
            if event == "started":
                self.prompt_tokens = data.get("prompt_tokens")
            elif event == "token":
                self.on_token(t)
            elif event == "end":
                self.stop_reason = data.get("stop_reason")
                return True
            elif event == "error":
                if not self.closing:
                    self.error = f"error event {data}"
                return True
            return False
        if "error" in data:
            self.error = f"error chunk {data['error']}"
            return True
        if data.get("stop"):
            self.stop_reason = data.get("stop_type")
            self.prompt_tokens = data.get("tokens_evaluated")
            return True
        if data.get("tokens"):  # one chunk per sampled token (return_tokens); prompt-progress chunks have none
            for _ in data["tokens"]:
                self.on_token(t)
        return False

    def close(self):
        """Drop the connection (both engines cancel a job whose client goes away)."""
        self.closing = True
        conn = self.conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def run_round(server, n, gen_tokens, tag):
    """N clients at once; returns (aggregate decode tok/s, [TTFT ms], [tokens received], [prompt tokens])."""
    barrier = threading.Barrier(n)
    clients = [Client(server, counting_prompt(i), gen_tokens, f"{tag}-{i}", barrier) for i in range(n)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(timeout=900)
    bad = [f"client {i}: {c.error or 'no tokens'}" for i, c in enumerate(clients) if c.error or not c.count]
    if bad:
        raise RuntimeError(f"{server.label}: " + "; ".join(bad) + f"\nlog: {server.log}\n{server.log_tail()}")
    window = max(c.last for c in clients) - min(c.first for c in clients)
    decoded = sum(c.count - 1 for c in clients)
    tps = decoded / window if window > 0 else float("nan")
    return tps, [(c.first - c.t_sent) * 1000 for c in clients], [c.count for c in clients], \
        [c.prompt_tokens for c in clients]


def ttft_under_load(server, long_tokens, busy_wait, tag):
    """One run: TTFT of the probe job alone, then its TTFT once 3 long jobs stream. Returns (idle ms, loaded ms,
    long jobs streaming when the probe was sent)."""
    probe = counting_prompt(3)
    server.wait_idle()
    c = Client(server, probe, 4, f"{tag}-idle")
    c.start()
    c.join(timeout=900)
    if c.error or not c.count:
        raise RuntimeError(f"{server.label}: idle probe: {c.error or 'no tokens'}")
    idle = (c.first - c.t_sent) * 1000

    server.wait_idle()
    any_first = threading.Event()
    longs = [Client(server, counting_prompt(i), long_tokens, f"{tag}-long-{i}", any_first=any_first)
             for i in range(3)]
    for x in longs:
        x.start()
    try:
        # whichever the server starts first (arrival order among the three is not fixed)
        t0 = time.perf_counter()
        while not any_first.wait(timeout=0.1):
            if all(x.done.is_set() for x in longs) or not server.alive() or time.perf_counter() - t0 > 300:
                break
        deadline = time.perf_counter() + busy_wait
        for x in longs:
            x.first_token.wait(timeout=max(0.0, deadline - time.perf_counter()))
        errors = [x.error for x in longs if x.error]
        if errors:
            raise RuntimeError(f"{server.label}: long job: {errors[0]}")
        # streaming now = has streamed and is not over (a one-job-at-a-time server has 1; the others queue)
        streaming = sum(1 for x in longs if x.first is not None and not x.done.is_set())
        if any(x.done.is_set() for x in longs):
            print(f"warning: {server.label}: a long job ended before the probe was sent; raise --long-tokens",
                  file=sys.stderr)
        c = Client(server, probe, 4, f"{tag}-loaded")
        c.start()
        c.join(timeout=900)
        if c.error or not c.count:
            raise RuntimeError(f"{server.label}: loaded probe: {c.error or 'no tokens'}")
        loaded = (c.first - c.t_sent) * 1000
    finally:
        for x in longs:
            x.close()
        for x in longs:
            x.join(timeout=60)
    return idle, loaded, streaming


def wait_quiet(server, limit, max_wait):
    """Until other processes use under `limit` cores over a 1 s window (at most max_wait seconds)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait:
        m = ForeignCpu(server).start()
        time.sleep(1.0)
        if m.stop() < limit:
            return True
    return False


def measured(server, args, foreign, label, fn):
    """fn() on a quiet machine: waits for quiet, measures what other processes used meanwhile, and reruns a round
    they disturbed (more than --max-other-load cores) up to --retries times. Appends the load kept to foreign."""
    for attempt in range(args.retries + 1):
        server.wait_idle()
        if args.max_other_load > 0 and not wait_quiet(server, args.max_other_load, args.quiet_wait):
            print(f"[{label}] machine not quiet after {args.quiet_wait} s; measuring anyway", file=sys.stderr)
        meter = ForeignCpu(server).start()
        out = fn()
        f = meter.stop()
        if args.max_other_load <= 0 or f <= args.max_other_load or attempt == args.retries:
            foreign.append(f)
            return out, f
        print(f"[{label}] other processes used {f:.2f} cores during the round; rerunning it", file=sys.stderr)


def worker_flags(binary):
    """The optional flags this worker-orcd build lists in --help: {"--parallel", "--no-prefix-cache"} or fewer."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    return {f for f in ("--parallel", "--no-prefix-cache") if f in out.split()}


def llama_server_version(binary):
    r = subprocess.run([binary, "--version"], capture_output=True, text=True)
    lines = (r.stdout + r.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def concurrency_bench(args):
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if not levels or min(levels) < 1:
        sys.exit("--concurrency wants a list of positive integers, e.g. 1,2,4,8,16")
    if 1 not in levels:
        levels = [1] + levels  # the scaling column needs N=1
    runs = args.runs or 3
    for path in (args.binary, args.model):
        if not os.path.exists(path):
            sys.exit(f"missing {path} (cargo build --release --locked; ./scripts/setup.sh)")
    llama = None if args.no_llama_server else (args.llama_server or
                                               (LLAMA_SERVER_DEFAULT if os.path.exists(LLAMA_SERVER_DEFAULT) else None))
    if llama and not os.access(llama, os.X_OK):
        sys.exit(f"llama-server {llama} is not executable")
    if not llama:
        print("no llama-server (parity/setup-llama-server.sh builds one): measuring worker-orcd only", file=sys.stderr)
    flags = worker_flags(args.binary)
    parallel_flag = "--parallel" in flags
    logdir = args.log_dir or tempfile.mkdtemp(prefix="bench-http-")
    os.makedirs(logdir, exist_ok=True)
    ctx = args.ctx

    def worker_argv(n):
        def argv(port, wid):
            a = [args.binary, "--worker-id", wid, "--model", args.model, "--device", "cpu", "--port", str(port),
                 "--threads", str(args.threads), "--ctx-size", str(ctx), "--queue-depth", str(max(16, n + 4))]
            if parallel_flag:
                a += ["--parallel", str(n)]
            if "--no-prefix-cache" in flags:  # llama-server gets cache_prompt: false; rounds repeat prompts
                a += ["--no-prefix-cache"]
            return a
        return argv

    def llama_argv(n):
        def argv(port, _wid):
            return [llama, "-m", args.model, "--host", "127.0.0.1", "--port", str(port), "-t", str(args.threads),
                    "-tb", str(args.threads), "-np", str(n), "-cb", "-c", str(n * ctx), "-fa", "off",
                    "--cache-ram", "0", "-fit", "off", "--threads-http", str(n + 4)]
        return argv

    engines = [("worker", "worker-orcd", worker_argv)] + ([("llama", "llama-server", llama_argv)] if llama else [])
    results = {}  # (kind, n) -> dict
    footprint = {}  # (kind, n) -> (start to ready in s, RSS and PSS MiB after the warm-up job)
    load = {}
    foreign = []  # cores used by other processes, per measured round
    for n in levels:
        for kind, name, argv in engines:
            label = f"{name}-np{n}"
            print(f"[{label}] starting", file=sys.stderr)
            srv = Server(kind, argv(n), logdir, label).start()
            try:
                srv.wait_idle()
                if kind == "worker":  # what the worker says it runs with, where its /health says it
                    h = json.loads(http_get(srv.port, "/health")[1])
                    print(f"[{label}] ready: " + ", ".join(f"{k}={h[k]}" for k in
                          ("threads", "context_length", "parallel", "batch_tokens", "kv_cache_tokens_total",
                           "prefix_cache") if k in h), file=sys.stderr)
                warm = Client(srv, counting_prompt(99), 16, f"warm-{n}")
                warm.start()
                warm.join(timeout=300)
                if warm.error:
                    raise RuntimeError(f"{label}: warm-up: {warm.error}\n{srv.log_tail()}")
                footprint[(kind, n)] = (srv.ready_s, *srv.memory_mib())
                tps, ttft, counts, ptoks = [], [], [], set()
                for r in range(runs):
                    (t, tt, cs, pt), f = measured(srv, args, foreign, label,
                                                  lambda: run_round(srv, n, args.gen_tokens, f"c{n}-r{r}"))
                    tps.append(t)
                    ttft += tt
                    counts += cs
                    ptoks.update(pt)
                    print(f"[{label}] round {r + 1}/{runs}: {t:.1f} tok/s aggregate, TTFT median "
                          f"{statistics.median(tt):.0f} ms, tokens/stream {min(cs)}-{max(cs)}, other processes "
                          f"{f:.2f} cores", file=sys.stderr)
                results[(kind, n)] = {"tps": statistics.median(tps), "ttft_med": statistics.median(ttft),
                                      "ttft_p95": percentile(ttft, 95), "tok_min": min(counts),
                                      "tok_max": max(counts), "prompt": sorted(p for p in ptoks if p is not None)}
            finally:
                srv.stop()
    if not args.no_load_ttft:
        for kind, name, argv in engines:
            label = f"{name}-np4-load"
            print(f"[{label}] starting", file=sys.stderr)
            srv = Server(kind, argv(4), logdir, label).start()
            try:
                srv.wait_idle()
                warm = Client(srv, counting_prompt(99), 16, "warm-load")
                warm.start()
                warm.join(timeout=300)
                if warm.error:
                    raise RuntimeError(f"{label}: warm-up: {warm.error}\n{srv.log_tail()}")
                idle, loaded, streaming = [], [], []
                for r in range(runs):
                    (i, l, k), f = measured(srv, args, foreign, label, lambda: ttft_under_load(
                        srv, args.long_tokens, args.busy_wait, f"load-r{r}"))
                    idle.append(i)
                    loaded.append(l)
                    streaming.append(k)
                    print(f"[{label}] run {r + 1}/{runs}: idle {i:.0f} ms, while 3 decode {l:.0f} ms ({k}/3 "
                          f"streaming), other processes {f:.2f} cores", file=sys.stderr)
                load[kind] = (statistics.median(idle), statistics.median(loaded), min(streaming), max(streaming))
            finally:
                srv.stop()

    names = {k: nm for k, nm, _ in engines}
    commit = git_commit() + (" (+ uncommitted changes)" if git_dirty() else "")
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {args.threads} threads; date: "
          f"{time.strftime('%Y-%m-%d %H:%M')}; commit: {commit}; model: {os.path.basename(args.model)}; "
          f"runs: {runs}; tokens asked per stream: {args.gen_tokens}; context per slot: {ctx}")
    wflags = (["--parallel N"] if parallel_flag else ["no --parallel flag: one job at a time"]) + \
        (["--no-prefix-cache"] if "--no-prefix-cache" in flags else [])
    print(f"worker-orcd: {args.binary} (--ctx-size {ctx}, {', '.join(wflags)}); /execute with temperature 0")
    if llama:
        print(f"llama-server: {llama} ({llama_server_version(llama)}); -np N -cb -c N*{ctx} -fa off --cache-ram 0 "
              f"-fit off; /completion with ignore_eos, cache_prompt false, samplers [temperature], temperature 0")
    quiet = max(foreign) <= max(args.max_other_load, 0.1) if foreign else True
    print(f"other processes during the measurements: median {statistics.median(foreign):.2f}, max "
          f"{max(foreign):.2f} cores{'' if quiet else ' -- WARNING: the machine was not quiet, numbers are disturbed'}"
          if foreign else "")
    print()
    print("| N | engine | aggregate decode tok/s | vs N=1 | TTFT median (ms) | TTFT p95 (ms) | tokens/stream "
          "| prompt tokens |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for n in levels:
        for kind, name, _ in engines:
            r = results[(kind, n)]
            base = results[(kind, 1)]["tps"]
            toks = f"{r['tok_min']}" if r["tok_min"] == r["tok_max"] else f"{r['tok_min']}–{r['tok_max']}"
            pr = ", ".join(str(p) for p in r["prompt"]) if len(r["prompt"]) <= 3 else \
                f"{r['prompt'][0]}–{r['prompt'][-1]}"
            print(f"| {n} | {name} | {r['tps']:.1f} | {r['tps'] / base:.2f} | {r['ttft_med']:.0f} | "
                  f"{r['ttft_p95']:.0f} | {toks} | {pr} |")
    if llama:
        print()
        print("| N | worker-orcd / llama-server, aggregate decode (> 1: worker faster) "
              "| worker-orcd / llama-server, TTFT median (< 1: worker faster) |")
        print("| ---: | ---: | ---: |")
        for n in levels:
            w, l = results[("worker", n)], results[("llama", n)]
            print(f"| {n} | {w['tps'] / l['tps']:.2f} | {w['ttft_med'] / l['ttft_med']:.2f} |")
    print()
    print(f"| N | engine | start to ready (s) | resident memory after one job, RSS (MiB) | PSS (MiB) |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for n in levels:
        for kind, name, _ in engines:
            ready, rss, pss = footprint[(kind, n)]
            print(f"| {n} | {name} | {ready:.2f} | {rss:.1f} | {pss:.1f} |")
    if load:
        print()
        print(f"| engine (4 slots) | TTFT idle (ms) | TTFT while 3 jobs decode (ms) | loaded / idle | "
              f"long jobs streaming when sent |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for kind, (idle, loaded, smin, smax) in load.items():
            s = f"{smin}/3" if smin == smax else f"{smin}–{smax}/3"
            print(f"| {names[kind]} | {idle:.0f} | {loaded:.0f} | {loaded / idle:.1f} | {s} |")
    print(f"\nserver logs: {logdir}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/worker-orcd"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=None, help="rounds per measurement (default 5; 3 with --concurrency)")
    ap.add_argument("--endpoint", choices=("execute", "chat", "both"), default="execute",
                    help="single-job mode: drive /execute (default), /v1/chat/completions, or both alternating "
                    "with the figures side by side")
    ap.add_argument("--concurrency", metavar="N,N,...", help="concurrency mode: worker-orcd next to llama-server")
    ap.add_argument("--llama-server", metavar="PATH", help=f"llama-server binary (default {LLAMA_SERVER_DEFAULT} "
                    "when it exists)")
    ap.add_argument("--no-llama-server", action="store_true", help="concurrency mode without llama-server")
    ap.add_argument("--gen-tokens", type=int, default=128, help="tokens asked per stream (default 128)")
    ap.add_argument("--ctx", type=int, default=2048, help="context per slot / job (default 2048)")
    ap.add_argument("--long-tokens", type=int, default=512, help="tokens of each long job in the TTFT-under-load "
                    "measurement (default 512)")
    ap.add_argument("--busy-wait", type=float, default=1.0, help="TTFT under load: seconds to wait, after the first "
                    "long job streams, for the other two to stream (default 1)")
    ap.add_argument("--no-load-ttft", action="store_true", help="skip the TTFT-under-load measurement")
    ap.add_argument("--max-other-load", type=float, default=0.1, help="cores other processes may use during a round "
                    "before it is rerun; before each round, wait until they use less (default 0.1; 0: no check)")
    ap.add_argument("--quiet-wait", type=float, default=300, help="seconds to wait for a quiet machine before a "
                    "round (default 300)")
    ap.add_argument("--retries", type=int, default=3, help="reruns of a disturbed round (default 3)")
    ap.add_argument("--log-dir", help="where the servers' logs go (default: a new temporary folder)")
    args = ap.parse_args()
    if args.concurrency:
        atexit.register(stop_all_children)
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGHUP, _on_signal)
        try:
            concurrency_bench(args)
        finally:
            stop_all_children()
    else:
        args.runs = args.runs or 5
        single_job_bench(args)


if __name__ == "__main__":
    main()
