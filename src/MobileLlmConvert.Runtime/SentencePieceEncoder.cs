using System.Globalization;
using System.Text;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// sentencepiece encoding and decoding, written after google/sentencepiece so that ids equal
/// <c>SentencePieceProcessor.encode</c>'s: the normalizer (<see cref="SentencePieceNormalizer"/>), then
/// the model's segmentation — BPE (bpe_model.cc: greedy merges by score, leftmost first) or unigram
/// (unigram_model.cc EncodeOptimized: Viterbi over the vocabulary) — then PopulateSentencePieceText
/// (sentencepiece_processor.cc): an unknown piece becomes its UTF-8 bytes with byte_fallback, and
/// runs of unknown pieces merge into one otherwise. Microsoft.ML.Tokenizers 2.0.1 is not used here:
/// its BPE model refuses every normalizer but identity.
/// </summary>
internal sealed class SentencePieceEncoder
{
    private static ReadOnlySpan<byte> SpaceSymbol => "\u2581"u8;
    /// <summary>unigram_model.cc kUnkPenalty: an unknown character scores this far below the worst piece.</summary>
    private const float UnkPenalty = 10.0f;
    /// <summary>C's FLT_MIN, sentencepiece's starting value for max_score_ (not float.MinValue).</summary>
    private const float FltMin = 1.17549435E-38f;

    private readonly TokenizerIr _ir;
    private readonly SentencePieceSpec _spec;
    private readonly byte[][] _pieceBytes;
    private readonly PieceTrie _allPieces = new();   // PieceToId: every piece
    private readonly PieceTrie _segmentable = new(); // pieces_: NORMAL, USER_DEFINED, UNUSED
    private readonly PieceTrie? _userDefined;
    private readonly int[] _byteIds = new int[256];
    private readonly float _minScore = float.MaxValue, _maxScore = FltMin;

    public SentencePieceNormalizer Normalizer { get; }

