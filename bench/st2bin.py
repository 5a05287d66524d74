#!/usr/bin/python3
"""Converts a safetensors checkpoint directory into the same checkpoint as pytorch_model.bin (torch.save).

  /usr/bin/python3 bench/st2bin.py SRC_DIR DST_DIR [--alias-head]

Used by bench/torch-rss.sh to measure `mlconvert hf2mobile` from a .bin against the same model from
safetensors. safetensors is read by hand (8-byte length, JSON header, data), so only torch is needed
(Debian python3-torch). --alias-head also stores lm_head.weight as the embedding's storage, as
MobileLLM's published files carry it.
"""
import collections
import json
import mmap
import os
import shutil
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    alias_head = "--alias-head" in sys.argv[3:]
    os.makedirs(dst, exist_ok=True)
    for f in os.listdir(src):
        if not f.endswith(".safetensors") and not f.endswith(".safetensors.index.json"):
            shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        n = struct.unpack("<Q", m[:8])[0]
        header = json.loads(m[8:8 + n])
        base = 8 + n
        sd = collections.OrderedDict()
        for name, e in header.items():
            if name == "__metadata__":
                continue
            b, end = e["data_offsets"]
            t = torch.frombuffer(bytearray(m[base + b:base + end]), dtype=DTYPES[e["dtype"]])
            sd[name] = t.reshape(e["shape"])
    if alias_head and "model.embed_tokens.weight" in sd:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    torch.save(sd, os.path.join(dst, "pytorch_model.bin"))


if __name__ == "__main__":
    main()
