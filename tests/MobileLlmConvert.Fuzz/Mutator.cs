using System.Buffers.Binary;
using System.Text;
using MobileLlmConvert.Core.Synthetic;

namespace MobileLlmConvert.Fuzz;

/// <summary>
/// Coverage-less mutation in the style of libFuzzer's and AFL's havoc stage: bit flips, random and
/// "interesting" integers at offsets, arithmetic on integers, byte runs inserted and deleted, chunks
/// copied, a splice with another seed, truncation, and for JSON readers token-level edits (numbers
/// at the edges of every integer type, lone surrogates, invalid UTF-8, duplicate keys, type swaps,
/// deep nesting). Input <c>i</c> of a run is a pure function of (seeds, run seed, i), so a failure
/// is replayed from its two numbers alone.
/// </summary>
public static class Mutator
{
    /// <summary>Boundary values of 8/16/32/64-bit integers and the sizes parsers compare against (AFL's interesting values, widened).</summary>
    private static readonly long[] Interesting =
    [
        0, 1, -1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 33, 63, 64, 100, 127, 128, 255, 256, 512, 1000, 1023, 1024, 4096,
        32767, 32768, 65535, 65536, 100_000_000, int.MaxValue, int.MinValue, uint.MaxValue, 1L << 32, (1L << 32) + 1,
        1L << 40, 1L << 53, long.MaxValue, long.MinValue, long.MaxValue - 7,
    ];

    private static readonly string[] JsonNumbers =
    [
        "0", "-0", "-1", "1", "2", "0.5", "-2147483649", "2147483648", "4294967296", "9007199254740993",
        "9223372036854775807", "9223372036854775808", "18446744073709551616", "1e309", "-1e309", "1e-400",
        "1E2", "100000000", "1048576", "65536", "NaN", "Infinity", "00", "1.", "0x10", "1e", "--1",
    ];

    /// <summary>String replacements; byte arrays because some are deliberately not UTF-8.</summary>
    private static readonly byte[][] JsonStrings =
    [
        "\"\""u8.ToArray(), "\"\\ud800\""u8.ToArray(), "\"\\udc00x\""u8.ToArray(), "\"a\\ud800\\u0041\""u8.ToArray(),
        "\"\\ud83d\\ude00\""u8.ToArray(), "\"\\u0000\""u8.ToArray(), "\"\\\"\""u8.ToArray(), "\"..\""u8.ToArray(),
        "\"../x\""u8.ToArray(), "\"/etc/passwd\""u8.ToArray(), "\"a\\\\b\""u8.ToArray(), "\"F32\""u8.ToArray(),
        "\"BF16\""u8.ToArray(), "\"LlamaForCausalLM\""u8.ToArray(), "\"MobileLLMForCausalLM\""u8.ToArray(),
        "\"MobiLlamaForCausalLM\""u8.ToArray(), "\"model.layers.0.mlp.up_proj.weight\""u8.ToArray(),
        "\"__metadata__\""u8.ToArray(), "\"\\n\\r\\t\\u001b[31m\""u8.ToArray(),
        [(byte)'"', 0xC0, 0x80, (byte)'"'], [(byte)'"', 0xED, 0xA0, 0x80, (byte)'"'], [(byte)'"', 0xFF, (byte)'"'],
        [(byte)'"', 0xF4, 0x90, 0x80, 0x80, (byte)'"'], [(byte)'"', 0xE2, 0x82, (byte)'"'],
    ];

    private static readonly string[] JsonValues =
    [
        "null", "true", "false", "{}", "[]", "[1]", "[-1, 0]", "[0, 18446744073709551615]", "{\"a\": 1}", "[[]]",
        new string('[', 70) + new string(']', 70), new string('[', 20) + new string(']', 20), "\"" + new string('a', 5000) + "\"",
    ];

