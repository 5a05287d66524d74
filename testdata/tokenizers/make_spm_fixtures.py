#!/usr/bin/python3
"""Trains small sentencepiece models with the REAL trainer and writes goldens of its encode/decode.

Run on purpose only (the committed .model files and spm_goldens.json are what the tests read):
    /usr/bin/python3 testdata/tokenizers/make_spm_fixtures.py
Needs Debian's python3-sentencepiece (apt-get install -y python3-sentencepiece). The training text is
Debian's public-domain/licence texts under /usr/share/common-licenses plus a few lines below, so the
vocabularies hold some accented and CJK pieces. Vocabularies are a few hundred pieces to keep the
files small; the nmt_nfkc / nfkc_cf models still carry the trainer's ~240 KB precompiled charsmap.
"""
import io
import json
import os
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
LICENSES = ["GPL-3", "Apache-2.0", "MPL-2.0"]
EXTRA = [
    "Café, naïve résumé — déjà vu à Zürich; señor Ångström.",
    "日本語のテキストと中文文本。東京は大きい。",
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ １２３ and ﬁne ligatures.",
    "Numbers 0123456789 and 3.14159, 2,718.",
]

# name -> trainer options beyond the shared ones. Defaults of the trainer are kept unless named:
# model_type=unigram, normalization_rule_name=nmt_nfkc, add_dummy_prefix, remove_extra_whitespaces.
MODELS = {
    "unigram_nmt_nfkc": dict(),
    "bpe_nmt_nfkc_bytes": dict(model_type="bpe", byte_fallback=True),
    "unigram_nfkc_cf_bytes": dict(normalization_rule_name="nfkc_cf", byte_fallback=True),
    "bpe_identity_llama": dict(model_type="bpe", normalization_rule_name="identity", byte_fallback=True,
                               remove_extra_whitespaces=False),
    "unigram_identity_noprefix": dict(normalization_rule_name="identity", add_dummy_prefix=False,
                                      user_defined_symbols=["<sep>", "[[x]]"]),
}

STRINGS = [
    "",
    "Hello world",
    "hello world",
    "The Licensor grants You a license.",
    " leading space",
    "trailing space ",
    "   three leading and three trailing   ",
    "multiple    spaces   inside",
    "tab\tseparated\tvalues",
    "new\nline\n\ntwo",
    "\r\nwindows line",
    " ",
    "   ",
    "Café naïve résumé déjà",
    "Cafe\u0301 with a combining acute",
    "A\u030a vs \u00c5 vs \u212b",
    "日本語のテキスト",
    "中文文本和東京",
    "한국어 텍스트",
    "Emoji 😀👍🏽 and 🇫🇷 flag",
    "ＡＢＣ１２３ full width ａｂｃ",
    "ﬁnancial ﬂow ﬃ",
    "0123456789 3.14159 2,718 1e-5",
    "Punctuation!? \"quoted\" (paren) [brack] {brace} <angle> @#$%^&*_+=|\\~`",
    "…–—‘’“”«»",
    "x\u200by zero width and \u00a0nbsp",
    "\u3000ideographic space\u3000",
    "Ⅻ ½ ² ㎏ ﷺ",
    "UPPER lower MiXeD",
    "<sep> user [[x]] symbols <s> </s> <unk>",
    "a" * 40,
    "\u0000nul and \u0007bell",
]


def train(name, opts):
    text = []
    for lic in LICENSES:
        with open(os.path.join("/usr/share/common-licenses", lic), encoding="utf-8") as f:
            text.extend(line.rstrip("\n") for line in f if line.strip())
    text.extend(EXTRA * 20)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text), model_writer=model, vocab_size=opts.pop("vocab_size", 400),
        num_threads=1, minloglevel=2, character_coverage=1.0, **opts)
    path = os.path.join(HERE, name + ".model")
    with open(path, "wb") as f:
        f.write(model.getvalue())
    return path


def main():
    goldens = {"sentencepiece": spm.__version__, "models": {}}
    for name, opts in MODELS.items():
        path = train(name, dict(opts))
        sp = spm.SentencePieceProcessor(model_file=path)
        cases = []
        for s in STRINGS:
            ids = sp.encode(s)
            cases.append({"text": s, "ids": ids, "pieces": [sp.id_to_piece(i) for i in ids], "decoded": sp.decode(ids)})
        goldens["models"][name] = {"file": name + ".model", "options": opts, "cases": cases}
        print(f"{name}: {os.path.getsize(path)} bytes, {sp.get_piece_size()} pieces", file=sys.stderr)
    with open(os.path.join(HERE, "spm_goldens.json"), "w", encoding="utf-8") as f:
        json.dump(goldens, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
