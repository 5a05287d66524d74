using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats.Torch;
using MobileLlmConvert.Tests.Fixtures;
using MobileLlmConvert.Tests.TestSupport;

namespace MobileLlmConvert.Tests.Torch;

/// <summary>
/// Deterministic mutation runs over the torch reader (its fuzz target): whatever the bytes of a real
/// torch.save file, opening and reading every tensor either succeeds or throws TorchFormatException.
/// Edits land in data.pkl, the headers and the central directory, where the parser looks.
/// </summary>
public sealed class TorchMutationTests
{
    private const int Rounds = 1500;
    /// <summary>Bytes the pickle and zip parsers branch on: opcodes, newline, PROTO, TUPLE1-3, 0xff (size escapes).</summary>
    private static readonly byte[] Opcodes = [.. "()tRQqhKJXc}]us.\n"u8, 0x80, 0x85, 0x86, 0x87, 0xff];

    [Theory]
    [InlineData("dtypes.bin", 11UL)]
    [InlineData("mobilellm-tiny-bin/pytorch_model.bin", 12UL)]
    public void MutantsOnlyEverThrowTorchFormatException(string fixture, ulong seed)
    {
        var original = File.ReadAllBytes(Path.Combine(FixtureCatalog.RepoRoot, "testdata", "torch", fixture));
        // Where the structure is: the first local header + data.pkl, and the central directory at the end.
        int pkl = Math.Min(original.Length, 2048);
        int tail = Math.Min(original.Length, 1500);
        var rng = new SplitMix64(seed);
        using var dir = new TempDir();
        string path = dir.File("m.bin");
        int rejected = 0, accepted = 0;
        for (int round = 0; round < Rounds; round++)
        {
            var bytes = (byte[])original.Clone();
            int edits = 1 + (int)(rng.NextUInt64() % 4);
            for (int e = 0; e < edits; e++)
            {
                bool head = rng.NextUInt64() % 2 == 0;
                int at = head ? (int)(rng.NextUInt64() % (ulong)pkl) : bytes.Length - 1 - (int)(rng.NextUInt64() % (ulong)tail);
                bytes[at] = (rng.NextUInt64() % 3) switch
                {
                    0 => (byte)rng.NextUInt64(),
                    1 => Opcodes[(int)(rng.NextUInt64() % (ulong)Opcodes.Length)],
                    _ => (byte)(bytes[at] ^ (1 << (int)(rng.NextUInt64() % 8))),
                };
            }
            if (rng.NextUInt64() % 10 == 0) Array.Resize(ref bytes, (int)(rng.NextUInt64() % (ulong)bytes.Length));
            File.WriteAllBytes(path, bytes);
            try
            {
                using var f = TorchFile.Open(path);
                foreach (var entry in f.Entries)
                {
                    if (f.StorageTypeOf(entry.Name).ElementType is null) continue;
                    f.GetTensor(entry.Name).Source.ToArray();
                }
                accepted++;
            }
            catch (TorchFormatException) { rejected++; }
        }
        Assert.InRange(rejected, Rounds / 10, Rounds);
        Assert.Equal(Rounds, rejected + accepted);
    }
}
