#!/usr/bin/python3
"""Trains the mobilellm-ls-trained fixture and writes it exactly as the Hugging Face Hub publishes
MobileLLM-LS checkpoints, plus float64 goldens for the tests.

Run with Debian's python (python3-torch 1.13, python3-sentencepiece, bible-kjv, bible-kjv-text,
libopenblas0-pthread):

    /usr/bin/python3 testdata/trained/train.py            # writes the fixture, goldens, SHA256SUMS

Regenerate only on purpose: CPU training is reproducible on one machine (fixed seeds, 2 threads,
deterministic algorithms) but not necessarily bitwise across BLAS builds, so the tests never retrain;
they check the committed bytes against SHA256SUMS.

Model semantics follow the published modeling_mobilellm.py of facebook/MobileLLM-125M-layer-share
(a Llama decoder; https://huggingface.co/facebook/MobileLLM-125M-layer-share/blob/main/modeling_mobilellm.py)
and transformers' modeling_llama.py: RMSNorm, SwiGLU, RoPE with rotate_half (half split), GQA,
no biases; share_embedding computes logits with embed_tokens.weight; layer_sharing runs every
stored block twice in a row (0,0,1,1,...).
"""
import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import sentencepiece as spm
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(REPO, "testdata", "models", "mobilellm-ls-trained")

# Shape: MobileLLM-125M-layer-share's proportions scaled down so the committed files stay <= 3 MB
# (checked before training, see check_budget).
VOCAB = 2000
HIDDEN = 128
INTERMEDIATE = 256
LAYERS = 6  # stored; layer_sharing executes 12
HEADS = 4
KV_HEADS = 2
HEAD_DIM = HIDDEN // HEADS
CONTEXT = 256
ROPE_THETA = 10000.0
RMS_EPS = 1e-5
BUDGET_BYTES = 3 * 1024 * 1024

SEED = 1611
STEPS = 250
BATCH = 16
SEQ = 128
LR = 4e-3
WARMUP = 15

# Prompts whose sentencepiece ids are goldens. The last one goes through nmt_nfkc: full-width letters,
# a ligature, an ideographic space, curly quotes, doubled spaces and an ellipsis.
PSALM = ("The LORD is my shepherd; I shall not want. He maketh me to lie down in green pastures: "
         "he leadeth me beside the still waters. He restoreth my soul: he leadeth me in the paths of "
         "righteousness for his name's sake.")
PROMPTS = ["And God said", "In the beginning God created the heaven and the earth.", PSALM,
           "\uff21nd  God\u3000said: \u201cLet there be \ufb01re\u201d\u2026  Jesus wept. "]
GREEDY_PROMPT = "And God said"
GREEDY_TOKENS = 16

# The Hub's 141-byte tokenizer_config.json of MobileLLM: empty special-token strings and
# model_max_length = int(1e30) as transformers writes VERY_LARGE_INTEGER; no trailing newline.
TOKENIZER_CONFIG = ('{"bos_token": "", "eos_token": "", "model_max_length": 1000000000000000019884624838656, '
                    '"tokenizer_class": "LlamaTokenizer", "unk_token": ""}')


def kjv_verses():
    """Every verse of the King James Version, Genesis 1:1 to Revelation 22:21, one per line, read
    with Debian's `bible` (package bible-kjv) from bible-kjv-text's /usr/lib/bible.data."""
    out = subprocess.run(["bible", "-l0", "Gen1:1-Rev22:21"], check=True, capture_output=True, text=True).stdout
    verses = []
    for line in out.splitlines():
        m = re.match(r"^\s+\d+ (.+)$", line)  # "  3 And God said, ..."; chapter headings have no indent
        if m:
            verses.append(m.group(1).strip())
    if len(verses) != 31102:
        sys.exit(f"expected the KJV's 31102 verses, got {len(verses)}")
    return verses


def train_tokenizer(corpus_path, prefix):
    # The trainer's default normalizer (nmt_nfkc), BPE with byte fallback, LLaMA's special ids.
    spm.SentencePieceTrainer.train(
        input=corpus_path, model_prefix=prefix, model_type="bpe", vocab_size=VOCAB,
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, seed_sentencepiece_size=1000000, shuffle_input_sentence=False,
        minloglevel=2)
    return prefix + ".model"


class RMSNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(seq, dtype):
    inv = 1.0 / (ROPE_THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float64) / HEAD_DIM))
    freqs = torch.outer(torch.arange(seq, dtype=torch.float64), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(HIDDEN, HEADS * HEAD_DIM, bias=False)
        self.k_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.v_proj = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.o_proj = nn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(x).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(x).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)  # GQA: query head h reads kv head h // group
        v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(HEAD_DIM)
        mask = torch.full((t, t), float("-inf"), dtype=s.dtype).triu(1)
        a = torch.softmax(s + mask, dim=-1) @ v
        return self.o_proj(a.transpose(1, 2).reshape(b, t, HEADS * HEAD_DIM))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = nn.Linear(HIDDEN, INTERMEDIATE, bias=False)
        self.up_proj = nn.Linear(HIDDEN, INTERMEDIATE, bias=False)
        self.down_proj = nn.Linear(INTERMEDIATE, HIDDEN, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    # Registration order = state_dict order, as in transformers' LlamaDecoderLayer.
    def __init__(self):
        super().__init__()
        self.self_attn = Attention()
        self.mlp = Mlp()
        self.input_layernorm = RMSNorm(HIDDEN)
        self.post_attention_layernorm = RMSNorm(HIDDEN)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.ModuleList([DecoderLayer() for _ in range(LAYERS)])
        self.norm = RMSNorm(HIDDEN)


class MobileLLMForCausalLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Decoder()
        for mod in self.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, std=0.02)

    def forward(self, ids):
        m = self.model
        x = m.embed_tokens(ids)
        cos, sin = rope(ids.shape[1], x.dtype)
        for layer in m.layers:
            for _ in range(2):  # layer_sharing: each stored block runs twice, immediately
                x = layer(x, cos, sin)
        return m.norm(x) @ m.embed_tokens.weight.t()  # share_embedding: no lm_head


def config_json():
    # Keys and values as in facebook/MobileLLM-125M-layer-share's config.json, with this model's dims.
    return {
        "architectures": ["MobileLLMForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "auto_map": {
            "AutoConfig": "configuration_mobilellm.MobileLLMConfig",
            "AutoModelForCausalLM": "modeling_mobilellm.MobileLLMForCausalLM",
        },
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "layer_sharing": True,
        "max_position_embeddings": CONTEXT,
        "mlp_bias": False,
        "model_type": "mobilellm",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "pretraining_tp": 1,
        "rms_norm_eps": RMS_EPS,
        "rope_scaling": None,
        "rope_theta": ROPE_THETA,
        "share_embedding": True,
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
        "transformers_version": "4.41.2",
        "use_cache": False,
        "vocab_size": VOCAB,
    }


def check_budget():
    per_block = (2 * HEADS + 2 * KV_HEADS) * HEAD_DIM * HIDDEN + 3 * HIDDEN * INTERMEDIATE + 2 * HIDDEN
    params = VOCAB * HIDDEN + LAYERS * per_block + HIDDEN
    weights = 2 * params  # fp16
    slack = 200 * 1024  # tokenizer.model (~40 KB), goldens, configs, torch's zip headers
    print(f"parameters {params:,}; fp16 weights {weights:,} bytes; budget {BUDGET_BYTES:,}")
    if weights + slack > BUDGET_BYTES:
        sys.exit("over the 3 MB budget")
    return params


def batches(ids_per_verse, gen):
    """Windows of SEQ+1 tokens: BOS, then whole verses from a random start (as LlamaTokenizer adds BOS)."""
    n = len(ids_per_verse)
    while True:
        rows = []
        for _ in range(BATCH):
            i = int(torch.randint(0, n, (1,), generator=gen))
            row = [1]
            while len(row) < SEQ + 1:
                row.extend(ids_per_verse[i % n])
                i += 1
            rows.append(row[:SEQ + 1])
        yield torch.tensor(rows, dtype=torch.long)


def train(model, ids_per_verse):
    gen = torch.Generator().manual_seed(SEED)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    keep = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": keep, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.95))
    losses = []
    t0 = time.monotonic()
    data = batches(ids_per_verse, gen)
    for step in range(STEPS):
        lr = LR * min(1.0, (step + 1) / WARMUP) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / STEPS)))
        for g in opt.param_groups:
            g["lr"] = lr
        rows = next(data)
        logits = model(rows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), rows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 25 == 0 or step == STEPS - 1:
            print(f"step {step} loss {loss.item():.4f} lr {lr:.2e} ({time.monotonic() - t0:.0f} s)", flush=True)
    return losses


def r8(x):
    """8 significant digits: far below the tests' 1e-3 tolerance, and keeps goldens.json small."""
    return float(f"{float(x):.8g}")


def logits_record(model64, ids, full):
    with torch.no_grad():
        lg = model64(torch.tensor([ids]))[0]
    rec = {"tokens": ids, "positions": []}
    for p in range(len(ids)):
        row = lg[p]
        top = torch.topk(row, 8)
        rec["positions"].append({
            "logsumexp": r8(torch.logsumexp(row, 0)),
            "top_ids": [int(i) for i in top.indices],
            "top_logits": [r8(v) for v in top.values],
        })
    if full:
        rec["last_position_logits"] = [r8(v) for v in lg[-1]]
    return rec


