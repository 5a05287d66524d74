using System.Text;
using Google.Protobuf;
using K4os.Compression.LZ4;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Mobile.Proto;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Formats.Mobile;

/// <summary>How <see cref="MobileWriter"/> writes a file.</summary>
public sealed record MobileWriteOptions
{
    /// <summary>No metadata, no progress, automatic compression.</summary>
    public static MobileWriteOptions Default { get; } = new();

    /// <summary>Free-form string metadata stored in the header (sorted by key; no timestamps are added).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>Receives write progress, or null.</summary>
    public IProgress<ConversionProgress>? Progress { get; init; }
    /// <summary>Whether sections are LZ4-compressed.</summary>
    public MobileCompressionMode Compression { get; init; } = MobileCompressionMode.Auto;
}

/// <summary>What was written: for summaries and tests.</summary>
public sealed record MobileWriteResult(long FileBytes, int Sections, int CompressedSections, long RawSectionBytes, long StoredSectionBytes);

/// <summary>
/// Writes a <see cref="ModelIr"/> as a mobile model file (formats/mobile/SPEC.md) in one pass:
/// tensor by tensor from each <see cref="TensorSource"/> (a computed source is materialized once,
/// into one of two reused buffers, <see cref="TensorPipeline"/>), then the protobuf header, then the fixed header at offset 0. Output
/// bytes depend only on the IR and the options.
/// </summary>
public static class MobileWriter
{
    /// <summary>Fast LZ4 for tensors (tens of MB, rarely compressible); HC for the small, very compressible tokenizer.</summary>
    private const LZ4Level TensorLevel = LZ4Level.L00_FAST;
    private const LZ4Level TokenizerLevel = LZ4Level.L09_HC;

    /// <summary>Writes <paramref name="ir"/> as a mobile model file to <paramref name="output"/> and returns what was written.</summary>
    public static MobileWriteResult Write(ModelIr ir, Stream output, MobileWriteOptions? options = null)
    {
        options ??= MobileWriteOptions.Default;
        if (!output.CanWrite || !output.CanSeek)
            throw new ArgumentException("the mobile writer needs a writable, seekable stream: the fixed header is written last", nameof(output));
        CheckWritable(ir, options);
        byte[]? tokenizerModel = ir.Tokenizer is { } t0
            ? t0.Kind == TokenizerKind.ByteLevelBpe ? TokenizerJson(t0, ir.SourcePath ?? "(ir)") : TokenizerModel(t0, ir.SourcePath ?? "(ir)")
            : null;

        var writer = new SectionWriter(output, output.Position);
        writer.Write(new byte[MobileFormat.FixedHeaderBytes]); // placeholder, rewritten at the end
        var header = new MobileHeader { Config = EncodeConfig(ir.Config), Plan = EncodePlan(ir) };
        bool compress = options.Compression == MobileCompressionMode.Auto;
        int compressed = 0;
        long rawBytes = 0, storedBytes = 0;
        void Count(Section s)
        {
            if (s.Compression == Compression.Lz4) compressed++;
            rawBytes += (long)s.RawLength;
            storedBytes += (long)s.StoredLength;
        }

        long total = ir.StoredBytes, done = 0;
        // Tensors are computed on every core one tensor ahead of this thread, which compresses,
        // hashes and writes the previous one (TensorPipeline): the same bytes as one at a time.
        TensorPipeline.Run(ir.Tensors.Select(t => t.Source).ToList(), (i, bytes) =>
        {
            var t = ir.Tensors[i];
            var info = t.Type.Info();
            // Quantized blocks are near-incompressible and must stay mappable: never even tried.
            var level = compress && !info.IsQuantized ? TensorLevel : (LZ4Level?)null;
            var section = writer.WriteSection(bytes, level);
            Count(section);
            var entry = new TensorEntry
            {
                Name = t.Name,
                Type = MobileFormat.ToCode(t.Type),
                BlockValues = (uint)info.BlockValues,
                BlockBytes = (uint)info.BlockBytes,
                Data = section,
            };
            entry.Shape.AddRange(t.Shape);
            header.Tensors.Add(entry);
            done += t.ByteLength;
            options.Progress?.Report(new ConversionProgress("write", done, total, t.Name));
        });

        if (ir.Tokenizer is { } tok)
        {
            header.Tokenizer = WriteTokenizer(writer, tok, tokenizerModel!, compress ? TokenizerLevel : null, Count);
        }
        if (options.Metadata is { } metadata)
        {
            foreach (var key in metadata.Keys.Order(StringComparer.Ordinal))
            {
                header.Metadata.Add(new MetadataEntry { Key = key, Value = metadata[key] });
            }
        }

        var headerBytes = header.ToByteArray();
        if (headerBytes.Length > MobileFormat.MaxHeaderBytes)
            throw new InvalidOperationException($"mobile header of {headerBytes.Length} bytes exceeds the {MobileFormat.MaxHeaderBytes}-byte cap readers enforce");
        writer.PadToAlignment();
        long headerOffset = writer.Position;
        writer.Write(headerBytes);
        writer.WriteFixedHeader(headerOffset, headerBytes);
        output.Flush();
        int sections = header.Tensors.Count + (ir.Tokenizer is null ? 0 : CountTokenizerSections(header.Tokenizer));
        return new MobileWriteResult(writer.Position, sections, compressed, rawBytes, storedBytes);
    }

