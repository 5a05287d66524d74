using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>
/// The source checkpoint hash a bundle manifest records: SHA-256 over the files of a Hugging Face
/// checkpoint directory that decide the converted model. Hashed (top level only, symlinks followed
/// by <see cref="HfCheckpointDir"/>'s rule, as the importer follows them; a cache repo folder is read
/// through refs/main): <c>config.json</c>; the tokenizer files
/// <c>tokenizer.model</c>, <c>tokenizer.json</c>, <c>tokenizer_config.json</c>,
/// <c>special_tokens_map.json</c>; every weight file (<c>*.safetensors</c>, <c>*.bin</c>) and index
/// (<c>*.index.json</c>). Not hashed: <c>generation_config.json</c> (sampling defaults), READMEs,
/// licences, code. For each file in ordinal order of its name the hash takes the UTF-8 name, one
/// zero byte, the length as a little-endian u64, then the bytes: the framing makes the digest
/// depend on which file holds which bytes, not just on their concatenation.
/// </summary>
public static class CheckpointHash
{
    private static readonly string[] NamedFiles =
        ["config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

    private static readonly string[] Suffixes = [".safetensors", ".bin", ".index.json"];

    /// <summary>The files <see cref="Compute"/> hashes, in the order it hashes them (names relative to the directory).</summary>
    public static IReadOnlyList<string> Files(string hfDir) => Files(HfCheckpointDir.Open(hfDir));

    private static List<string> Files(HfCheckpointDir dir)
    {
        if (dir.TryResolveFile("config.json") is null)
            throw new FileNotFoundException($"{dir.Folder}: no config.json: not a Hugging Face checkpoint directory", Path.Combine(dir.Folder, "config.json"));
        return Directory.EnumerateFiles(dir.Folder)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => NamedFiles.Contains(n, StringComparer.Ordinal) || Suffixes.Any(s => n.EndsWith(s, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Lower-case hex SHA-256 of the checkpoint (see the class remarks for exactly what is hashed).</summary>
    public static string Compute(string hfDir)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        Span<byte> frame = stackalloc byte[9];
        var dir = HfCheckpointDir.Open(hfDir);
        foreach (var name in Files(dir))
        {
            using var stream = new FileStream(dir.ResolveFile(name), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            hash.AppendData(Encoding.UTF8.GetBytes(name));
            frame[0] = 0;
            BinaryPrimitives.WriteUInt64LittleEndian(frame[1..], (ulong)stream.Length);
            hash.AppendData(frame);
            int n;
            while ((n = stream.Read(buffer)) > 0) hash.AppendData(buffer.AsSpan(0, n));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Lower-case hex SHA-256 of one file's bytes (bundle manifests).</summary>
    public static string FileSha256(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