def greedy(model64, ids, n):
    ids = list(ids)
    margins = []
    with torch.no_grad():
        for _ in range(n):
            row = model64(torch.tensor([ids]))[0, -1]
            top = torch.topk(row, 2)
            margins.append(float(top.values[0] - top.values[1]))
            ids.append(int(top.indices[0]))
    return ids, margins


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def train_fixture():
    """Trains the tokenizer and the model and writes the Hub files; returns the final training loss."""
    check_budget()
    verses = kjv_verses()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "kjv.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(verses) + "\n")
        # The trainer stores its input and model_prefix paths in trainer_spec: relative names keep the
        # random temporary directory out of tokenizer.model, so reruns give the same bytes.
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            model_path = train_tokenizer("kjv.txt", "sp")
            with open(model_path, "rb") as f:
                sp_bytes = f.read()
        finally:
            os.chdir(cwd)
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    assert sp.get_piece_size() == VOCAB and sp.id_to_piece(3) == "<0x00>" and sp.id_to_piece(258) == "<0xFF>"
    ids_per_verse = [sp.encode(v) for v in verses]
    print(f"tokens in the KJV: {sum(map(len, ids_per_verse)):,}")

    model = MobileLLMForCausalLM()
    losses = train(model, ids_per_verse)
    tail = losses[-25:]
    final_loss = sum(tail) / len(tail)

    os.makedirs(FIXTURE, exist_ok=True)
    # As the Hub files were written: torch.save of the fp16 model's state_dict (HF key names, no lm_head).
    torch.save(model.half().state_dict(), os.path.join(FIXTURE, "pytorch_model.bin"))
    with open(os.path.join(FIXTURE, "config.json"), "w") as f:
        json.dump(config_json(), f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(FIXTURE, "tokenizer.model"), "wb") as f:
        f.write(sp_bytes)
    with open(os.path.join(FIXTURE, "tokenizer_config.json"), "w") as f:
        f.write(TOKENIZER_CONFIG)
    assert os.path.getsize(os.path.join(FIXTURE, "tokenizer_config.json")) == 141
    return final_loss


def write_goldens(final_loss):
    """Goldens from the saved files: a float64 forward of the fp16 weights as torch.load reads them
    (what an exact executor of the file computes) and the sentencepiece ids of the saved model."""
    state = torch.load(os.path.join(FIXTURE, "pytorch_model.bin"), map_location="cpu")
    sp = spm.SentencePieceProcessor(model_file=os.path.join(FIXTURE, "tokenizer.model"))
    model64 = MobileLLMForCausalLM().double()
    model64.load_state_dict({k: v.double() for k, v in state.items()})
    model64.eval()
    prompt_ids = {p: [1] + sp.encode(p) for p in PROMPTS}  # LlamaTokenizer adds BOS
    gen = torch.Generator().manual_seed(SEED + 1)
    random_ids = [1] + [int(i) for i in torch.randint(3, VOCAB, (63,), generator=gen)]
    sequences = [prompt_ids[PROMPTS[0]], prompt_ids[PROMPTS[1]], random_ids]
    cont, margins = greedy(model64, prompt_ids[GREEDY_PROMPT], GREEDY_TOKENS)
    goldens = {
        "source": "testdata/trained/train.py (float64 forward of the fp16 pytorch_model.bin)",
        "final_train_loss": round(final_loss, 4),
        "tokenization": [{"text": p, "ids": prompt_ids[p]} for p in PROMPTS],
        "logits": [logits_record(model64, s, full=(i == 0)) for i, s in enumerate(sequences)],
        "greedy": {"prompt": GREEDY_PROMPT, "prompt_ids": prompt_ids[GREEDY_PROMPT],
                   "ids": cont[len(prompt_ids[GREEDY_PROMPT]):], "min_top2_margin": r8(min(margins)),
                   "text": sp.decode(cont[1:])},
    }
    with open(os.path.join(HERE, "goldens.json"), "w") as f:
        json.dump(goldens, f, separators=(",", ":"))
        f.write("\n")
    print("greedy:", goldens["greedy"]["text"], "| min margin", min(margins))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=STEPS, help="only for trying out; the fixture uses the default")
    ap.add_argument("--goldens-only", action="store_true",
                    help="recompute goldens.json and SHA256SUMS from the committed files, without retraining")
    args = ap.parse_args()
    globals()["STEPS"] = args.steps

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    if args.goldens_only:
        with open(os.path.join(HERE, "goldens.json")) as f:
            final_loss = json.load(f)["final_train_loss"]
    else:
        final_loss = train_fixture()
    write_goldens(final_loss)

    names = ["config.json", "pytorch_model.bin", "tokenizer.model", "tokenizer_config.json"]
    files = [os.path.join(FIXTURE, n) for n in names] + [os.path.join(HERE, "goldens.json")]
    with open(os.path.join(HERE, "SHA256SUMS"), "w") as f:
        for p in files:
            f.write(f"{sha256(p)}  {os.path.relpath(p, REPO)}\n")
    total = sum(os.path.getsize(p) for p in files)
    print(f"final loss (mean of last 25 steps) {final_loss:.4f}; committed bytes {total:,}")


if __name__ == "__main__":
    main()
