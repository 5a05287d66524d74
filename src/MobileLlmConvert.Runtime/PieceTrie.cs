namespace MobileLlmConvert.Runtime;

/// <summary>
/// A byte trie over UTF-8 pieces, standing in for the Darts-clone tries sentencepiece builds over its
/// vocabulary (unigram_model.cc BuildTrie, the user-defined PrefixMatcher in normalizer.cc): exact
/// lookup, longest prefix, and every prefix match in order of length. Built only from a validated
/// vocabulary (pieces at most SentencePieceModelFile.MaxPieceBytes long), so a walk is that short.
/// </summary>
internal sealed class PieceTrie
{
    private readonly Dictionary<long, int> _children = [];
    private readonly List<int> _values = [-1]; // node 0 is the root

    public int Count { get; private set; }

    public void Add(ReadOnlySpan<byte> key, int value)
    {
        int node = 0;
        foreach (byte b in key)
        {
            long edge = ((long)node << 8) | b;
            if (!_children.TryGetValue(edge, out int child))
            {
                child = _values.Count;
                _values.Add(-1);
                _children.Add(edge, child);
            }
            node = child;
        }
        if (_values[node] < 0) Count++;
        _values[node] = value;
    }

    /// <summary>The value stored for exactly <paramref name="key"/>, or -1.</summary>
    public int Find(ReadOnlySpan<byte> key)
    {
        int node = 0;
        foreach (byte b in key)
            if (!_children.TryGetValue(((long)node << 8) | b, out node)) return -1;
        return _values[node];
    }

    /// <summary>Length in bytes of the longest key that is a prefix of <paramref name="text"/>, 0 when none.</summary>
    public int LongestPrefix(ReadOnlySpan<byte> text)
    {
        int node = 0, longest = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (!_children.TryGetValue(((long)node << 8) | text[i], out node)) break;
            if (_values[node] >= 0) longest = i + 1;
        }
        return longest;
    }

    /// <summary>Every key that is a prefix of <paramref name="text"/>, shortest first, as (length, value) into <paramref name="matches"/>.</summary>
    public void PrefixMatches(ReadOnlySpan<byte> text, List<(int Length, int Value)> matches)
    {
        matches.Clear();
        int node = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (!_children.TryGetValue(((long)node << 8) | text[i], out node)) return;
            if (_values[node] >= 0) matches.Add((i + 1, _values[node]));
        }
    }
}
