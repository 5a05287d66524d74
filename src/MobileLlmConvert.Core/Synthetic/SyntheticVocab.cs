using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Synthetic;

/// <summary>
/// A LLaMA-layout sentencepiece BPE vocabulary for synthetic models: 0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;,
/// 3..258 the byte pieces &lt;0x00&gt;..&lt;0xFF&gt; (as in the LLaMA sentencepiece tokenizer.model), then characters and merges
/// of lower-case English so real text tokenizes into more than bytes, then filler pieces up to the
/// requested size. BPE scores are minus the merge rank, as sentencepiece's BPE trainer writes them.
/// </summary>
public static class SyntheticVocab
{
    public const int ByteBase = 3;
    public const int MinSize = ByteBase + 256 + 1;

    private static readonly string[] Merges =
    [
        "▁t", "he", "▁a", "in", "er", "an", "▁the", "on", "▁s", "re", "▁w", "at", "en", "nd", "▁o", "▁b",
        "is", "ou", "or", "▁c", "es", "▁f", "it", "ll", "▁m", "▁p", "ed", "ing", "▁h", "▁d", "ar", "▁to",
        "▁of", "▁and", "▁in", "▁is", "▁it", "▁he", "le", "as", "▁on", "▁wor", "ld", "▁world", "▁hello", "lo",
        "▁he", "▁hel", "▁on", "▁one", "▁once", "▁up", "▁upon", "▁time", "▁ti", "me", "▁there", "▁was",
    ];

    public static TokenizerIr Create(int size)
    {
        if (size < MinSize) throw new ArgumentOutOfRangeException(nameof(size), size, $"a LLaMA-layout vocabulary needs at least {MinSize} pieces");
        var pieces = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<PieceType> { PieceType.Unknown, PieceType.Control, PieceType.Control };
        var scores = new List<float> { 0, 0, 0 };
        for (int b = 0; b < 256; b++)
        {
            pieces.Add($"<0x{b:X2}>");
            types.Add(PieceType.Byte);
            scores.Add(0);
        }
        var seen = new HashSet<string>(pieces, StringComparer.Ordinal);
        int rank = 0;
        void Add(string piece)
        {
            if (pieces.Count >= size || !seen.Add(piece)) return;
            pieces.Add(piece);
            types.Add(PieceType.Normal);
            scores.Add(-rank++);
        }
        foreach (var m in Merges) Add(m);
        foreach (var ch in "▁etaoinshrdlcumwfgypbvkjxqz.,!?'") Add(ch.ToString());
        for (int i = 0; pieces.Count < size; i++) Add($"▁x{i}");
        return new TokenizerIr(pieces, scores, types, UnkId: 0, BosId: 1, EosId: 2, PadId: null,
            AddBos: true, AddEos: false, SentencePieceModel: null, TokenizerConfigJson: null);
    }
}
