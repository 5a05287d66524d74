#!/usr/bin/env python3
"""Writes testdata/tokenizers/smollm2-tiny: a SmolLM2-shaped tiny checkpoint (LlamaForCausalLM,
tied embeddings, byte-level BPE tokenizer.json, no tokenizer.model).

Debian has no python3-tokenizers, so the tokenizer is trained here by hand: a plain byte-level BPE
trainer (count adjacent pairs within pre-tokenized words, merge the most frequent, ties broken by
the pair's text) over the small corpus below, written in the exact tokenizer.json shape of
HuggingFaceTB/SmolLM2-135M (Sequence[Digits(individual_digits), ByteLevel] pre-tokenizer,
ByteLevel decoder and post-processor, merges as "a b" strings, special tokens at ids 0..2).
The encoding itself is checked against llama.cpp by the tests, not by this script.
Weights are BF16 from a fixed-seed generator. Standard library only; deterministic output.

    python3 testdata/tokenizers/make_smollm2_tiny.py
"""
import json, os, re, struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smollm2-tiny")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = 181  # 3 special + 256 bytes + 181 merges = 440 tokens
HIDDEN, INTER, HEADS, KV_HEADS, LAYERS = 32, 64, 4, 2, 2
CORPUS = """The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.
Numbers like 2024, 123456 and 3.14159 are split digit by digit before merging.
Hello world! Hello there, world. It's what they've said: we'll see, I'm sure you'd agree.
Café, naïve, déjà vu, über, smørrebrød. 日本語のテキスト。 Привет, мир! Emoji 🙂🚀 and tabs\tand
new lines.\n\n    indented code: def f(x): return x + 1  # comment
"""

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))

B2U = bytes_to_unicode()
# An approximation of GPT-2's split (letters, single digits, other symbols, spaces) is enough to
# learn merges; exactness of the split is llama.cpp's and our tokenizer's business, not the trainer's.
SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+|\d| ?[^\s\w]+|\s+(?!\S)|\s+")

def train():
    words = {}
    for w in SPLIT.findall(CORPUS):
        key = tuple(B2U[b] for b in w.encode("utf-8"))
        words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(MERGES):
        pairs = {}
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = {}
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1]); i += 2
                else:
                    out.append(w[i]); i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + n
        words = merged
    return merges

def tokenizer_json(merges):
    vocab = {}
    for t in SPECIAL + [B2U[b] for b in range(256)] + [a + b for a, b in merges]:
        if t not in vocab:
            vocab[t] = len(vocab)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return vocab, {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, t in enumerate(SPECIAL)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }

def bf16(x):
    return struct.pack("<I", struct.unpack("<I", struct.pack("<f", x))[0])[2:]

def weights(vocab_size):
    state = [0x5EED]
    def rnd(n, scale):
        out = bytearray()
        for _ in range(n):
            state[0] = (state[0] * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            out += bf16(((state[0] >> 11) / float(1 << 53) * 2 - 1) * scale)
        return bytes(out)
    head_dim = HIDDEN // HEADS
    shapes = [("model.embed_tokens.weight", [vocab_size, HIDDEN], 0.5)]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes += [(p + "input_layernorm.weight", [HIDDEN], None),
                   (p + "self_attn.q_proj.weight", [HEADS * head_dim, HIDDEN], 0.3),
                   (p + "self_attn.k_proj.weight", [KV_HEADS * head_dim, HIDDEN], 0.3),
                   (p + "self_attn.v_proj.weight", [KV_HEADS * head_dim, HIDDEN], 0.3),
                   (p + "self_attn.o_proj.weight", [HIDDEN, HEADS * head_dim], 0.3),
                   (p + "post_attention_layernorm.weight", [HIDDEN], None),
                   (p + "mlp.gate_proj.weight", [INTER, HIDDEN], 0.3),
                   (p + "mlp.up_proj.weight", [INTER, HIDDEN], 0.3),
                   (p + "mlp.down_proj.weight", [HIDDEN, INTER], 0.3)]
    shapes.append(("model.norm.weight", [HIDDEN], None))
    header, data = {}, bytearray()
    for name, shape, scale in shapes:
        n = 1
        for d in shape:
            n *= d
        # Norm weights near 1, each its own (all-ones norms would be byte-identical and deduplicated).
        blob = rnd(n, scale) if scale is not None else bytes(b for x in rnd(n, 0.25)[1::2] for b in bf16(1.0 + x / 1024))
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + bytes(data)

def main():
    os.makedirs(OUT, exist_ok=True)
    vocab, tok = tokenizer_json(train())
    config = {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": HIDDEN,
        "initializer_range": 0.041666666666666664, "intermediate_size": INTER, "is_llama_config": True,
        "max_position_embeddings": 256, "model_type": "llama", "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS, "num_key_value_heads": KV_HEADS, "pretraining_tp": 1,
        "rms_norm_eps": 1e-05, "rope_interleaved": False, "rope_scaling": None, "rope_theta": 100000,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.40.1",
        "use_cache": True, "vocab_size": len(vocab),
    }
    tok_config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True} for i, t in enumerate(SPECIAL)},
        "additional_special_tokens": SPECIAL, "bos_token": "<|endoftext|>", "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>", "model_max_length": 256, "tokenizer_class": "GPT2Tokenizer",
        "unk_token": "<|endoftext|>", "vocab_size": len(vocab),
    }
    files = {"config.json": json.dumps(config, indent=2) + "\n",
             "tokenizer.json": json.dumps(tok, indent=2, ensure_ascii=False) + "\n",
             "tokenizer_config.json": json.dumps(tok_config, indent=2) + "\n"}
    for name, text in files.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    with open(os.path.join(OUT, "model.safetensors"), "wb") as f:
        f.write(weights(len(vocab)))

if __name__ == "__main__":
    main()
