using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>Where one section lies in a mobile file (for inspect, tests and tools).</summary>
public sealed record MobileSectionInfo(string Name, long Offset, long StoredLength, long RawLength, bool Lz4);

/// <summary>A mobile file as read: the IR plus what the format carries beside it.</summary>
public sealed record MobileModel(ModelIr Ir, IReadOnlyDictionary<string, string> Metadata, IReadOnlyList<MobileSectionInfo> Sections, long FileBytes);

/// <summary>
/// Reads mobile model files (formats/mobile/SPEC.md). The file is memory-mapped: raw sections become
/// zero-copy <see cref="MappedSource"/>s, LZ4 sections are decoded once into owned memory.
/// </summary>
/// <remarks>Spec: formats/mobile/SPEC.md; header schema: formats/mobile/mobile_model.proto.</remarks>
public static class MobileFile
{
    /// <summary>Reads a mobile file into an IR whose mapped file is added to <paramref name="resources"/>.</summary>
    /// <exception cref="MobileFormatException">The file breaks a rule of the spec.</exception>
    public static ModelIr Read(string path, ResourceBag resources, bool verifyChecksums = true) =>
        Load(path, resources, verifyChecksums).Ir;

    /// <summary>Like <see cref="Read"/>, also returning metadata and the section layout.</summary>
    public static MobileModel Load(string path, ResourceBag resources, bool verifyChecksums = true)
    {
        var mapped = new MappedFile(path);
        try
        {
            var model = new MobileReader(new FileBytes.Mapped(mapped), path, verifyChecksums).Read(resources);
            resources.Add(mapped);
            return model;
        }
        catch
        {
            mapped.Dispose();
            throw;
        }
    }

    /// <summary>Parses a file held in memory (fuzzing and tests); sections are slices of <paramref name="bytes"/>.</summary>
    internal static MobileModel Load(byte[] bytes, string name, bool verifyChecksums = true) =>
        new MobileReader(new FileBytes.Memory(bytes), name, verifyChecksums).Read(new ResourceBag());

    /// <summary>True when the file starts with the mobile magic (for format detection; reads 8 bytes).</summary>
    public static bool HasMagic(string path)
    {
        Span<byte> head = stackalloc byte[8];
        using var stream = Core.IO.InputFile.OpenRead(path);
        return stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) == head.Length && head.SequenceEqual(MobileFormat.Magic);
    }
}
