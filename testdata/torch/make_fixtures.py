#!/usr/bin/python3
"""Writes the torch.save fixtures of testdata/torch with the REAL writer (Debian python3-torch 1.13).

Run from the repository root:  /usr/bin/python3 testdata/torch/make_fixtures.py
Every output is deterministic (fixed values, no randomness) and listed with its SHA-256 in
SHA256SUMS, which TorchFixtureTests compares to the committed files. Regenerate only on purpose.

  dtypes.bin (+ dtypes.expected.json)  fp32/fp16/bf16 tensors, a view with a storage offset, a
      transposed (strided) view, a Parameter, a tensor pickled through _rebuild_from_type_v2 (a
      plain tensor carrying a Python attribute), a tied pair, and an int64 buffer.
  mobilellm-tiny-bin/   the twin of testdata/models/mobilellm-tiny as pytorch_model.bin, plus an
      lm_head.weight aliasing the embedding's storage (a tied head, as MobileLLM files carry).
  mobillama-chat-bin/   the twin of testdata/models/mobillama-tiny with every layer's FFN names
      aliasing ONE storage (as MobiLlama-05B-Chat), bf16.
  mobillama-sharded-bin/ the twin of testdata/models/mobillama-ffn-copies as two shards
      pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json (as MobiLlama-05B).
  legacy.bin            torch.save(..., _use_new_zipfile_serialization=False): refused with a hint.
"""
import collections
import hashlib
import json
import os
import shutil
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "models")
SHARED_FILES = ["config.json", "tokenizer.model", "tokenizer_config.json"]

ST_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    """safetensors by hand (8-byte length, JSON header, data): no safetensors package needed."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = collections.OrderedDict()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=ST_DTYPES[e["dtype"]]) if end > b else torch.empty(0, dtype=ST_DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


class StatefulTensor(torch.Tensor):
    """Pickles as torch >= 2.0 pickles a plain torch.Tensor that carries Python attributes (as
    MobiLlama's files do): _rebuild_from_type_v2(_rebuild_tensor_v2, torch.Tensor, args, state).
    torch 1.13 takes that path only for subclasses and would name the subclass, so this reduces to
    the same tuple torch 2.x's Tensor.__reduce_ex__ returns, naming torch.Tensor itself."""

    def __reduce_ex__(self, proto):
        func, args = self._reduce_ex_internal(proto)
        return (torch._tensor._rebuild_from_type_v2, (func, torch.Tensor, args, self.__dict__))


def save(obj, path, **kw):
    # torch.save names the zip's root folder after the file; keep it stable whatever the cwd.
    torch.save(obj, path, **kw)


def copy_shared(src, dst):
    os.makedirs(dst, exist_ok=True)
    for f in SHARED_FILES:
        shutil.copyfile(os.path.join(MODELS, src, f), os.path.join(dst, f))


def dtypes():
    sd = collections.OrderedDict()
    sd["f32"] = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5
    sd["f16"] = (torch.arange(6, dtype=torch.float32) * 0.25 - 0.5).to(torch.float16).reshape(2, 3)
    sd["bf16"] = (torch.arange(8, dtype=torch.float32) * 1.5 - 3).to(torch.bfloat16)
    base = torch.arange(20, dtype=torch.float32) / 4
    sd["offset_view"] = base[5:11].view(2, 3)          # storage_offset 5, contiguous
    sd["offset_base"] = base                             # same storage, whole
    sd["transposed"] = torch.arange(6, dtype=torch.float16).reshape(2, 3).t()  # stride (1, 3)
    sd["param"] = torch.nn.Parameter(torch.full((2, 2), 0.75))
    attr = torch.arange(4, dtype=torch.float32).as_subclass(StatefulTensor)
    attr.note = "python state"
    sd["from_type"] = attr
    sd["tied_a"] = torch.arange(4, dtype=torch.float16).reshape(2, 2)
    sd["tied_b"] = sd["tied_a"]
    sd["int_buffer"] = torch.arange(3, dtype=torch.int64)
    save(sd, os.path.join(HERE, "dtypes.bin"))
    expected = collections.OrderedDict()
    for k, v in sd.items():
        v = torch.Tensor(v.detach()) if isinstance(v, StatefulTensor) else v.detach()
        expected[k] = {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                       "values": [float(x) for x in v.contiguous().flatten().tolist()]}
    with open(os.path.join(HERE, "dtypes.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def mobilellm():
    dst = os.path.join(HERE, "mobilellm-tiny-bin")
    copy_shared("mobilellm-tiny", dst)
    sd = read_safetensors(os.path.join(MODELS, "mobilellm-tiny", "model.safetensors"))
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"]  # one storage, two names
    save(sd, os.path.join(dst, "pytorch_model.bin"))


def mobillama_chat():
    dst = os.path.join(HERE, "mobillama-chat-bin")
    copy_shared("mobillama-tiny", dst)
    src = read_safetensors(os.path.join(MODELS, "mobillama-tiny", "model.safetensors"))
    cfg = json.load(open(os.path.join(MODELS, "mobillama-tiny", "config.json")))
    sd = collections.OrderedDict()
    for name, t in src.items():
        if name == "model.norm.weight":
            # every layer names layer 0's FFN tensors: one storage each, as the 05B-Chat file stores them
            for i in range(1, cfg["num_hidden_layers"]):
                for p in ("gate_proj", "up_proj", "down_proj"):
                    sd[f"model.layers.{i}.mlp.{p}.weight"] = sd[f"model.layers.0.mlp.{p}.weight"]
        sd[name] = t
    save(sd, os.path.join(dst, "pytorch_model.bin"))


def mobillama_sharded():
    dst = os.path.join(HERE, "mobillama-sharded-bin")
    copy_shared("mobillama-ffn-copies", dst)
    src = read_safetensors(os.path.join(MODELS, "mobillama-ffn-copies", "model.safetensors"))
    names = list(src)
    half = len(names) // 2
    shards = [names[:half], names[half:]]
    weight_map = {}
    total = 0
    for i, part in enumerate(shards):
        file = f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
        save(collections.OrderedDict((n, src[n]) for n in part), os.path.join(dst, file))
        for n in part:
            weight_map[n] = file
            total += src[n].numel() * src[n].element_size()
    with open(os.path.join(dst, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")


def legacy():
    save(collections.OrderedDict(w=torch.ones(2)), os.path.join(HERE, "legacy.bin"), _use_new_zipfile_serialization=False)


def sums():
    lines = []
    for root, _, files in os.walk(HERE):
        for f in files:
            p = os.path.join(root, f)
            rel = os.path.relpath(p, HERE)
            if rel in ("SHA256SUMS", "make_fixtures.py"):
                continue
            lines.append(f"{hashlib.sha256(open(p, 'rb').read()).hexdigest()}  {rel}")
    with open(os.path.join(HERE, "SHA256SUMS"), "w") as f:
        f.write("\n".join(sorted(lines, key=lambda l: l.split("  ", 1)[1])) + "\n")


if __name__ == "__main__":
    print("torch", torch.__version__, file=sys.stderr)
    dtypes()
    mobilellm()
    mobillama_chat()
    mobillama_sharded()
    legacy()
    sums()
