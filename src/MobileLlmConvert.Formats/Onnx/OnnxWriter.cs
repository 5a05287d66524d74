using System.Buffers;
using Google.Protobuf;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using Onnx;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// Writes an IR as an ONNX model folder (formats/onnx.md): model.onnx holds the graph and no weight
/// bytes (only the int64 shapes and axes shape inference reads); model.onnx.data holds every other initializer, each at a 64-byte aligned offset with zero padding
/// between them, referenced by external_data entries (location, offset, length) as the ONNX IR spec
/// describes external tensors (https://github.com/onnx/onnx/blob/main/docs/ExternalData.md).
/// Beside them genai_config.json and the tokenizer files ONNX Runtime GenAI loads. The folder appears
/// complete or not at all (<see cref="AtomicFile.WriteDirectory"/>); the same IR gives the same bytes.
/// </summary>
internal static class OnnxWriter
{
    /// <summary>The graph file.</summary>
    public const string ModelFile = "model.onnx";
    /// <summary>The external data file with every initializer's bytes.</summary>
    public const string DataFile = "model.onnx.data";
    /// <summary>ONNX Runtime GenAI's configuration.</summary>
    public const string GenAiConfigFile = "genai_config.json";
    /// <summary>The Hugging Face fast-tokenizer file.</summary>
    public const string TokenizerJsonFile = "tokenizer.json";
    /// <summary>The Hugging Face tokenizer configuration.</summary>
    public const string TokenizerConfigFile = "tokenizer_config.json";
    /// <summary>The sentencepiece model, when the IR carries one (what our reader and sentencepiece users load).</summary>
    public const string SentencePieceFile = "tokenizer.model";

    /// <summary>Alignment of every initializer's offset in <see cref="DataFile"/>, so ORT can map tensors in place.</summary>
    public const int Alignment = 64;

    /// <summary>ONNX IR version written (ONNX 1.16+; ORT 1.31 reads up to 11).</summary>
    public const long IrVersion = 10;
    /// <summary>ai.onnx opset imported.</summary>
    public const long StandardOpset = 21;
    /// <summary>com.microsoft opset imported.</summary>
    public const long MicrosoftOpset = 1;

    /// <summary>The opset version imported for a domain the graph uses: the one rule the writer and the reader's check share.</summary>
    internal static long OpsetOf(string domain) => domain == OnnxGraphBuilder.StandardDomain ? StandardOpset : MicrosoftOpset;
    /// <summary>producer_name of our models: how <see cref="OnnxFormat.IsOwnOutput"/> knows them.</summary>
    public const string Producer = "mlconvert";

    /// <summary>Every file the folder holds for <paramref name="ir"/>, in the order they are written.</summary>
    public static IReadOnlyList<string> FilesFor(ModelIr ir)
    {
        var files = new List<string> { ModelFile, DataFile, GenAiConfigFile };
        if (ir.Tokenizer is { } tok)
        {
            if (OnnxTokenizerFiles.CanWriteJson(tok)) files.Add(TokenizerJsonFile);
            files.Add(TokenizerConfigFile);
            if (tok.SentencePieceModel is not null) files.Add(SentencePieceFile);
        }
        return files;
    }

    /// <summary>Writes the folder at <paramref name="output"/> with <paramref name="profile"/>; returns the bytes written.</summary>
    public static long Write(ModelIr ir, string output, IOnnxProfile profile, IProgress<ConversionProgress>? progress)
    {
        long bytes = 0;
        AtomicFile.WriteDirectory(output, dir => bytes = WriteInto(ir, dir, profile, progress).Sum(f => new FileInfo(Path.Combine(dir, f)).Length));
        return bytes;
    }

