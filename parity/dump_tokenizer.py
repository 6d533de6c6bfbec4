#!/usr/bin/env python3
"""Dumps llama.cpp's tokenization of the conformance strings, for tests/tokenizer_conformance.rs.

For every case in --cases and both settings of special-token parsing: the ids llama.cpp gives
(BOS only if the model's metadata asks, as `llama_tokenize(add_special=true)`), and the text its
detokenizer (`llama_detokenize`) gives back for those ids (control tokens skipped).

  parity/.venv/bin/python parity/dump_tokenizer.py --model M.gguf \
      --cases parity/reference/tokenizer-cases.json --out DIR/tokenize.json [--digest-over N]

With --digest-over N, a case with more than N ids stores their count and the sha256 of the ids
written as decimal numbers joined by commas ("ids_len", "ids_sha256") instead of the ids, and
leaves out its text (it is in --cases under the same name), which keeps the per-vocabulary files
small.
"""
import argparse
import datetime
import hashlib
import json

import ctypes

import llama_cpp
from llama_cpp import Llama, __version__ as llama_cpp_version


def detokenize(llm, ids):
    """llama.cpp's own detokenizer (llama_detokenize; remove_special and unparse_special off).
    llama-cpp-python's Llama.detokenize is not used: it drops a leading space after BOS itself."""
    arr = (llama_cpp.llama_token * len(ids))(*ids)
    size = 64 + 16 * len(ids)
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(llm._model.vocab, arr, len(ids), buf, size, False, False)
        if n >= 0:
            return buf.raw[:n]
        size = -n  # too small: llama.cpp says how much it needs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--cases", required=True, help="JSON list of {name, text}")
    ap.add_argument("--out", required=True)
    ap.add_argument("--digest-over", type=int, default=0, help="digest id lists longer than this (0: never)")
    args = ap.parse_args()

    llm = Llama(model_path=args.model, vocab_only=True, verbose=False)
    out = []
    for case in json.load(open(args.cases, encoding="utf-8")):
        for special in (True, False):
            ids = llm.tokenize(case["text"].encode("utf-8"), add_bos=True, special=special)
            text = detokenize(llm, ids).decode("utf-8", errors="replace")
            # "decoded" is left out where it equals the input, which keeps the file small
            row = {"name": case["name"], "parse_special": special, "text": case["text"]}
            if args.digest_over and len(ids) > args.digest_over:
                row["ids_len"] = len(ids)
                row["ids_sha256"] = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
                del row["text"]
            else:
                row["ids"] = ids
            if text != case["text"]:
                row["decoded"] = text
            out.append(row)
    head = {
        "source": f"llama.cpp via llama-cpp-python {llama_cpp_version}",
        "model": args.model.split("/")[-1],
        "generated": datetime.date.today().isoformat(),
    }
    # one case per line, so a diff shows which cases changed
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "cases": [\n')
        f.write(",\n".join(json.dumps(row, ensure_ascii=False) for row in out))
        f.write("\n]}\n")
    print(f"{len(out)} cases -> {args.out}")


if __name__ == "__main__":
    main()
