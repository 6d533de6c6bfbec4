#!/usr/bin/env python3
"""Renders every chat template of llama.cpp's models/templates/ with llama.cpp's own Jinja engine
(parity/.cache/render_chat_template, built by parity/build-chat-renderer.sh) for a fixed set of
conversations, into parity/reference/chat-templates.json for tests/chat_templates.rs.

Every render gets the same globals: the conversation as `messages`, add_generation_prompt = true,
and the BOS/EOS texts below. Templates that print today's date get the dump's date (recorded as
"rendered_on"; the test fixes its clock to that day). A template that refuses a conversation
(raise_exception, e.g. for a system message) is recorded with its error.

  python3 parity/dump_chat_templates.py --templates .cache/llama-templates \
      --renderer parity/.cache/render_chat_template --out parity/reference/chat-templates.json
"""
import argparse
import datetime
import hashlib
import json
import os
import subprocess

BOS, EOS = "<s>", "</s>"

CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello! What is 2+2?"}],
    "system-user": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Name three colors."},
    ],
    "multi-turn": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "unicode-whitespace": [{"role": "user", "content": "  Привет 👋 — 你好\n\nline two  "}],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--templates", required=True)
    ap.add_argument("--renderer", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    cases = []
    for name in sorted(os.listdir(args.templates)):
        if not name.endswith(".jinja"):
            continue
        path = os.path.join(args.templates, name)
        sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
        for conv_id, messages in CONVERSATIONS.items():
            ctx = {"messages": messages, "add_generation_prompt": True, "bos_token": BOS, "eos_token": EOS}
            p = subprocess.run([args.renderer, path], input=json.dumps(ctx).encode(), capture_output=True)
            row = {"template": name, "template_sha256": sha, "conversation": conv_id}
            if p.returncode == 0:
                row["rendered"] = p.stdout.decode("utf-8")
            else:
                row["error"] = p.stderr.decode("utf-8", errors="replace").strip()
            cases.append(row)
    head = {
        "source": "llama.cpp's Jinja engine (common/jinja) from the pinned llama-cpp-python sdist, "
        "via parity/chat/render_chat_template.cpp",
        "rendered_on": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "bos_token": BOS,
        "eos_token": EOS,
        "conversations": CONVERSATIONS,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "cases": [\n')
        f.write(",\n".join(json.dumps(row, ensure_ascii=False) for row in cases))
        f.write("\n]}\n")
    ok = sum("rendered" in c for c in cases)
    print(f"{len(cases)} renders ({ok} rendered, {len(cases) - ok} refused) -> {args.out}")


if __name__ == "__main__":
    main()
