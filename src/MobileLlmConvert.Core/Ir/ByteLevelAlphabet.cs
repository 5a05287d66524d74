namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// GPT-2's byte-to-character table: byte-level BPE spells every byte as one printable character so
/// pieces are text (openai/gpt-2 src/encoder.py bytes_to_unicode; Hugging Face tokenizers
/// pre_tokenizers/byte_level.rs). Printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100 onwards in byte order (space, 0x20, becomes 'Ġ' U+0120).
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte = Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    public static char CharOf(byte b) => ByteToChar[b];

    /// <summary>
    /// The bytes a piece spells, as Hugging Face's ByteLevel decoder takes them: each character's byte,
    /// or, when some character is outside the alphabet (an added token such as "&lt;|im_start|&gt;" is
    /// inside it, but one with other characters is not), the piece's own UTF-8 bytes.
    /// </summary>
    public static byte[] BytesOf(string piece)
    {
        var bytes = new byte[piece.Length];
        for (int i = 0; i < piece.Length; i++)
        {
            if (!CharToByte.TryGetValue(piece[i], out bytes[i])) return System.Text.Encoding.UTF8.GetBytes(piece);
        }
        return bytes;
    }

    private static char[] BuildTable()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }
}
