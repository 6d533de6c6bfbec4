#!/usr/bin/env python3
"""Dumps llama.cpp's tokenization of the conformance strings, for tests/tokenizer_conformance.rs.

For every case in --cases and both settings of special-token parsing: the ids llama.cpp gives
(BOS only if the model's metadata asks, as `llama_tokenize(add_special=true)`), and the text its
detokenizer gives back for those ids (control tokens skipped).

  parity/.venv/bin/python parity/dump_tokenizer.py --model M.gguf \
      --cases parity/reference/tokenizer-cases.json --out DIR/tokenize.json
"""
import argparse
import datetime
import json

from llama_cpp import Llama, __version__ as llama_cpp_version


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--cases", required=True, help="JSON list of {name, text}")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    llm = Llama(model_path=args.model, vocab_only=True, verbose=False)
    out = []
    for case in json.load(open(args.cases, encoding="utf-8")):
        for special in (True, False):
            ids = llm.tokenize(case["text"].encode("utf-8"), add_bos=True, special=special)
            text = llm.detokenize(ids).decode("utf-8", errors="replace")
            # "decoded" is left out where it equals the input, which keeps the file small
            row = {"name": case["name"], "parse_special": special, "text": case["text"], "ids": ids}
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
