using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>
/// Reads GGUF files: <see cref="ReadMetadata(string)"/> for the header alone (`inspect`), <see cref="Read"/>
/// for a model IR whose tensors are lazy slices of the memory-mapped file.
/// </summary>
/// <remarks>Format, our own keys and every rule with its error kind: formats/gguf.md.</remarks>
public static class GgufFile
{
    /// <summary>Parses and validates the header (keys, tensor infos, data layout) without building a model.</summary>
    public static GgufMetadata ReadMetadata(string path)
    {
        using var file = new MappedFile(path);
        return Parse(file, path);
    }

    /// <summary>
    /// Parses a header held in memory (fuzzing entry point; <paramref name="name"/> stands for the file in messages).
    /// The bytes are the whole file: the data-section rules apply to them.
    /// </summary>
    public static GgufMetadata ReadMetadata(ReadOnlySpan<byte> bytes, string name = "(memory)") =>
        GgufParser.Parse(bytes[..(int)Math.Min(bytes.Length, GgufConstants.MaxHeaderBytes)], bytes.Length, name);

    /// <summary>
    /// Reads a llama-architecture GGUF into the IR. With our mobilellmconvert.* keys the shared IR is
    /// rebuilt exactly; without them (a file from llama.cpp's converter) a plain Llama IR results.
    /// GGUF stores a sentencepiece vocabulary, not its ModelProto: the returned IR carries one rebuilt
    /// from the vocabulary, so a tokenizer can be made from it like from any other reader's IR.
    /// The mapped file is added to <paramref name="resources"/>, which the returned IR also holds.
    /// </summary>
    public static ModelIr Read(string path, ResourceBag resources)
    {
        var file = new MappedFile(path);
        try
        {
            var metadata = Parse(file, path);
            var ir = GgufIrBuilder.Build(metadata, file, resources);
            resources.Add(file);
            return SentencePieceModelFile.WithModelProto(ir);
        }
        catch
        {
            // A rejected file is unmapped at once: a long-running caller must not collect mappings of bad inputs.
            file.Dispose();
            throw;
        }
    }

    private static GgufMetadata Parse(MappedFile file, string path)
    {
        long window = Math.Min(file.Length, GgufConstants.MaxHeaderBytes);
        return GgufParser.Parse(file.Span(0, window), file.Length, path);
    }
}
