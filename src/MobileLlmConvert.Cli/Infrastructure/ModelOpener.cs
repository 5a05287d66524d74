using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Cli.Infrastructure;

public enum ModelKind
{
    HuggingFace,
    Gguf,
    Mobile,
}

/// <summary>
/// Opens any model a verb accepts — a Hugging Face directory, a .gguf file, a mobile bundle
/// directory or its model file — as an IR, by looking at what is on disk rather than trusting a
/// file extension alone. Lives in the CLI because it needs both Formats and the tokenizer glue.
/// </summary>
public static class ModelOpener
{
    private static ReadOnlySpan<byte> GgufMagic => "GGUF"u8;

    public static ModelKind Detect(string path)
    {
        if (Directory.Exists(path))
        {
            if (File.Exists(Path.Combine(path, MobileBundle.ManifestFileName)) || File.Exists(Path.Combine(path, MobileBundle.ModelFileName)))
                return ModelKind.Mobile;
            // Anything else is taken for a checkpoint: the importer names what is missing (config.json first).
            return ModelKind.HuggingFace;
        }
        if (!File.Exists(path)) throw new UsageException($"{path}: no such file or directory");
        Span<byte> head = stackalloc byte[8];
        int n;
        using (var s = InputFile.OpenRead(path)) n = s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (n >= 4 && head[..4].SequenceEqual(GgufMagic)) return ModelKind.Gguf;
        if (n >= MobileFormat.Magic.Length && head[..MobileFormat.Magic.Length].SequenceEqual(MobileFormat.Magic)) return ModelKind.Mobile;
        // A known extension with the wrong magic goes to that format's reader, whose error says
        // exactly what is wrong with the header (bad magic, truncated, ...).
        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) return ModelKind.Gguf;
        if (path.EndsWith(MobileFormat.FileExtension, StringComparison.OrdinalIgnoreCase)) return ModelKind.Mobile;
        throw new UsageException($"{path}: not a GGUF or mobile model file (unknown magic); for a Hugging Face checkpoint pass its directory");
    }

    /// <summary>
    /// Opens the model; the IR owns the mapped files (dispose it). <paramref name="hf"/> (`--family`)
    /// applies to Hugging Face checkpoints only: other formats store a resolved family.
    /// </summary>
    public static ModelIr Open(string path, HfImportOptions? hf = null)
    {
        var kind = Detect(path);
        if (kind != ModelKind.HuggingFace && hf?.Family is not null)
            throw new UsageException($"--family: {path} is a {kind} model, not a Hugging Face checkpoint; its family is stored in it");
        var ir = kind switch
        {
            ModelKind.HuggingFace => HfImporter.Import(path, options: hf),
            ModelKind.Gguf => GgufFile.Read(path, new ResourceBag()),
            _ => MobileBundle.Open(path, new ResourceBag()),
        };
        return WithTokenizerModel(ir);
    }

    /// <summary>
    /// Formats that store only the vocabulary (GGUF) leave the sentencepiece ModelProto empty; the
    /// executor's tokenizer needs one, so it is rebuilt from the vocabulary here.
    /// </summary>
    public static ModelIr WithTokenizerModel(ModelIr ir)
    {
        if (ir.Tokenizer is { Kind: TokenizerKind.SentencePiece, SentencePieceModel: null } tok)
            return ir with { Tokenizer = tok with { SentencePieceModel = SentencePieceModelFile.Build(tok) } };
        return ir;
    }
}
