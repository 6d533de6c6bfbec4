#!/usr/bin/env python3
"""Soak test: many clients for a while against one real worker, with faults, then checks that nothing was lost.
Standard library only.

  scripts/soak.py [--seconds 60] [--clients 8] [--binary target/debug/worker-orcd] [--model M.gguf] [--seed 1]
                  [--json out.json]

Starts the worker on the CPU (`--parallel 4 --queue-depth 64 --api-key ...`), warms it up, then runs --clients
threads until the time is up. Each client repeatedly picks, with a seeded RNG, one of:
  execute_prompt / execute_messages (greedy or seeded), chat (OpenAI, streamed or not), completion (OpenAI),
  cancel (start a stream, POST /cancel after its first token), disconnect (close the stream after 2 tokens),
  slow_reader (sleep between reads), invalid (a bad field: 400), oversized (2 MiB body: 413), wrong_key (401),
  health and metrics scrapes.
At 90 % of the time the clients stop and the counters are compared; a fresh set of clients then starts and the
worker gets SIGTERM under their load; from then on requests may be refused (503, connection refused) and running
jobs end.

Checks (exit 1 with the list of violations):
  - every stream the worker accepted (200) and the client read to its end got exactly one terminal event
    (`end` / `error` for /execute, `[DONE]` after a finish or an error chunk for OpenAI), and after SIGTERM each
    ended with `end` or `CANCELLED`;
  - every status is one the contracts document (200, 400, 401, 404, 409, 413, 503);
  - the worker's counters add up to what the clients saw in the measured phase (the clients stop, their jobs end,
    /metrics is read; a second population of clients then runs into the SIGTERM): worker_requests_total
    {rejected_invalid, rejected_too_large, rejected_unauthorized} equal the 400s, 413s and 401s seen; completed +
    cancelled + the error outcomes equal the accepted jobs; completed lies between the `end`s seen and that plus
    the streams the clients walked away from;
  - resident memory (VmRSS) grew by less than 2 % between the end of warm-up and SIGTERM;
  - /health answered 200 with running <= parallel on every scrape before SIGTERM;
  - after SIGTERM the process exits 0 within --shutdown-timeout-sec + 10 s.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "soak-key"
PARALLEL = 4
DOCUMENTED = {200, 400, 401, 404, 409, 413, 503}
CHAT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n"
        "<|im_start|>assistant\n")
TOPICS = ["the sea", "a cat", "GPUs", "rain", "bread", "a bicycle", "the moon", "winter"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Tally:
    """What the clients saw, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.violations = []
        self.statuses = {}

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def status(self, s):
        with self.lock:
            self.statuses[s] = self.statuses.get(s, 0) + 1

    def violate(self, what):
        with self.lock:
            if len(self.violations) < 50:
                self.violations.append(what)


