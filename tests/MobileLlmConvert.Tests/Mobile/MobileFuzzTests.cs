using Google.Protobuf;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats.Mobile;
using static MobileLlmConvert.Tests.Mobile.HostileFiles;
using static MobileLlmConvert.Tests.Mobile.MobileTestModels;

namespace MobileLlmConvert.Tests.Mobile;

/// <summary>
/// A small deterministic fuzz run of the reader: damaged files must fail with a
/// <see cref="MobileFormatException"/> (or read, if the damage is harmless), never with another
/// exception. <see cref="FuzzOne"/> is the entry point an external fuzzer would call.
/// </summary>
public class MobileFuzzTests
{
    /// <summary>Parses arbitrary bytes; returns the error kind, or null when the file reads.</summary>
    internal static MobileError? FuzzOne(byte[] bytes)
    {
        try
        {
            var model = ReadBytes(bytes);
            foreach (var t in model.Ir.Tensors) _ = t.Source.Read().Length;
            return null;
        }
        catch (MobileFormatException e)
        {
            return e.Kind;
        }
    }

    [Fact]
    public void Random_byte_damage_anywhere_gives_format_errors_only()
    {
        var rng = new SplitMix64(11);
        var kinds = new HashSet<MobileError?>();
        for (int i = 0; i < 300; i++)
        {
            var b = Copy();
            int flips = 1 + (int)(rng.NextUInt64() % 4);
            for (int f = 0; f < flips; f++) b[(int)(rng.NextUInt64() % (ulong)b.Length)] ^= (byte)(1 + rng.NextUInt64() % 255);
            if (i % 10 == 0) b = b[..(int)(rng.NextUInt64() % (ulong)b.Length)];
            kinds.Add(FuzzOne(b));
        }
        Assert.Contains(MobileError.SectionChecksumMismatch, kinds);
        Assert.Contains(MobileError.Truncated, kinds);
    }

    [Fact]
    public void Random_damage_to_a_resigned_header_gives_format_errors_only()
    {
        var rng = new SplitMix64(12);
        long offset = HeaderOffset(Valid.Value);
        var header = Valid.Value[(int)offset..];
        var kinds = new HashSet<MobileError?>();
        for (int i = 0; i < 400; i++)
        {
            var h = (byte[])header.Clone();
            int flips = 1 + (int)(rng.NextUInt64() % 3);
            for (int f = 0; f < flips; f++) h[(int)(rng.NextUInt64() % (ulong)h.Length)] ^= (byte)(1 + rng.NextUInt64() % 255);
            kinds.Add(FuzzOne(WithHeaderBytes(h)));
        }
        // Damage past the checksum reaches the parser and the rules behind it.
        Assert.Contains(MobileError.HeaderParse, kinds);
        Assert.True(kinds.Count >= 5, "kinds seen: " + string.Join(", ", kinds));
    }

    [Fact]
    public void A_fuzzed_but_valid_protobuf_header_is_still_checked()
    {
        var header = Header(Valid.Value);
        header.Tensors[5].Data.RawLength = ulong.MaxValue;
        Assert.Equal(MobileError.BadSectionLength, FuzzOne(WithHeaderBytes(header.ToByteArray())));
    }
}
