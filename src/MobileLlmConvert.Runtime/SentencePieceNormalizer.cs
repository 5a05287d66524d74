using System.Text;
using MobileLlmConvert.Core.Tokenization;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// sentencepiece's Normalizer::Normalize (google/sentencepiece src/normalizer.cc), byte for byte over
/// UTF-8: user-defined symbols pass through untouched, everything else goes through the precompiled
/// charsmap (longest rule wins; nmt_nfkc, nfkc, their _cf variants and TSV rules are all charsmaps by
/// the time they reach a model file, so the normalizer's name plays no part), then the NormalizerSpec
/// flags: remove_extra_whitespaces (drop leading, trailing and repeated spaces), add_dummy_prefix (a
/// leading space) and escape_whitespaces (' ' becomes U+2581 '▁').
/// </summary>
internal sealed class SentencePieceNormalizer
{
    private static ReadOnlySpan<byte> SpaceSymbol => "\u2581"u8;
    private static ReadOnlySpan<byte> ReplacementChar => "\uFFFD"u8;

    private readonly PrecompiledCharsMap? _charsMap;
    private readonly PieceTrie? _userDefined;
    private readonly bool _addDummyPrefix, _removeExtraWhitespaces, _escapeWhitespaces;

    public SentencePieceNormalizer(SentencePieceSpec spec, PieceTrie? userDefinedSymbols)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.TreatWhitespaceAsSuffix)
            throw new InvalidOperationException("treat_whitespace_as_suffix is not supported (SentencePieceModelFile.Read refuses such models)");
        _charsMap = spec.PrecompiledCharsMap.Length == 0 ? null : PrecompiledCharsMap.Parse(spec.PrecompiledCharsMap);
        _userDefined = userDefinedSymbols;
        _addDummyPrefix = spec.AddDummyPrefix;
        _removeExtraWhitespaces = spec.RemoveExtraWhitespaces;
        _escapeWhitespaces = spec.EscapeWhitespaces;
    }

    /// <summary>The normalized UTF-8 text the model segments. Lone surrogates become U+FFFD.</summary>
    public byte[] Normalize(string text)
    {
        ReadOnlySpan<byte> input = Encoding.UTF8.GetBytes(text);
        var output = new List<byte>(input.Length * 3);
        if (input.IsEmpty) return [];

        if (_removeExtraWhitespaces)
        {
            // Leading spaces (after normalization: a rule may turn U+3000 into ' ') are dropped.
            while (!input.IsEmpty)
            {
                int consumed = NormalizePrefix(input, out var piece);
                if (!piece.SequenceEqual(" "u8)) break;
                input = input[consumed..];
            }
            if (input.IsEmpty) return [];
        }

        if (_addDummyPrefix) AddSpace(output);
        bool isPrevSpace = _removeExtraWhitespaces;
        while (!input.IsEmpty)
        {
            int consumed = NormalizePrefix(input, out var piece);
            while (isPrevSpace && !piece.IsEmpty && piece[0] == (byte)' ') piece = piece[1..];
            if (!piece.IsEmpty)
            {
                foreach (byte b in piece)
                {
                    if (b == (byte)' ') AddSpace(output);
                    else output.Add(b);
                }
                isPrevSpace = piece[^1] == (byte)' ';
            }
            input = input[consumed..];
            if (!_removeExtraWhitespaces) isPrevSpace = false;
        }

        if (_removeExtraWhitespaces)
        {
            ReadOnlySpan<byte> space = _escapeWhitespaces ? SpaceSymbol : " "u8;
            while (output.Count >= space.Length && EndsWith(output, space)) output.RemoveRange(output.Count - space.Length, space.Length);
        }
        return output.ToArray();
    }

    private void AddSpace(List<byte> output)
    {
        if (_escapeWhitespaces) output.AddRange(SpaceSymbol);
        else output.Add((byte)' ');
    }

    /// <summary>Normalizer::NormalizePrefix: the replacement for the longest rule at the start of input and the bytes it consumes.</summary>
    private int NormalizePrefix(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> piece)
    {
        if (_userDefined is not null)
        {
            int n = _userDefined.LongestPrefix(input);
            if (n > 0)
            {
                piece = input[..n];
                return n;
            }
        }
        if (_charsMap is not null)
        {
            int n = _charsMap.LongestMatch(input, out piece);
            if (n > 0) return n;
        }
        // No rule: one character as is; a malformed byte becomes U+FFFD and consumes one byte.
        if (Rune.DecodeFromUtf8(input, out _, out int length) == System.Buffers.OperationStatus.Done)
        {
            piece = input[..length];
            return length;
        }
        piece = ReplacementChar;
        return 1;
    }

    private static bool EndsWith(List<byte> output, ReadOnlySpan<byte> suffix)
    {
        for (int i = 0; i < suffix.Length; i++)
            if (output[output.Count - suffix.Length + i] != suffix[i]) return false;
        return true;
    }
}