    private static int CountTokenizerSections(Proto.Tokenizer t) =>
        1 + (t.TokenizerConfig is null ? 0 : 1);

    /// <summary>
    /// A byte-level BPE tokenizer's stored form: the canonical tokenizer.json, checked to read back
    /// (with the reader's own parser) to exactly the IR's pieces, types, merges and pre-tokenizer.
    /// </summary>
    private static byte[] TokenizerJson(TokenizerIr tok, string path)
    {
        var bytes = HfTokenizerJson.Build(tok);
        HfTokenizerJson.Vocabulary parsed;
        try
        {
            parsed = HfTokenizerJson.ReadVocabulary(bytes, path);
        }
        catch (HfTokenizerException e)
        {
            throw new ArgumentException($"the tokenizer's tokenizer.json would not read back: {e.Message}", e);
        }
        if (!parsed.Pieces.SequenceEqual(tok.Pieces) || !parsed.Types.SequenceEqual(tok.Types)
            || !parsed.Merges.SequenceEqual(tok.Merges!) || parsed.PreTokenizer != tok.PreTokenizer)
            throw new ArgumentException("the tokenizer's pieces, types, merges or pre-tokenizer do not survive its tokenizer.json (e.g. a user-defined piece)");
        return bytes;
    }

    /// <summary>A writer never produces a file its reader rejects: the IR is checked against the same rules first.</summary>
    private static void CheckWritable(ModelIr ir, MobileWriteOptions options)
    {
        IrValidator.Validate(ir, ir.SourcePath ?? "(ir)");
        if (ir.Tensors.Count > MobileFormat.MaxTensors) throw new ArgumentException($"{ir.Tensors.Count} tensors exceed the cap of {MobileFormat.MaxTensors}");
        if (ir.Steps.Count > MobileFormat.MaxSteps) throw new ArgumentException($"{ir.Steps.Count} steps exceed the cap of {MobileFormat.MaxSteps}");
        if (ir.Config.Architecture.Length is 0 or > MobileFormat.MaxArchitectureChars)
            throw new ArgumentException($"architecture \"{ir.Config.Architecture}\" must have 1..{MobileFormat.MaxArchitectureChars} characters");
        foreach (var t in ir.Tensors)
        {
            int nameBytes = Encoding.UTF8.GetByteCount(t.Name);
            if (nameBytes is 0 or > MobileFormat.MaxNameBytes) throw new ArgumentException($"tensor name \"{t.Name}\" must have 1..{MobileFormat.MaxNameBytes} UTF-8 bytes");
            if (t.Shape.Length is 0 or > MobileFormat.MaxRank || t.Shape.Any(d => d < 1))
                throw new ArgumentException($"tensor {t.Name}: shape {Shapes.Format(t.Shape)} needs 1..{MobileFormat.MaxRank} dimensions, each at least 1");
        }
        if (ir.Tokenizer is { } tok)
        {
            if (tok.Count > MobileFormat.MaxVocab) throw new ArgumentException($"vocabulary of {tok.Count} pieces exceeds the cap of {MobileFormat.MaxVocab}");
            if (tok.Scores.Count != tok.Count || tok.Types.Count != tok.Count)
                throw new ArgumentException($"tokenizer has {tok.Count} pieces, {tok.Scores.Count} scores and {tok.Types.Count} types");
        }
        if (options.Metadata is { } md)
        {
            if (md.Count > MobileFormat.MaxMetadataEntries) throw new ArgumentException($"{md.Count} metadata entries exceed the cap of {MobileFormat.MaxMetadataEntries}");
            foreach (var (k, v) in md)
            {
                if (Encoding.UTF8.GetByteCount(k) is 0 or > MobileFormat.MaxMetadataKeyBytes) throw new ArgumentException($"metadata key \"{k}\" must have 1..{MobileFormat.MaxMetadataKeyBytes} UTF-8 bytes");
                if (Encoding.UTF8.GetByteCount(v) > MobileFormat.MaxMetadataValueBytes) throw new ArgumentException($"metadata value of {k} exceeds {MobileFormat.MaxMetadataValueBytes} UTF-8 bytes");
            }
        }
    }

