using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>IR -> ONNX folder -> IR gives the same model: config, steps, keys, every tensor's type, shape and bytes, and the same logits from our executor.</summary>
public sealed class ReaderRoundTripTests
{
    public static TheoryData<string, string> Cases() => WriterOrtTests.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_written_folder_reads_back_to_the_same_ir(string fixture, string quant)
    {
        using var ir = WriterModels.Converted(fixture, quant);
        using var dir = new TempDir();
        string folder = dir["model"];
        new OnnxFormat().Write(ir, folder, FormatWriteOptions.Default);

        Assert.IsType<OnnxFormat>(ModelFormats.Detect(folder));
        using var back = ModelFormats.Read(folder);
        Assert.Equal(ir.Config, back.Config);
        Assert.Equal(ir.Steps, back.Steps);
        Assert.Equal((ir.Embedding, ir.FinalNorm, ir.Output), (back.Embedding, back.FinalNorm, back.Output));
        Assert.Equal(ir.Tensors.Select(t => (t.Name, t.Type, Shapes.Format(t.Shape))), back.Tensors.Select(t => (t.Name, t.Type, Shapes.Format(t.Shape))));
        foreach (var t in ir.Tensors)
        {
            Assert.True(t.Source.Read().SequenceEqual(back[t.Name].Source.Read()), $"{fixture} {quant}: bytes of {t.Name} differ after the round trip");
            // Float tensors are the mapped data file itself, not a copy; quantized ones are decoded from MatMulNBits' layout.
            Assert.Equal(!t.Type.Info().IsQuantized, back[t.Name].Source.TryGetSpan(out _));
        }
        // The synthetic vocabularies carry no sentencepiece ModelProto: the folder has only a sentencepiece-style tokenizer.json, read as "no tokenizer" with a note.
        Assert.Null(ir.Tokenizer!.SentencePieceModel);
        Assert.Null(back.Tokenizer);
        Assert.Contains(back.ImportNotes, n => n.Contains("tokenizer.json holds a sentencepiece vocabulary", StringComparison.Ordinal));

        // Our executor on the folder computes exactly what it computes on the IR the folder was written from.
        Assert.Equal(WriterModels.ExecutorLogits(ir, WriterModels.Tokens), WriterModels.ExecutorLogits(back, WriterModels.Tokens));

        // The graph file alone names the same model.
        using var viaFile = ModelFormats.Read(Path.Combine(folder, OnnxWriter.ModelFile));
        Assert.Equal(back.Tensors.Select(t => t.Name), viaFile.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void A_checkpoint_tokenizer_comes_back_exactly()
    {
        using var dir = new TempDir();
        string hf = MobileLlmConvert.Tests.EndToEnd.Models.Path("mobilellm-ls-tiny");
        var r = CliRunner.Run("convert", hf, "--to", "onnx", "--quant", "q8", "-o", dir["m"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var source = ModelFormats.Read(hf);
        using var back = ModelFormats.Read(dir["m"]);
        Assert.Equal(source.Tokenizer!.Pieces, back.Tokenizer!.Pieces);
        Assert.Equal(new MobileLlmConvert.Runtime.TextTokenizer(source.Tokenizer).Encode("Once upon a time, in a town by the sea"),
            new MobileLlmConvert.Runtime.TextTokenizer(back.Tokenizer).Encode("Once upon a time, in a town by the sea"));
    }

    [Fact]
    public void Shared_tensors_come_back_shared()
    {
        using var ir = WriterModels.Converted("mobilellm-ls-hd16", "q4");
        using var dir = new TempDir();
        new OnnxFormat().Write(ir, dir["m"], FormatWriteOptions.Default);
        using var back = ModelFormats.Read(dir["m"]);
        Assert.True(back.IsTied);
        Assert.Equal(2 * back.Config.StoredLayers, back.Steps.Count);
        Assert.Equal(back.Steps[0], back.Steps[1]);
    }
}
