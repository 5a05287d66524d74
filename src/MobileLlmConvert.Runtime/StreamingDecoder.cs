using System.Globalization;
using System.Text;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Turns generated ids into text incrementally, the way sentencepiece decodes a whole sequence:
/// '▁' becomes a space, the first space of the output (the dummy prefix) is dropped, control pieces
/// (BOS, EOS) produce nothing, and byte pieces &lt;0xXX&gt; are UTF-8 bytes. Bytes of a multi-byte
/// character that is not complete yet are held (a UTF-8 <see cref="Decoder"/> keeps them) until the
/// token that completes it arrives; invalid sequences become U+FFFD. A byte-level BPE vocabulary
/// decodes as Hugging Face's ByteLevel decoder does: each piece spells bytes in GPT-2's alphabet
/// (<see cref="ByteLevelAlphabet"/>), control pieces produce nothing, and there is no dummy prefix.
/// </summary>
public sealed class StreamingDecoder
{
    private const char SpaceMarker = '\u2581'; // sentencepiece's '▁'
    private const string UnknownText = " \u2047 "; // what sentencepiece prints for <unk>

    private readonly TokenizerIr _ir;
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private readonly byte[] _bytes = new byte[256];
    private readonly char[] _chars = new char[512];
    private bool _atStart;

    /// <param name="ir">The vocabulary.</param>
    /// <param name="startOfText">
    /// True when these ids begin the text, so the dummy-prefix space of the first piece is dropped;
    /// false when they continue text already shown (generation after a printed prompt keeps its space).
    /// </param>
    public StreamingDecoder(TokenizerIr ir, bool startOfText = true)
    {
        ArgumentNullException.ThrowIfNull(ir);
        _ir = ir;
        // Byte-level BPE adds no prefix space, so it has none to drop.
        _atStart = startOfText && ir.Kind == TokenizerKind.SentencePiece;
    }

    /// <summary>The text this token completes; empty while a multi-byte character is still incomplete.</summary>
    public string Push(int id)
    {
        if ((uint)id >= (uint)_ir.Count) throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary [0, {_ir.Count})");
        string piece = _ir.Pieces[id];
        if (_ir.Kind == TokenizerKind.ByteLevelBpe)
            return _ir.Types[id] is PieceType.Control or PieceType.Unused ? "" : EmitBytes(ByteLevelAlphabet.BytesOf(piece));
        switch (_ir.Types[id])
        {
            case PieceType.Control:
            case PieceType.Unused:
                return "";
            case PieceType.Byte when TryParseByte(piece, out byte b):
                _bytes[0] = b;
                return Emit(1, flush: false);
            case PieceType.Unknown:
                return Emit(Encoding.UTF8.GetBytes(UnknownText, _bytes), flush: false);
            default:
                var text = piece.Replace(SpaceMarker, ' ');
                // A normal piece starts a new character, so anything still held is invalid: the decoder emits U+FFFD for it.
                string prefix = Emit(0, flush: true);
                return prefix + EmitText(text);
        }
    }

    /// <summary>Text still held at the end of generation (an incomplete character becomes U+FFFD).</summary>
    public string Flush() => Emit(0, flush: true);

    private string EmitText(string text) => EmitBytes(Encoding.UTF8.GetBytes(text));

    private string EmitBytes(byte[] bytes)
    {
        var result = new StringBuilder();
        for (int i = 0; i < bytes.Length; i += _bytes.Length)
        {
            int n = Math.Min(_bytes.Length, bytes.Length - i);
            bytes.AsSpan(i, n).CopyTo(_bytes);
            result.Append(Emit(n, flush: false));
        }
        return result.ToString();
    }

    private string Emit(int byteCount, bool flush)
    {
        int n = _utf8.GetChars(_bytes, 0, byteCount, _chars, 0, flush);
        var span = _chars.AsSpan(0, n);
        if (_atStart && n > 0)
        {
            _atStart = false;
            if (span[0] == ' ') span = span[1..];
        }
        return new string(span);
    }

    private static bool TryParseByte(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
