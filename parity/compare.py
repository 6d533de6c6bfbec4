#!/usr/bin/env python3
"""Compares worker-orcd logit logs with llama.cpp reference dumps (format: .specs/parity.md).
Standard library only, so CI needs no numpy.

  compare.py logits REF.jsonl OURS.jsonl [--min-top1 0.98] [--max-mean-abs 0.1] [--max-kl 0.01] [--margin 0.2] [--json]
  compare.py greedy REF.jsonl REF.meta.json OURS_GENERATE_LOG.jsonl [--margin 0.2] [--strict] [--json]

`logits` reports, aligned by position (tokens must match): top-1 agreement, every disagreement
with the reference's top-2 margin there, mean and max |delta logit| over ids in both top lists,
and mean KL(reference || ours) over the reference's top ids (p and q from each side's own
logsumexp; an id missing from our list takes our smallest listed logit). It exits 1 when a
threshold is given and violated, or when a top-1 disagreement sits where the reference margin
is >= --margin.

`greedy` checks that our greedy continuation (the top-1 of each line of a `generate
--logit-log` run from the prompt position on) equals llama.cpp's continuation from the meta
file, up to the first step where the reference's top-2 margin is below --margin (a near-tie,
where either choice is legitimate) or an end-of-generation token. With --strict, near-ties
are not excused: the whole continuation must be equal up to its end-of-generation token.

`greedy --follow-batch` is the check for a batch-invariant engine, whose decoded tokens are
computed exactly as llama.cpp computes a batch: each of our tokens must be the top-1 of the
reference's teacher-forced (batch) logits at that step, and our logits there must equal them
(mean |delta| <= --max-mean-abs over shared top ids), up to the first step where llama.cpp's own
decoded continuation departs from its batch logits. llama.cpp's decode and batch paths round
differently, so that may happen: at a near-tie of the batch logits (margin < --margin), or, when
the meta file has the decode path's own margins (`continuation_decode_margins`), anywhere: its
repacked Q4_K kernels differ between one row and a batch by more than a near-tie (Gemma 3 270M,
`.specs/parity.md`), and the check then ends there, saying so.
"""
import argparse
import json
import math
import sys


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def margin(line):
    top = line["top"]
    return top[0][1] - top[1][1] if len(top) > 1 else math.inf


def compare_logits(ref, ours, margin_limit):
    if len(ref) != len(ours):
        raise SystemExit(f"position count differs: reference {len(ref)}, ours {len(ours)}")
    agree, disagreements = 0, []
    abs_sum, abs_n, abs_max, kl_sum = 0.0, 0, 0.0, 0.0
    for r, o in zip(ref, ours):
        if r["pos"] != o["pos"] or r["token"] != o["token"]:
            raise SystemExit(f"misaligned at reference pos {r['pos']}: token {r['token']} vs ours pos {o['pos']} token {o['token']}")
        if r["top"][0][0] == o["top"][0][0]:
            agree += 1
        else:
            disagreements.append({"pos": r["pos"], "ref_top1": r["top"][0][0], "our_top1": o["top"][0][0],
                                  "ref_margin": round(margin(r), 6)})
        ours_by_id = {i: v for i, v in o["top"]}
        floor = min(ours_by_id.values())
        for i, v in r["top"]:
            if i in ours_by_id:
                d = abs(v - ours_by_id[i])
                abs_sum += d
                abs_n += 1
                abs_max = max(abs_max, d)
        kl = 0.0
        for i, v in r["top"]:
            lp = v - r["logsumexp"]
            lq = ours_by_id.get(i, floor) - o["logsumexp"]
            kl += math.exp(lp) * (lp - lq)
        kl_sum += kl
    n = len(ref)
    return {
        "positions": n,
        "top1_agreement": agree / n,
        "disagreements": disagreements,
        "bad_disagreements": [d for d in disagreements if d["ref_margin"] >= margin_limit],
        "mean_abs_dlogit": abs_sum / max(abs_n, 1),
        "max_abs_dlogit": abs_max,
        "mean_kl": kl_sum / n,
    }


def compare_greedy(ref, meta, ours, margin_limit, eog, strict):
    n_prompt = meta["n_prompt"]
    ref_cont = meta["continuation"]
    # our choice after position p is the top-1 of our line at p
    our_cont = [l["top"][0][0] for l in ours if l["pos"] >= n_prompt - 1]
    checked, stop = 0, "end"
    for k, want in enumerate(ref_cont):
        if not strict and margin(ref[n_prompt - 1 + k]) < margin_limit:
            stop = f"near-tie at step {k} (reference margin {margin(ref[n_prompt - 1 + k]):.4f})"
            break
        if k >= len(our_cont):
            return {"ok": False, "checked": checked, "reason": f"ours stopped after {len(our_cont)} tokens, reference continues with {want}"}
        if our_cont[k] != want:
            return {"ok": False, "checked": checked, "reason": f"step {k}: ours {our_cont[k]}, reference {want}"}
        checked += 1
        if want in eog:
            stop = f"end-of-generation token at step {k}"
            break
    return {"ok": True, "checked": checked, "stopped_by": stop}


