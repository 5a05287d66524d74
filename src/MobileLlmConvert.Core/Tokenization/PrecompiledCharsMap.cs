using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MobileLlmConvert.Core.Tokenization;

/// <summary>A precompiled charsmap that cannot be interpreted safely; the sentencepiece reader names the file.</summary>
internal sealed class CharsMapFormatException(string field, string value, string reason) : Exception($"{field} = {value}: {reason}")
{
    public string Field { get; } = field;
    public string Value { get; } = value;
    public string Reason { get; } = reason;
}

/// <summary>
/// sentencepiece's <c>NormalizerSpec.precompiled_charsmap</c>: the normalization rules (nmt_nfkc, nfkc_cf,
/// a user's TSV...) compiled by the trainer into <c>&lt;trie size: u32 LE&gt;&lt;Darts-clone double array&gt;&lt;NUL-terminated
/// replacement strings&gt;</c> (google/sentencepiece src/normalizer.cc, EncodePrecompiledCharsMap /
/// DecodePrecompiledCharsMap; the trie is third_party/darts_clone/darts.h). Interpreted by hand: no .NET
/// library reads it (Microsoft.ML.Tokenizers 2.0.1 refuses "nmt_nfkc" for BPE models).
/// </summary>
/// <remarks>
/// Hostile input: <see cref="Parse"/> walks every unit reachable from the root once, checking each
/// unit index, each leaf's offset into the string blob, that the string is NUL-terminated and valid
/// UTF-8, and that no path loops. Because a lookup only ever visits reachable units,
/// <see cref="LongestMatch"/> cannot go out of bounds afterwards, and a lookup is bounded by the
/// depth of the (acyclic) automaton.
/// </remarks>
internal sealed class PrecompiledCharsMap
{
    /// <summary>The trainer's nmt_nfkc map is ~240 KB; 16 MB is far beyond any real rule set and bounds the walk.</summary>
    public const int MaxBlobBytes = 16 << 20;

    private const string Field = "normalizer_spec.precompiled_charsmap";
    private readonly uint[] _units;
    private readonly byte[] _strings;

    private PrecompiledCharsMap(uint[] units, byte[] strings)
    {
        _units = units;
        _strings = strings;
    }