    /// <summary>
    /// Writes the folder's files into the existing, empty directory <paramref name="dir"/> (the caller
    /// makes it appear atomically: <see cref="Write"/>, or a bundle with its manifest beside them);
    /// returns their names in <see cref="FilesFor"/> order. Every tensor is checked against the profile first.
    /// </summary>
    public static IReadOnlyList<string> WriteInto(ModelIr ir, string dir, IOnnxProfile profile, IProgress<ConversionProgress>? progress)
    {
        foreach (var t in ir.Tensors)
        {
            if (profile.CannotStore(t.Type) is { } why) throw new Core.Errors.ModelUsageException($"ONNX ({profile.Name} profile): tensor {t.Name}: {why}");
        }
        var graph = OnnxGraph.Build(ir, profile);
        var placed = WriteData(Path.Combine(dir, DataFile), graph.Initializers, progress);
        var model = BuildModel(ir, graph, profile, placed);
        File.WriteAllBytes(Path.Combine(dir, ModelFile), model.ToByteArray());
        File.WriteAllBytes(Path.Combine(dir, GenAiConfigFile), OnnxGenAiConfig.Build(ir));
        if (ir.Tokenizer is { } tok)
        {
            if (OnnxTokenizerFiles.CanWriteJson(tok)) File.WriteAllBytes(Path.Combine(dir, TokenizerJsonFile), OnnxTokenizerFiles.TokenizerJson(tok));
            File.WriteAllBytes(Path.Combine(dir, TokenizerConfigFile), OnnxTokenizerFiles.TokenizerConfig(tok, ir.Config.ContextLength));
            if (tok.SentencePieceModel is { } spm) File.WriteAllBytes(Path.Combine(dir, SentencePieceFile), spm);
        }
        return FilesFor(ir);
    }

    /// <summary>Offset and length of each initializer in the data file.</summary>
    private readonly record struct Placement(long Offset, long Length);

    private static Dictionary<string, Placement> WriteData(string path, IReadOnlyList<OnnxInitializer> inits, IProgress<ConversionProgress>? progress)
    {
        var placed = new Dictionary<string, Placement>(StringComparer.Ordinal);
        long total = inits.Where(i => !i.Inline).Sum(i => i.ByteLength), done = 0;
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> zeros = stackalloc byte[Alignment];
        zeros.Clear();
        foreach (var init in inits)
        {
            if (init.Inline) continue;
            int pad = (int)((Alignment - stream.Position % Alignment) % Alignment);
            stream.Write(zeros[..pad]);
            long offset = stream.Position;
            int length = checked((int)init.ByteLength);
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                var span = buffer.AsSpan(0, length);
                span.Clear();
                init.Fill(span);
                stream.Write(span);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            placed.Add(init.Name, new Placement(offset, length));
            done += length;
            progress?.Report(new ConversionProgress("write", done, total, init.Name));
        }
        stream.Flush(flushToDisk: true);
        return placed;
    }

    private static ModelProto BuildModel(ModelIr ir, OnnxGraphBuilder g, IOnnxProfile profile, Dictionary<string, Placement> placed)
    {
        var graph = new GraphProto { Name = "main_graph" };
        graph.Node.AddRange(g.Nodes);
        graph.Input.AddRange(g.Inputs);
        graph.Output.AddRange(g.Outputs);
        foreach (var init in g.Initializers)
        {
            var t = new TensorProto { Name = init.Name, DataType = (int)init.Type };
            t.Dims.AddRange(init.Dims);
            if (init.Inline)
            {
                var raw = new byte[init.ByteLength];
                init.Fill(raw);
                t.RawData = ByteString.CopyFrom(raw);
                graph.Initializer.Add(t);
                continue;
            }
            var p = placed[init.Name];
            t.DataLocation = TensorProto.Types.DataLocation.External;
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = DataFile });
            t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = p.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = p.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            graph.Initializer.Add(t);
        }
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = Producer,
            ProducerVersion = OnnxMetadata.FormatVersion,
            Graph = graph,
        };
        foreach (var domain in g.Domains)
        {
            model.OpsetImport.Add(new OperatorSetIdProto
            {
                Domain = domain,
                Version = OpsetOf(domain),
            });
        }
        model.MetadataProps.AddRange(OnnxMetadata.Build(ir, g, profile));
        return model;
    }
}