def follow_batch(ref, meta, ours, margin_limit, eog, max_mean_abs):
    n_prompt = meta["n_prompt"]
    ref_cont = meta["continuation"]
    decode_margins = meta.get("continuation_decode_margins")  # the decode path's own top-2 margins, when dumped
    ours_at = {l["pos"]: l for l in ours}
    checked, stop, abs_sum, abs_n = 0, "end", 0.0, 0
    for k, want in enumerate(ref_cont):
        pos = n_prompt - 1 + k
        r, o = ref[pos], ours_at.get(pos)
        if o is None:
            return {"ok": False, "checked": checked, "reason": f"ours has no line at position {pos}"}
        if k > 0 and o["token"] != ref_cont[k - 1]:
            return {"ok": False, "checked": checked, "reason": f"position {pos}: our input token {o['token']}, reference {ref_cont[k - 1]}"}
        ref_by_id = {i: v for i, v in r["top"]}
        for i, v in o["top"]:
            if i in ref_by_id:
                abs_sum += abs(v - ref_by_id[i])
                abs_n += 1
        ours_top, batch_top = o["top"][0][0], r["top"][0][0]
        if ours_top != batch_top:
            return {"ok": False, "checked": checked, "reason": f"step {k}: ours {ours_top}, llama.cpp's batch logits {batch_top}"}
        checked += 1
        if ours_top != want:
            if margin(r) < margin_limit:
                stop = f"llama.cpp's decode path departs from its batch path at step {k} (margin {margin(r):.4f})"
                break
            if decode_margins is None:
                return {"ok": False, "checked": checked,
                        "reason": f"step {k}: llama.cpp decoded {want} but its batch top-1 is {batch_top} at margin {margin(r):.4f}"}
            # Neither is a near-tie, yet llama.cpp's two paths pick different tokens: ours is the
            # batch path's (batch invariance), so the check ends where llama.cpp disagrees with itself.
            stop = (f"llama.cpp disagrees with itself at step {k}: its batch logits pick {batch_top} (margin {margin(r):.4f}), "
                    f"its decode path {want} (margin {decode_margins[k]:.4f})")
            break
        if want in eog:
            stop = f"end-of-generation token at step {k}"
            break
    mean_abs = abs_sum / max(abs_n, 1)
    if max_mean_abs is not None and mean_abs > max_mean_abs:
        return {"ok": False, "checked": checked, "reason": f"mean |dlogit| {mean_abs:.6f} > {max_mean_abs} over the checked steps"}
    return {"ok": True, "checked": checked, "stopped_by": stop, "mean_abs_dlogit": mean_abs}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("logits")
    a.add_argument("ref")
    a.add_argument("ours")
    a.add_argument("--min-top1", type=float)
    a.add_argument("--max-mean-abs", type=float)
    a.add_argument("--max-kl", type=float)
    a.add_argument("--margin", type=float, default=0.2)
    a.add_argument("--json", action="store_true")
    g = sub.add_parser("greedy")
    g.add_argument("ref")
    g.add_argument("meta")
    g.add_argument("ours")
    g.add_argument("--margin", type=float, default=0.2)
    g.add_argument("--eog", default="0,2", help="end-of-generation ids (default: SmolLM2's)")
    g.add_argument("--strict", action="store_true", help="no near-tie excuse: the whole continuation must match")
    g.add_argument("--follow-batch", action="store_true", help="ours follows llama.cpp's batch logits (see above)")
    g.add_argument("--max-mean-abs", type=float, help="with --follow-batch: bound on mean |dlogit| over the checked steps")
    g.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if args.cmd == "greedy":
        eog = {int(x) for x in args.eog.split(",") if x}
        ref, meta, ours = read_jsonl(args.ref), json.load(open(args.meta)), read_jsonl(args.ours)
        if args.follow_batch:
            res = follow_batch(ref, meta, ours, args.margin, eog, args.max_mean_abs)
        else:
            res = compare_greedy(ref, meta, ours, args.margin, eog, args.strict)
        extra = f", mean |dlogit| {res['mean_abs_dlogit']:.6f}" if res.get("mean_abs_dlogit") is not None else ""
        print(json.dumps(res) if args.json else
              (f"greedy: {res['checked']} tokens equal, stopped by {res['stopped_by']}{extra}" if res["ok"] else f"greedy MISMATCH: {res['reason']}"))
        sys.exit(0 if res["ok"] else 1)

    res = compare_logits(read_jsonl(args.ref), read_jsonl(args.ours), args.margin)
    failures = []
    if args.min_top1 is not None and res["top1_agreement"] < args.min_top1:
        failures.append(f"top-1 agreement {res['top1_agreement']:.4f} < {args.min_top1}")
    if args.max_mean_abs is not None and res["mean_abs_dlogit"] > args.max_mean_abs:
        failures.append(f"mean |dlogit| {res['mean_abs_dlogit']:.6f} > {args.max_mean_abs}")
    if args.max_kl is not None and res["mean_kl"] > args.max_kl:
        failures.append(f"mean KL {res['mean_kl']:.3g} > {args.max_kl}")
    if res["bad_disagreements"]:
        failures.append(f"top-1 disagreements where the reference margin is >= {args.margin}: {res['bad_disagreements']}")
    res["failures"] = failures
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{args.ours}: {res['positions']} positions, top-1 {100 * res['top1_agreement']:.2f}%, "
              f"mean |dlogit| {res['mean_abs_dlogit']:.6f}, max {res['max_abs_dlogit']:.6f}, mean KL {res['mean_kl']:.3g}")
        for d in res["disagreements"]:
            print(f"  pos {d['pos']}: reference {d['ref_top1']}, ours {d['our_top1']}, reference margin {d['ref_margin']}")
        for f in failures:
            print(f"  FAIL: {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