    /// <summary>The input for index <paramref name="index"/> of a run.</summary>
    public static byte[] Generate(IReadOnlyList<FuzzSeed> seeds, bool json, ulong runSeed, long index)
    {
        var rng = new SplitMix64(runSeed ^ unchecked((ulong)index * 0xD1B54A32D192ED03UL));
        var seed = seeds[(int)Below(ref rng, seeds.Count)];
        // One private copy up front: the fixed-size edits below then work in place, and only the
        // edits that change the length allocate (inputs of a few hundred KB live on the large object heap).
        var data = (byte[])seed.Bytes.Clone();
        int stack = 1 + (int)Below(ref rng, 4);
        if (Below(ref rng, 8) == 0) stack += (int)Below(ref rng, 12);
        for (int i = 0; i < stack; i++)
        {
            // JSON targets get token-level edits half of the time: byte edits mostly stop at the syntax check.
            int op = json && Below(ref rng, 2) == 0 ? 11 : (int)Below(ref rng, 11);
            data = op switch
            {
                0 => FlipBit(data, seed, ref rng),
                1 => SetByte(data, seed, ref rng),
                2 => SetInteresting(data, seed, ref rng),
                3 => AddDelta(data, seed, ref rng),
                4 => InsertBytes(data, seed, ref rng),
                5 => DeleteRange(data, seed, ref rng),
                6 => CopyChunk(data, seed, ref rng, insert: true),
                7 => CopyChunk(data, seed, ref rng, insert: false),
                8 => Splice(data, seeds, ref rng),
                9 => data.Length == 0 ? data : data[..(int)Below(ref rng, data.Length)],
                10 => SetInteresting(data, seed, ref rng),
                _ => MutateJson(data, seed, ref rng),
            };
        }
        return data;
    }

    private static ulong Next(ref SplitMix64 rng) => rng.NextUInt64();

    private static long Below(ref SplitMix64 rng, long n) => n <= 0 ? 0 : (long)(rng.NextUInt64() % (ulong)n);

    /// <summary>An offset in <paramref name="data"/>, in the seed's hot range three times in four when that range still exists.</summary>
    private static int Position(byte[] data, FuzzSeed seed, ref SplitMix64 rng)
    {
        if (data.Length == 0) return 0;
        if (Below(ref rng, 4) != 0 && seed.HotStart < data.Length)
        {
            int length = Math.Min(seed.HotLength, data.Length - seed.HotStart);
            if (length > 0) return seed.HotStart + (int)Below(ref rng, length);
        }
        return (int)Below(ref rng, data.Length);
    }

    private static byte[] FlipBit(byte[] data, FuzzSeed seed, ref SplitMix64 rng)
    {
        if (data.Length == 0) return data;
        data[Position(data, seed, ref rng)] ^= (byte)(1 << (int)Below(ref rng, 8));
        return data;
    }

    private static byte[] SetByte(byte[] data, FuzzSeed seed, ref SplitMix64 rng)
    {
        if (data.Length == 0) return data;
        data[Position(data, seed, ref rng)] = (byte)Next(ref rng);
        return data;
    }

    private static byte[] SetInteresting(byte[] data, FuzzSeed seed, ref SplitMix64 rng)
    {
        int width = 1 << (int)Below(ref rng, 4);
        if (data.Length < width) return data;
        int at = Math.Min(Position(data, seed, ref rng), data.Length - width);
        WriteInt(data.AsSpan(at, width), Interesting[Below(ref rng, Interesting.Length)]);
        return data;
    }

    private static byte[] AddDelta(byte[] data, FuzzSeed seed, ref SplitMix64 rng)
    {
        int width = 1 << (int)Below(ref rng, 4);
        if (data.Length < width) return data;
        int at = Math.Min(Position(data, seed, ref rng), data.Length - width);
        var span = data.AsSpan(at, width);
        long delta = Below(ref rng, 2) == 0 ? 1 + Below(ref rng, 35) : -1 - Below(ref rng, 35);
        WriteInt(span, ReadInt(span) + delta);
        return data;
    }

    private static byte[] InsertBytes(byte[] data, FuzzSeed seed, ref SplitMix64 rng)
    {
        int at = Position(data, seed, ref rng);
        var run = new byte[1 + Below(ref rng, 16)];
        if (Below(ref rng, 2) == 0) Array.Fill(run, (byte)Next(ref rng));
        else for (int i = 0; i < run.Length; i++) run[i] = (byte)Next(ref rng);
        return [.. data.AsSpan(0, at), .. run, .. data.AsSpan(at)];
    }

    private static byte[] DeleteRange(byte[] data, FuzzSeed seed, ref SplitMix64 rng)
    {
        if (data.Length == 0) return data;
        int at = Position(data, seed, ref rng);
        int length = (int)Math.Min(1 + Below(ref rng, 32), data.Length - at);
        return [.. data.AsSpan(0, at), .. data.AsSpan(at + length)];
    }