    public SentencePieceEncoder(TokenizerIr ir, SentencePieceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(ir);
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.ModelType is not (SentencePieceModelType.Bpe or SentencePieceModelType.Unigram))
            throw new InvalidOperationException($"sentencepiece model_type {spec.ModelType} is not supported (SentencePieceModelFile.Read refuses it)");
        if (spec.HasDenormalizerRules)
            throw new InvalidOperationException("a denormalizer_spec charsmap is not supported (SentencePieceModelFile.Read refuses it)");
        _ir = ir;
        _spec = spec;
        _pieceBytes = new byte[ir.Count][];
        for (int id = 0; id < ir.Count; id++)
        {
            var bytes = _pieceBytes[id] = Encoding.UTF8.GetBytes(ir.Pieces[id]);
            _allPieces.Add(bytes, id);
            var type = ir.Types[id];
            if (type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused) _segmentable.Add(bytes, id);
            if (type == PieceType.UserDefined) (_userDefined ??= new PieceTrie()).Add(bytes, id);
            if (type == PieceType.Normal)
            {
                _minScore = Math.Min(_minScore, ir.Scores[id]);
                _maxScore = Math.Max(_maxScore, ir.Scores[id]);
            }
        }
        for (int b = 0; b < 256; b++)
            _byteIds[b] = PieceToId(Encoding.ASCII.GetBytes($"<0x{b:X2}>"));
        Normalizer = new SentencePieceNormalizer(spec, _userDefined);
    }

    /// <summary>Ids of <paramref name="text"/> without BOS/EOS, as sentencepiece's encode.</summary>
    public List<int> Encode(string text)
    {
        byte[] normalized = Normalizer.Normalize(text);
        var ids = new List<int>();
        if (normalized.Length == 0) return ids;
        var segments = _spec.ModelType == SentencePieceModelType.Bpe ? SegmentBpe(normalized) : SegmentUnigram(normalized);
        bool prevUnknown = false;
        foreach (var (start, length, id) in segments)
        {
            bool unknown = _ir.Types[id] == PieceType.Unknown;
            if (unknown && _spec.ByteFallback)
            {
                for (int i = start; i < start + length; i++) ids.Add(_byteIds[normalized[i]]);
            }
            else if (!(unknown && prevUnknown))
            {
                ids.Add(id);
            }
            prevUnknown = unknown;
        }
        return ids;
    }

    /// <summary>
    /// sentencepiece's Decode: control pieces vanish, &lt;unk&gt; prints unk_surface, byte pieces are UTF-8
    /// (a byte that starts no valid character is U+FFFD), '▁' is a space, and the first piece's leading
    /// '▁' (the dummy prefix) is dropped.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new List<byte>();
        var bytes = new List<byte>();
        bool isBosWs = true, bosWsSeen = false;
        bool stripPrefix = _spec.AddDummyPrefix || _spec.RemoveExtraWhitespaces;
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_ir.Count) throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id outside the vocabulary [0, {_ir.Count})");
            var type = _ir.Types[id];
            if (type == PieceType.Byte)
            {
                bytes.Add(ByteOf(_ir.Pieces[id]));
                continue;
            }
            FlushBytes(bytes, text);
            // Only the first piece's '▁' is the dummy prefix: once one is dropped or any text is out, no more.
            if (bosWsSeen || text.Count > 0) isBosWs = false;
            bosWsSeen = false;
            if (type == PieceType.Control) continue;
            if (type == PieceType.Unknown)
            {
                text.AddRange(Encoding.UTF8.GetBytes(_spec.UnkSurface));
                continue;
            }
            ReadOnlySpan<byte> piece = _pieceBytes[id];
            if (isBosWs && stripPrefix && piece.StartsWith(SpaceSymbol))
            {
                piece = piece[SpaceSymbol.Length..];
                bosWsSeen = !_spec.RemoveExtraWhitespaces;
            }
            AppendUnescaped(piece, text);
        }
        FlushBytes(bytes, text);
        return Encoding.UTF8.GetString(text.ToArray());
    }

    /// <summary>PieceToId: any piece (control, byte and unknown pieces included), else unk_id.</summary>
    private int PieceToId(ReadOnlySpan<byte> piece)
    {
        int id = _allPieces.Find(piece);
        return id >= 0 ? id : _ir.UnkId;
    }

    /// <summary>bpe_model.cc Model::Encode: characters (user-defined symbols frozen whole), then the best-scoring adjacent pair merged until none is in the vocabulary.</summary>
    private List<(int Start, int Length, int Id)> SegmentBpe(byte[] text)
    {
        var start = new List<int>();
        var length = new List<int>();
        var frozen = new List<bool>();
        for (int pos = 0; pos < text.Length;)
        {
            int n = _userDefined?.LongestPrefix(text.AsSpan(pos)) ?? 0;
            frozen.Add(n > 0);
            if (n == 0) n = Math.Min(text.Length - pos, OneCharLen(text[pos]));
            start.Add(pos);
            length.Add(n);
            pos += n;
        }
        int count = start.Count;
        var prev = new int[count];
        var next = new int[count];
        for (int i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        // SymbolPairComparator: higher score first, then the leftmost pair.
        var agenda = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(
            Comparer<(float Score, int Left)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left)));
        var revMerge = new Dictionary<string, (int Start, int LeftLength, int RightLength)>(StringComparer.Ordinal);

        void MaybeAdd(int left, int right)
        {
            if (left < 0 || right < 0 || frozen[left] || frozen[right]) return;
            int size = length[left] + length[right];
            int id = _segmentable.Find(text.AsSpan(start[left], size));
            if (id < 0) return;
            agenda.Enqueue((left, right, size), (_ir.Scores[id], left));
            if (_ir.Types[id] == PieceType.Unused)
                revMerge[Encoding.UTF8.GetString(text, start[left], size)] = (start[left], length[left], length[right]);
        }

        for (int i = 1; i < count; i++) MaybeAdd(i - 1, i);
        while (agenda.TryDequeue(out var top, out _))
        {
            if (length[top.Left] == 0 || length[top.Right] == 0 || length[top.Left] + length[top.Right] != top.Size) continue;
            length[top.Left] += length[top.Right];
            next[top.Left] = next[top.Right];
            if (next[top.Right] >= 0) prev[next[top.Right]] = top.Left;
            length[top.Right] = 0;
            MaybeAdd(prev[top.Left], top.Left);
            MaybeAdd(top.Left, next[top.Left]);
        }

        var output = new List<(int, int, int)>();
        void Resegment(int from, int size, int depth)
        {
            int id = PieceToId(text.AsSpan(from, size));
            // An UNUSED piece is split back into the two symbols that formed it; depth is bounded by the piece length.
            if (_ir.Types[id] == PieceType.Unused && depth < size
                && revMerge.TryGetValue(Encoding.UTF8.GetString(text, from, size), out var split))
            {
                Resegment(split.Start, split.LeftLength, depth + 1);
                Resegment(split.Start + split.LeftLength, split.RightLength, depth + 1);
                return;
            }
            output.Add((from, size, id));
        }
        for (int i = 0; i != -1; i = next[i]) Resegment(start[i], length[i], 0);
        return output;
    }

    /// <summary>unigram_model.cc Model::EncodeOptimized: the best-scoring path over UTF-8 positions, in sentencepiece's float/double arithmetic.</summary>
    private List<(int Start, int Length, int Id)> SegmentUnigram(byte[] text)
    {
        int size = text.Length;
        float unkScore = _minScore - UnkPenalty;
        var bestScore = new float[size + 1];
        var bestStart = new int[size + 1];
        var bestId = new int[size + 1];
        Array.Fill(bestStart, -1);
        var matches = new List<(int Length, int Value)>();
        for (int startsAt = 0; startsAt < size;)
        {
            float tillHere = bestScore[startsAt];
            bool hasSingleNode = false;
            int mblen = Math.Min(OneCharLen(text[startsAt]), size - startsAt);
            _segmentable.PrefixMatches(text.AsSpan(startsAt), matches);
            foreach (var (length, id) in matches)
            {
                if (_ir.Types[id] == PieceType.Unused) continue;
                int end = startsAt + length;
                // User-defined symbols get a bonus so they are always chosen (length * max_score_ - 0.1 is a double in C++).
                double score = _ir.Types[id] == PieceType.UserDefined ? (double)(length * _maxScore) - 0.1 : _ir.Scores[id];
                double candidate = score + tillHere;
                if (bestStart[end] == -1 || candidate > bestScore[end])
                {
                    bestScore[end] = (float)candidate;
                    bestStart[end] = startsAt;
                    bestId[end] = id;
                }
                if (length == mblen) hasSingleNode = true;
            }
            if (!hasSingleNode)
            {
                int end = startsAt + mblen;
                float candidate = unkScore + tillHere;
                if (bestStart[end] == -1 || candidate > bestScore[end])
                {
                    bestScore[end] = candidate;
                    bestStart[end] = startsAt;
                    bestId[end] = _ir.UnkId;
                }
            }
            startsAt += mblen;
        }
        var results = new List<(int, int, int)>();
        for (int endsAt = size; endsAt > 0; endsAt = bestStart[endsAt])
            results.Add((bestStart[endsAt], endsAt - bestStart[endsAt], bestId[endsAt]));
        results.Reverse();
        return results;
    }

    /// <summary>util.h OneCharLen: the length of a UTF-8 character from its lead byte.</summary>
    private static int OneCharLen(byte lead) => (lead >> 4) switch { < 0xC => 1, 0xC or 0xD => 2, 0xE => 3, _ => 4 };

    private static byte ByteOf(string piece) => byte.Parse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    private static void AppendUnescaped(ReadOnlySpan<byte> piece, List<byte> text)
    {
        while (!piece.IsEmpty)
        {
            if (piece.StartsWith(SpaceSymbol))
            {
                text.Add((byte)' ');
                piece = piece[SpaceSymbol.Length..];
            }
            else
            {
                text.Add(piece[0]);
                piece = piece[1..];
            }
        }
    }

    /// <summary>ProcessBytePieces: valid UTF-8 characters as they are, every byte that starts none as U+FFFD.</summary>
    private static void FlushBytes(List<byte> bytes, List<byte> text)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes);
        while (!span.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(span, out _, out int consumed) == System.Buffers.OperationStatus.Done)
            {
                text.AddRange(span[..consumed]);
                span = span[consumed..];
            }
            else
            {
                text.AddRange("\uFFFD"u8);
                span = span[1..];
            }
        }
        bytes.Clear();
    }
}