    private static Proto.ModelConfig EncodeConfig(Core.Ir.ModelConfig c)
    {
        var p = new Proto.ModelConfig
        {
            Family = MobileFormat.ToProto(c.Family),
            Architecture = c.Architecture,
            VocabSize = c.VocabSize,
            HiddenSize = c.HiddenSize,
            IntermediateSize = c.IntermediateSize,
            NumHeads = c.NumHeads,
            NumKvHeads = c.NumKvHeads,
            HeadDim = c.HeadDim,
            StoredLayers = c.StoredLayers,
            ExecutedLayers = c.ExecutedLayers,
            RmsNormEps = c.RmsNormEps,
            RopeTheta = c.RopeTheta,
            ContextLength = c.ContextLength,
        };
        if (c.TieClaimFlag is { } flag) p.TieClaimFlag = flag;
        if (c.BosTokenId is { } bos) p.BosTokenId = bos;
        if (c.EosTokenId is { } eos) p.EosTokenId = eos;
        return p;
    }

    private static ExecutionPlan EncodePlan(ModelIr ir)
    {
        var index = new Dictionary<string, uint>(StringComparer.Ordinal);
        for (int i = 0; i < ir.Tensors.Count; i++) index[ir.Tensors[i].Name] = (uint)i;
        var plan = new ExecutionPlan { Embedding = index[ir.Embedding], FinalNorm = index[ir.FinalNorm], Output = index[ir.Output] };
        foreach (var s in ir.Steps)
        {
            plan.Steps.Add(new Step
            {
                AttnNorm = index[s.AttnNorm], Q = index[s.Q], K = index[s.K], V = index[s.V], O = index[s.O],
                FfnNorm = index[s.FfnNorm], Gate = index[s.Gate], Up = index[s.Up], Down = index[s.Down],
            });
        }
        return plan;
    }

    /// <summary>
    /// The ModelProto bytes to store, checked up front with the reader's own parser (so nothing is
    /// written for a tokenizer the reader would reject): it parses, and holds exactly the IR's
    /// pieces, scores and types.
    /// </summary>
    private static byte[] TokenizerModel(TokenizerIr tok, string path)
    {
        var bytes = tok.SentencePieceModel ?? SentencePieceModelFile.Build(tok);
        TokenizerIr parsed;
        try
        {
            parsed = SentencePieceModelFile.Read(bytes, path, tokenizerConfigJson: null);
        }
        catch (SentencePieceException e)
        {
            throw new ArgumentException($"the tokenizer's sentencepiece model would not read back: {e.Message}", e);
        }
        if (parsed.Count != tok.Count)
            throw new ArgumentException($"the tokenizer has {tok.Count} pieces but its sentencepiece model holds {parsed.Count}");
        // The file keeps only the model's copy: a vocabulary the model disagrees with would be lost.
        if (!parsed.Pieces.SequenceEqual(tok.Pieces) || !parsed.Scores.SequenceEqual(tok.Scores) || !parsed.Types.SequenceEqual(tok.Types))
            throw new ArgumentException("the tokenizer's pieces, scores or types differ from those of its sentencepiece model, which is the copy the file stores");
        return bytes;
    }

    /// <summary>
    /// SPEC.md "Tokenizer": one copy of the vocabulary, as the sentencepiece ModelProto (or, for a
    /// byte-level BPE, as the canonical tokenizer.json <paramref name="model"/>). The
    /// source's bytes are kept verbatim; a tokenizer without them (GGUF, synthetic) gets the
    /// deterministic LLaMA-style model <see cref="SentencePieceModelFile.Build"/> makes.
    /// </summary>
    private static Proto.Tokenizer WriteTokenizer(SectionWriter writer, TokenizerIr tok, byte[] model, LZ4Level? level, Action<Section> count)
    {
        var p = new Proto.Tokenizer
        {
            VocabSize = (uint)tok.Count,
            UnkId = tok.UnkId,
            BosId = tok.BosId,
            EosId = tok.EosId,
            AddBos = tok.AddBos,
            AddEos = tok.AddEos,
        };
        if (tok.Kind == TokenizerKind.ByteLevelBpe)
        {
            p.HfTokenizerJson = writer.WriteSection(model, level);
            count(p.HfTokenizerJson);
        }
        else
        {
            p.SentencepieceModel = writer.WriteSection(model, level);
            count(p.SentencepieceModel);
        }
        if (tok.PadId is { } pad) p.PadId = pad;
        if (tok.TokenizerConfigJson is { } json)
        {
            p.TokenizerConfig = writer.WriteSection(Encoding.UTF8.GetBytes(json), level);
            count(p.TokenizerConfig);
        }
        return p;
    }
}