    private static byte[] CopyChunk(byte[] data, FuzzSeed seed, ref SplitMix64 rng, bool insert)
    {
        if (data.Length < 2) return data;
        int from = (int)Below(ref rng, data.Length);
        int length = (int)Math.Min(1 + Below(ref rng, 64), data.Length - from);
        var chunk = data.AsSpan(from, length).ToArray();
        int to = Position(data, seed, ref rng);
        if (insert) return [.. data.AsSpan(0, to), .. chunk, .. data.AsSpan(to)];
        chunk.AsSpan(0, Math.Min(chunk.Length, data.Length - to)).CopyTo(data.AsSpan(to));
        return data;
    }

    /// <summary>A prefix of this input and a suffix of another seed: valid starts with foreign ends (a header from one file, data from another).</summary>
    private static byte[] Splice(byte[] data, IReadOnlyList<FuzzSeed> seeds, ref SplitMix64 rng)
    {
        var other = seeds[(int)Below(ref rng, seeds.Count)].Bytes;
        int cut = (int)Below(ref rng, data.Length + 1);
        int otherCut = Math.Min(other.Length, cut + (int)Below(ref rng, 65) - 32);
        return [.. data.AsSpan(0, cut), .. other.AsSpan(Math.Max(0, otherCut))];
    }

    private static void WriteInt(Span<byte> span, long value)
    {
        switch (span.Length)
        {
            case 1: span[0] = (byte)value; break;
            case 2: BinaryPrimitives.WriteInt16LittleEndian(span, (short)value); break;
            case 4: BinaryPrimitives.WriteInt32LittleEndian(span, (int)value); break;
            default: BinaryPrimitives.WriteInt64LittleEndian(span, value); break;
        }
    }

    private static long ReadInt(ReadOnlySpan<byte> span) => span.Length switch
    {
        1 => span[0],
        2 => BinaryPrimitives.ReadInt16LittleEndian(span),
        4 => BinaryPrimitives.ReadInt32LittleEndian(span),
        _ => BinaryPrimitives.ReadInt64LittleEndian(span),
    };

    private static byte[] MutateJson(byte[] data, FuzzSeed seed, ref SplitMix64 rng)
    {
        // Only the hot range is JSON (a safetensors file is a JSON header then tensor bytes).
        int end = (int)Math.Min(data.Length, (long)seed.HotStart + seed.HotLength);
        var tokens = JsonTokens.Scan(data.AsSpan(0, end));
        if (tokens.Count == 0) return data;
        var t = tokens[(int)Below(ref rng, tokens.Count)];
        byte[] Replace(JsonTokens.Token at, ReadOnlySpan<byte> with) => [.. data.AsSpan(0, at.Start), .. with, .. data.AsSpan(at.End)];
        switch (Below(ref rng, 7))
        {
            case 0 when t.Kind == JsonTokens.Kind.Number:
                return Replace(t, Encoding.ASCII.GetBytes(JsonNumbers[Below(ref rng, JsonNumbers.Length)]));
            case 1 when t.Kind == JsonTokens.Kind.String:
                return Replace(t, JsonStrings[Below(ref rng, JsonStrings.Length)]);
            case 2 when t.Kind != JsonTokens.Kind.Punctuation:
                return Replace(t, Encoding.ASCII.GetBytes(JsonValues[Below(ref rng, JsonValues.Length)]));
            case 3:
            {
                // Duplicate a key: insert `"key": <scalar>,` in front of a key of the same object.
                int i = tokens.IndexOf(t);
                if (t.Kind != JsonTokens.Kind.String || i + 1 >= tokens.Count || data[tokens[i + 1].Start] != (byte)':') break;
                var key = data.AsSpan(t.Start, t.End - t.Start);
                byte[] member = [.. key, .. ": "u8, .. Encoding.ASCII.GetBytes(JsonNumbers[Below(ref rng, JsonNumbers.Length)]), .. ", "u8];
                return [.. data.AsSpan(0, t.Start), .. member, .. data.AsSpan(t.Start)];
            }
            case 4:
                return Replace(t, []);
            case 5:
            {
                var u = tokens[(int)Below(ref rng, tokens.Count)];
                if (u.Start <= t.Start) break;
                return [.. data.AsSpan(0, t.Start), .. data.AsSpan(u.Start, u.End - u.Start), .. data.AsSpan(t.End, u.Start - t.End),
                    .. data.AsSpan(t.Start, t.End - t.Start), .. data.AsSpan(u.End)];
            }
            default:
                return [.. data.AsSpan(0, t.Start), (byte)"{}[],:\"\\"[(int)Below(ref rng, 8)], .. data.AsSpan(t.Start)];
        }
        return Replace(t, Encoding.ASCII.GetBytes(JsonValues[Below(ref rng, JsonValues.Length)]));
    }
}