class Soak:
    def __init__(self, args):
        self.args = args
        self.port = free_port()
        self.tally = Tally()
        self.stop = threading.Event()
        self.terminated = threading.Event()
        self.health_ok = True

    # --- the worker -----------------------------------------------------------------------------------------
    def start(self):
        cmd = [self.args.binary, "--worker-id", str(uuid.uuid4()), "--model", self.args.model, "--device", "cpu",
               "--port", str(self.port), "--parallel", str(PARALLEL), "--queue-depth", "64", "--api-key", KEY,
               "--ctx-size", "1024", "--max-tokens-out", "256", "--served-model-name", "soak", "--shutdown-timeout-sec", str(self.args.shutdown_timeout)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.args.log, "w"))
        t0 = time.time()
        while time.time() - t0 < 120:
            try:
                status, _ = self.request("GET", "/health", None, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("worker not healthy after 120 s")

    def request(self, method, path, body, timeout=120, key=KEY, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, data, headers)
        r = conn.getresponse()
        out = r.read()
        conn.close()
        return r.status, out

    def open_stream(self, path, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json", "authorization": f"Bearer {KEY}"})
        return conn, conn.getresponse()

    def metrics(self):
        status, body = self.request("GET", "/metrics", None, timeout=10)
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("worker_requests_total{"):
                label = line.split('outcome="')[1].split('"')[0]
                out[label] = int(float(line.rsplit(" ", 1)[1]))
        return out

    # --- reading streams ------------------------------------------------------------------------------------
    @staticmethod
    def execute_events(resp, limit=None, pause=0.0):
        """(events, terminal names) of an /execute stream; stops after `limit` token events."""
        events, name, tokens = [], None, 0
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name:
                events.append((name, json.loads(line[5:])))
                if name == "token":
                    tokens += 1
                    if pause:
                        time.sleep(pause)
                    if limit is not None and tokens >= limit:
                        return events, False
                if name in ("end", "error"):
                    return events, True
                name = None
        return events, False

    @staticmethod
    def openai_chunks(resp):
        chunks = []
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                data = line[6:]
                if data == "[DONE]":
                    return chunks, True
                chunks.append(json.loads(data))
        return chunks, False

    def check_execute(self, events, complete, what):
        if not complete:
            if not self.terminated.is_set():
                self.tally.violate(f"{what}: stream ended without a terminal event: {events[-3:]}")
            return
        terminals = [e for e in events if e[0] in ("end", "error")]
        if len(terminals) != 1:
            self.tally.violate(f"{what}: {len(terminals)} terminal events")
            return
        kind, data = terminals[0]
        if kind == "end":
            self.tally.add("seen_end")
        else:
            self.tally.add(f"seen_error_{data['code'].lower()}")
            if self.terminated.is_set() and data["code"] != "CANCELLED":
                self.tally.violate(f"{what}: after SIGTERM a job ended with {data}")
            elif not self.terminated.is_set() and data["code"] not in ("CANCELLED",):
                self.tally.violate(f"{what}: job failed: {data}")

    # --- client actions -------------------------------------------------------------------------------------
    def job_body(self, rng, job_id, messages=False):
        body = {"job_id": job_id, "max_tokens": rng.choice([4, 16, 48])}
        topic = rng.choice(TOPICS)
        if messages:
            body["messages"] = [{"role": "user", "content": f"Write one sentence about {topic}."}]
        else:
            body["prompt"] = CHAT.format(f"Write one sentence about {topic}.")
        if rng.random() < 0.5:
            body["temperature"] = 0
        else:
            body.update(temperature=0.8, seed=rng.randrange(1 << 32))
        return body

    def stream_execute(self, rng, cid, n, limit=None, pause=0.0, cancel=False):
        job_id = f"soak-{cid}-{n}"
        conn, resp = self.open_stream("/execute", self.job_body(rng, job_id, messages=rng.random() < 0.5))
        self.tally.status(resp.status)
        if resp.status != 200:
            resp.read()
            conn.close()
            return resp.status
        self.tally.add("accepted")
        if cancel:
            events, complete = self.execute_events(resp, limit=1)
            if not complete:
                self.request("POST", "/cancel", {"job_id": job_id})
                more, complete = self.execute_events(resp)
                events += more
            self.check_execute(events, complete, f"cancel {job_id}")
        elif limit is not None:
            events, complete = self.execute_events(resp, limit=limit)
            if complete:
                self.check_execute(events, complete, f"disconnect {job_id}")
            else:
                self.tally.add("disconnected")
                conn.sock.shutdown(socket.SHUT_RDWR)
        else:
            events, complete = self.execute_events(resp, pause=pause)
            self.check_execute(events, complete, f"execute {job_id}")
        conn.close()
        return 200

    def openai(self, rng, chat):
        stream = rng.random() < 0.5
        body = {"model": "soak", "max_tokens": rng.choice([4, 16]), "temperature": 0}
        text = f"Write one sentence about {rng.choice(TOPICS)}."
        path = "/v1/chat/completions" if chat else "/v1/completions"
        if chat:
            body["messages"] = [{"role": "user", "content": text}]
        else:
            body["prompt"] = CHAT.format(text)
        if stream:
            body["stream"] = True
            conn, resp = self.open_stream(path, body)
            self.tally.status(resp.status)
            if resp.status == 200:
                self.tally.add("accepted")
                chunks, done = self.openai_chunks(resp)
                finishes = [c for c in chunks if c.get("choices") and c["choices"][0].get("finish_reason")]
                errors = [c for c in chunks if "error" in c]
                if done and len(finishes) + len(errors) == 1:
                    self.tally.add("seen_end" if finishes else "seen_error_" + errors[0]["error"]["code"])
                    if errors and (not self.terminated.is_set() or errors[0]["error"]["code"] != "cancelled"):
                        self.tally.violate(f"openai stream failed: {errors[0]}")
                elif not self.terminated.is_set():
                    self.tally.violate(f"openai stream: done={done}, {len(finishes)} finishes, {len(errors)} errors")
            else:
                resp.read()
            conn.close()
            return
        status, out = self.request("POST", path, body)
        self.tally.status(status)
        if status == 200:
            self.tally.add("accepted")
            self.tally.add("seen_end")
        elif (status, json.loads(out)["error"]["code"]) in ((500, "cancelled"), (503, "shutting_down")) and self.terminated.is_set():
            self.tally.add("accepted")
            self.tally.add("seen_error_cancelled")

    def client(self, cid):
        rng = random.Random(self.args.seed * 1000 + cid)
        n = 0
        actions = [("execute", 30), ("openai_chat", 10), ("openai_completion", 6), ("cancel", 8), ("disconnect", 8),
                   ("slow_reader", 4), ("invalid", 8), ("oversized", 2), ("wrong_key", 3), ("health", 10), ("metrics", 5)]
        names = [a for a, _ in actions]
        weights = [w for _, w in actions]
        while not self.stop.is_set():
            action = rng.choices(names, weights)[0]
            n += 1
            self.tally.add(f"action_{action}")
            try:
                self.act(action, rng, cid, n)
            except (ConnectionError, OSError, http.client.HTTPException) as e:
                if not self.terminated.is_set():
                    self.tally.violate(f"client {cid} {action}: {type(e).__name__}: {e}")
                else:
                    time.sleep(0.05)

    def act(self, action, rng, cid, n):
        if action == "execute":
            self.stream_execute(rng, cid, n)
        elif action == "openai_chat":
            self.openai(rng, chat=True)
        elif action == "openai_completion":
            self.openai(rng, chat=False)
        elif action == "cancel":
            self.stream_execute(rng, cid, n, cancel=True)
        elif action == "disconnect":
            self.stream_execute(rng, cid, n, limit=2)
        elif action == "slow_reader":
            self.stream_execute(rng, cid, n, pause=0.05)
        elif action == "invalid":
            body = {"job_id": f"bad-{cid}-{n}", "prompt": "x", rng.choice(["temperature", "top_p", "max_tokens"]): -5}
            status, _ = self.request("POST", "/execute", body)
            self.tally.status(status)
            self.tally.add("seen_400" if status == 400 else "seen_other")
        elif action == "oversized":
            status, _ = self.request("POST", "/execute", None, raw=b'{"job_id":"big","prompt":"' + b"x" * (2 << 20) + b'"}')
            self.tally.status(status)
            self.tally.add("seen_413" if status == 413 else "seen_other")
        elif action == "wrong_key":
            status, _ = self.request("POST", "/execute", {"job_id": "k", "prompt": "x"}, key="wrong")
            self.tally.status(status)
            self.tally.add("seen_401" if status == 401 else "seen_other")
        elif action == "health":
            status, out = self.request("GET", "/health", None, timeout=10)
            if not self.terminated.is_set():
                h = json.loads(out)
                if status != 200 or h["running"] > PARALLEL or h["queued"] < 0:
                    self.tally.violate(f"/health dishonest: {status} {h}")
        elif action == "metrics":
            status, _ = self.request("GET", "/metrics", None, timeout=10)
            if status != 200:
                self.tally.violate(f"/metrics answered {status}")

    # --- the run --------------------------------------------------------------------------------------------
    def run(self):
        self.start()
        warm = min(20.0, self.args.seconds * 0.25)
        threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(self.args.clients)]
        t0 = time.time()
        for t in threads:
            t.start()
        time.sleep(warm)
        rss_warm = rss_bytes(self.proc.pid)
        time.sleep(max(0.0, self.args.seconds * 0.9 - warm))
        # Quiesce the counters: stop the clients, let their last jobs end, compare, then SIGTERM under new load.
        self.stop.set()
        for t in threads:
            t.join(timeout=120)
        rss_end = rss_bytes(self.proc.pid)
        before = self.metrics()
        measured = self.tally
        self.tally = Tally()
        self.tally.violations = measured.violations
        self.stop.clear()
        threads = [threading.Thread(target=self.client, args=(100 + i,), daemon=True) for i in range(self.args.clients)]
        for t in threads:
            t.start()
        time.sleep(min(3.0, self.args.seconds * 0.1))
        self.terminated.set()
        self.proc.send_signal(signal.SIGTERM)
        t_term = time.time()
        try:
            code = self.proc.wait(timeout=self.args.shutdown_timeout + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = None
        exit_s = time.time() - t_term
        self.stop.set()
        for t in threads:
            t.join(timeout=30)
        return self.report(measured, before, rss_warm, rss_end, code, exit_s, time.time() - t0)

    def report(self, measured, m, rss_warm, rss_end, code, exit_s, wall):
        """Checks the measured phase's counts against the worker's counters read right after it."""
        c = measured.counts
        v = measured.violations
        for tally in (measured, self.tally):
            for s, n in tally.statuses.items():
                if s not in DOCUMENTED:
                    v.append(f"undocumented status {s} ({n} times)")
        for outcome, seen in (("rejected_invalid", "seen_400"), ("rejected_too_large", "seen_413"),
                              ("rejected_unauthorized", "seen_401")):
            if m.get(outcome, 0) != c.get(seen, 0):
                v.append(f"worker counted {outcome} = {m.get(outcome, 0)}, clients saw {c.get(seen, 0)}")
        if c.get("seen_other"):
            v.append(f"{c['seen_other']} refusals had an unexpected status")
        ended = sum(m.get(k, 0) for k in ("completed", "cancelled", "inference_timeout", "internal", "out_of_memory",
                                          "context_length_exceeded"))
        if ended != c.get("accepted", 0):
            v.append(f"the worker ended {ended} jobs, clients had {c.get('accepted', 0)} accepted")
        completed, seen_end, gone = m.get("completed", 0), c.get("seen_end", 0), c.get("disconnected", 0)
        if not seen_end <= completed <= seen_end + gone:
            v.append(f"completed {completed} is not within [{seen_end}, {seen_end + gone}] (ends seen, + disconnects)")
        growth = 100.0 * (rss_end - rss_warm) / max(rss_warm, 1)
        if growth >= 2.0:
            v.append(f"RSS grew {growth:.2f} % after warm-up ({rss_warm} -> {rss_end} bytes)")
        if code != 0:
            v.append(f"exit status after SIGTERM: {code} after {exit_s:.1f} s")
        return {
            "seconds": round(wall, 1), "clients": self.args.clients,
            "measured_phase": {"statuses": measured.statuses, "client_counts": c, "worker_outcomes": m},
            "sigterm_phase": {"statuses": self.tally.statuses, "client_counts": self.tally.counts},
            "rss_warm_bytes": rss_warm, "rss_end_bytes": rss_end, "rss_growth_pct": round(growth, 3),
            "exit_code": code, "exit_seconds": round(exit_s, 2), "violations": v,
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/debug/worker-orcd"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shutdown-timeout", type=int, default=30)
    ap.add_argument("--log", default="/tmp/soak-worker.log")
    ap.add_argument("--json")
    args = ap.parse_args()
    result = Soak(args).run()
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if not result["violations"] else 1


if __name__ == "__main__":
    sys.exit(main())
