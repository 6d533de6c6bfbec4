#!/usr/bin/env python3
"""Writes the seed corpus of the GGUF loader fuzz target (fuzz/seeds/gguf_load/): tiny but valid
model files, a few KB each, so that libFuzzer starts from inputs that pass validation and mutates
its way into every branch of the parser and the loader.

    parity/.venv/bin/python fuzz/make_gguf_seeds.py

Reuses the random-model writer of scripts/make_random_models.py with shapes shrunk to the least
each type allows (rows of 32 weights for the block types), and adds two tokenizer-only files (a
byte-level BPE and a SentencePiece vocabulary). Seeded: the same numpy and gguf versions write the
same bytes.
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import gguf  # noqa: E402
import make_random_models as mrm  # noqa: E402

OUT = ROOT / "fuzz" / "seeds" / "gguf_load"

TINY = {
    "llama": dict(arch="llama", n_embd=8, n_layer=1, n_head=2, n_head_kv=1, head_dim=4, n_ff=8, n_vocab=8,
                  rope_base=10000.0, tied=True),
    "llama3": dict(arch="llama", n_embd=8, n_layer=1, n_head=2, n_head_kv=1, head_dim=4, n_ff=8, n_vocab=8,
                   rope_base=500000.0, tied=False, rope_freqs=True),
    "qwen2": dict(arch="qwen2", n_embd=8, n_layer=1, n_head=2, n_head_kv=1, head_dim=4, n_ff=8, n_vocab=8,
                  rope_base=1000000.0, tied=True, qkv_bias=True),
    "qwen3": dict(arch="qwen3", n_embd=8, n_layer=1, n_head=2, n_head_kv=1, head_dim=8, n_ff=8, n_vocab=8,
                  rope_base=1000000.0, tied=False, qk_norm=True, key_length=True),
    "phi3": dict(arch="phi3", n_embd=8, n_layer=1, n_head=2, n_head_kv=2, head_dim=4, n_ff=8, n_vocab=8,
                 rope_base=10000.0, tied=False, fused=True, sliding_window=4),
    "gemma3": dict(arch="gemma3", n_embd=8, n_layer=2, n_head=2, n_head_kv=1, head_dim=8, n_ff=8, n_vocab=8,
                   rope_base=1000000.0, rope_base_swa=10000.0, tied=False, embd_scale=0.5, qk_norm=True,
                   key_length=True, post_norms=True, sliding_window=4, swa_pattern=2),
}
# Block types need rows of 32 weights: the llama shape at n_embd = n_ff = 32.
BLOCKS = dict(TINY["llama"], n_embd=32, n_ff=32, head_dim=16)


def model_seeds():
    for name, c in TINY.items():
        rng = np.random.default_rng(mrm.seed_of(name))
        mrm.write_gguf(OUT / f"{name}-f32.gguf", name, c, mrm.tensors_of(name, c, rng), "F32")
    for qtype in ["F16", "Q8_0", "Q4_1"]:
        rng = np.random.default_rng(mrm.seed_of("llama"))
        mrm.write_gguf(OUT / f"llama-{qtype.lower()}.gguf", "llama", BLOCKS, mrm.tensors_of("llama", BLOCKS, rng), qtype)


def vocab_seeds():
    bpe = gguf.GGUFWriter(str(OUT / "vocab-bpe.gguf"), "llama")
    bpe.add_tokenizer_model("gpt2")
    bpe.add_tokenizer_pre("smollm")
    tokens = ["<|endoftext|>", "a", "b", "ab", "\u0120", "\u0120a", "<|im_start|>", "<|im_end|>"]
    bpe.add_token_list(tokens)
    bpe.add_token_types([3, 1, 1, 1, 1, 1, 3, 3])
    bpe.add_token_merges(["a b", "\u0120 a"])
    bpe.add_bos_token_id(0)
    bpe.add_eos_token_id(7)
    bpe.add_chat_template("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}")
    for w in [bpe]:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.close()
    spm = gguf.GGUFWriter(str(OUT / "vocab-spm.gguf"), "llama")
    spm.add_tokenizer_model("llama")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\u2581", "\u2581a", "a", "b"]
    spm.add_token_list(tokens)
    spm.add_token_types([2, 3, 3] + [6] * 256 + [1, 1, 1, 1])
    spm.add_token_scores([0.0, 0.0, 0.0] + [0.0] * 256 + [-1.0, -2.0, -3.0, -4.0])
    spm.add_bos_token_id(1)
    spm.add_eos_token_id(2)
    spm.add_unk_token_id(0)
    spm.add_add_bos_token(True)
    spm.write_header_to_file()
    spm.write_kv_data_to_file()
    spm.close()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    model_seeds()
    vocab_seeds()
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:8d}  {p.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