    /// <summary>Decodes and fully validates a charsmap blob; throws <see cref="CharsMapFormatException"/>.</summary>
    public static PrecompiledCharsMap Parse(ReadOnlySpan<byte> blob)
    {
        if (blob.Length > MaxBlobBytes)
            throw Bad("length", blob.Length, $"exceeds the cap of {MaxBlobBytes} bytes");
        // DecodePrecompiledCharsMap: "Blob for normalization rule is broken." / "Trie data size exceeds the input blob size."
        if (blob.Length <= sizeof(uint))
            throw Bad("length", blob.Length, "too short to hold the 4-byte trie size and a trie");
        uint trieBytes = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieBytes >= (uint)blob.Length)
            throw Bad("trie size", trieBytes, $"exceeds the {blob.Length}-byte blob");
        // set_array(blob, size / unit_size): a ragged tail byte is ignored, as in sentencepiece.
        int count = (int)(trieBytes / sizeof(uint));
        if (count == 0)
            throw Bad("trie size", trieBytes, "the trie has no root unit");
        var units = new uint[count];
        for (int i = 0; i < count; i++)
            units[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob.Slice(sizeof(uint) + i * sizeof(uint)));
        var strings = blob[(sizeof(uint) + (int)trieBytes)..].ToArray();
        var map = new PrecompiledCharsMap(units, strings);
        map.Validate();
        return map;
    }

    /// <summary>
    /// The longest rule whose key is a prefix of <paramref name="input"/> (Normalizer::NormalizePrefix):
    /// the number of input bytes it consumes (0 when none matches) and its replacement, which may be empty.
    /// </summary>
    public int LongestMatch(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        replacement = default;
        int longest = 0;
        long node = Offset(_units[0]);
        for (int i = 0; i < input.Length; i++)
        {
            byte b = input[i];
            node ^= b;
            if (node >= _units.Length) return longest; // unreachable after Validate; kept so a bug cannot read out of bounds
            uint unit = _units[node];
            if (Label(unit) != b) break;
            node ^= Offset(unit);
            if (HasLeaf(unit))
            {
                longest = i + 1;
                replacement = String(Value(_units[node]));
            }
        }
        return longest;
    }

    private ReadOnlySpan<byte> String(uint offset)
    {
        var rest = _strings.AsSpan((int)offset);
        return rest[..rest.IndexOf((byte)0)];
    }

    /// <summary>
    /// Depth-first walk over every reachable unit, with the exact transitions of commonPrefixSearch.
    /// darts-clone shares common suffixes (its double array encodes a DAWG), so a unit may be reached
    /// by several paths; each is checked once. A path back to a unit still being walked is a cycle,
    /// which no trie has and which would make every lookup run to the end of the input.
    /// </summary>
    private void Validate()
    {
        const byte Open = 1, Done = 2; // 0: not reached yet
        var state = new byte[_units.Length];
        var nextLabel = new short[_units.Length];
        var utf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        var stack = new Stack<int>();
        state[0] = Open;
        stack.Push(0);
        while (stack.TryPeek(out int u))
        {
            long node = u ^ Offset(_units[u]);
            int b = nextLabel[u];
            long child = -1;
            for (; b < 256; b++)
            {
                long c = node ^ b;
                // Out of range: the walk stops there (a miss, not an error). Done: checked by another path.
                if (c >= _units.Length || Label(_units[c]) != (uint)b || state[c] == Done) continue;
                if (state[c] == Open)
                    throw Bad("trie unit", c, "lies on a cycle: the double array is not a trie");
                child = c;
                break;
            }
            if (child < 0)
            {
                state[u] = Done;
                stack.Pop();
                continue;
            }
            nextLabel[u] = (short)(b + 1);
            uint unit = _units[child];
            if (HasLeaf(unit)) CheckLeaf(child, child ^ Offset(unit), utf8);
            state[child] = Open;
            stack.Push((int)child);
        }
    }

    private void CheckLeaf(long unit, long leaf, UTF8Encoding utf8)
    {
        if (leaf >= _units.Length)
            throw Bad("trie unit", unit, $"its leaf unit {leaf} is outside the {_units.Length}-unit trie");
        uint value = Value(_units[leaf]);
        if (value >= (uint)_strings.Length)
            throw Bad("replacement offset", value, $"outside the {_strings.Length}-byte string table");
        var rest = _strings.AsSpan((int)value);
        int end = rest.IndexOf((byte)0);
        if (end < 0)
            throw Bad("replacement offset", value, "the replacement string is not NUL-terminated");
        try
        {
            utf8.GetCharCount(rest[..end]);
        }
        catch (DecoderFallbackException)
        {
            throw Bad("replacement offset", value, "the replacement string is not valid UTF-8");
        }
    }

    // DoubleArrayUnit (darts.h): bit 8 has_leaf, bits 0-7 label (bit 31 set on leaf units, so they
    // never match a byte), value = low 31 bits, offset = (unit >> 10) << (bit 9 ? 8 : 0).
    private static bool HasLeaf(uint unit) => ((unit >> 8) & 1) == 1;
    private static uint Value(uint unit) => unit & 0x7FFFFFFFu;
    private static uint Label(uint unit) => unit & 0x800000FFu;
    private static long Offset(uint unit) => (long)(unit >> 10) << (int)((unit & (1u << 9)) >> 6);

    private static CharsMapFormatException Bad(string what, long value, string reason) =>
        new($"{Field} ({what})", value.ToString(CultureInfo.InvariantCulture), reason);
}
