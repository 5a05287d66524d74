using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.SentencePiece;
using static MobileLlmConvert.Tests.Mobile.MobileTestModels;

namespace MobileLlmConvert.Tests.Mobile;

public class MobileRoundTripTests
{
    public static TheoryData<string, ElementType> FloatCases()
    {
        var data = new TheoryData<string, ElementType>();
        foreach (var family in new[] { "llama-gqa", "llama-tied", "mobilellm-ls", "mobillama" })
        {
            foreach (var type in new[] { ElementType.F32, ElementType.F16, ElementType.BF16 }) data.Add(family, type);
        }
        return data;
    }

    public static TheoryData<string, ElementType> QuantCases()
    {
        var data = new TheoryData<string, ElementType>();
        foreach (var family in new[] { "llama-gqa", "llama-tied", "mobilellm-ls", "mobillama" })
        {
            foreach (var type in new[] { ElementType.Q8_0, ElementType.Q4_0, ElementType.Q4_G64, ElementType.Q4_1 }) data.Add(family, type);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(FloatCases))]
    public void Float_models_round_trip_through_a_mapped_file(string family, ElementType type)
    {
        var ir = WithFullTokenizer(SyntheticModel.Create(Family(family) with { DType = type }, TensorNames.HuggingFace));
        using var dir = new TempDir();
        using (var file = File.Create(dir["m.mlcm"])) MobileWriter.Write(ir, file);

        using var resources = new ResourceBag();
        var back = MobileFile.Read(dir["m.mlcm"], resources);

        AssertSameModel(ir, back);
        Assert.Equal(dir["m.mlcm"], back.SourcePath);
        Assert.Same(resources, back.Resources);
    }

    [Theory]
    [MemberData(nameof(QuantCases))]
    public void Quantized_models_round_trip_with_blocks_mapped_in_place(string family, ElementType type)
    {
        var ir = Quantize(SyntheticModel.Create(Family(family) with { DType = ElementType.F16 }, TensorNames.HuggingFace), type);
        using var dir = new TempDir();
        using (var file = File.Create(dir["q.mlcm"])) MobileWriter.Write(ir, file);

        using var resources = new ResourceBag();
        var back = MobileFile.Read(dir["q.mlcm"], resources);

        AssertSameModel(ir, back);
        foreach (var t in back.Tensors.Where(t => t.Type.Info().IsQuantized))
        {
            var mapped = Assert.IsType<MappedSource>(t.Source);
            Assert.Equal(0, mapped.Offset % MobileFormat.Alignment);
        }
        Assert.Equal(ir.Tensors.Count(t => t.Shape.Length == 2), back.Tensors.Count(t => t.Type == type));
    }

    [Fact]
    public void A_model_without_tokenizer_round_trips_and_metadata_comes_back_sorted()
    {
        var source = SyntheticModel.Create(LlamaGqa, TensorNames.HuggingFace);
        var ir = Rebuild(source, source.Tensors, tokenizer: null);
        var metadata = new Dictionary<string, string> { ["zeta"] = "last", ["alpha"] = "first", ["mlconvert.quant"] = "q4" };

        var model = ReadBytes(WriteBytes(ir, new MobileWriteOptions { Metadata = metadata }));

        AssertSameModel(ir, model.Ir);
        Assert.Null(model.Ir.Tokenizer);
        Assert.Equal(["alpha", "mlconvert.quant", "zeta"], model.Metadata.Keys);
        Assert.Equal("q4", model.Metadata["mlconvert.quant"]);
    }

    [Fact]
    public void Reading_a_file_and_writing_it_again_gives_the_same_bytes()
    {
        var ir = WithFullTokenizer(Quantize(SyntheticModel.Create(MobileLlmLs with { DType = ElementType.F16, VocabSize = 2048 }, TensorNames.HuggingFace), ElementType.Q4_0));
        var first = WriteBytes(ir, new MobileWriteOptions { Metadata = new Dictionary<string, string> { ["k"] = "v" } });

        var model = ReadBytes(first);
        var second = WriteBytes(model.Ir, new MobileWriteOptions { Metadata = model.Metadata });

        Assert.Equal(first, second);
    }

    [Fact]
    public void A_tokenizer_without_a_model_comes_back_with_the_built_one_and_the_header_ids_and_flags()
    {
        var source = SyntheticModel.Create(LlamaTied, TensorNames.HuggingFace);
        // Ids and flags the built ModelProto does not carry (its pad_id is -1, and it has no flags).
        var tok = source.Tokenizer! with { PadId = 3, AddBos = false, AddEos = true };
        var back = ReadBytes(WriteBytes(Rebuild(source, source.Tensors, tok))).Ir.Tokenizer!;

        Assert.Equal(SentencePieceModelFile.Build(tok), back.SentencePieceModel);
        Assert.Equal(tok.Pieces, back.Pieces);
        Assert.Equal((0, 1, 2, (int?)3, false, true), (back.UnkId, back.BosId, back.EosId, back.PadId, back.AddBos, back.AddEos));
        Assert.Null(back.TokenizerConfigJson);
    }

    [Fact]
    public void A_tokenizer_model_is_stored_verbatim_and_a_vocabulary_it_disagrees_with_is_refused()
    {
        var ir = WithFullTokenizer(SyntheticModel.Create(LlamaTied, TensorNames.HuggingFace));
        var back = ReadBytes(WriteBytes(ir)).Ir.Tokenizer!;
        Assert.Equal(ir.Tokenizer!.SentencePieceModel, back.SentencePieceModel);
        Assert.NotEqual(SentencePieceModelFile.Build(ir.Tokenizer), back.SentencePieceModel);

        var scores = ir.Tokenizer.Scores.ToArray();
        scores[300] += 1;
        var disagreeing = Rebuild(ir, ir.Tensors, ir.Tokenizer with { Scores = scores });
        var e = Assert.Throws<ArgumentException>(() => WriteBytes(disagreeing));
        Assert.Equal("the tokenizer's pieces, scores or types differ from those of its sentencepiece model, which is the copy the file stores", e.Message);

        var unreadable = Rebuild(ir, ir.Tensors, ir.Tokenizer with { SentencePieceModel = [.. Enumerable.Repeat((byte)0xFF, 100)] });
        e = Assert.Throws<ArgumentException>(() => WriteBytes(unreadable));
        Assert.Equal("the tokenizer's sentencepiece model would not read back: (ir): ModelProto = 100 bytes: not a sentencepiece model: CodedInputStream encountered a malformed varint.", e.Message);
    }

    [Fact]
    public void Writing_reports_progress_per_tensor_in_bytes()
    {
        var ir = SyntheticModel.Create(LlamaTied, TensorNames.HuggingFace);
        var reports = new List<Core.IO.ConversionProgress>();
        WriteBytes(ir, new MobileWriteOptions { Progress = new SyncProgress(reports.Add) });

        Assert.Equal(ir.Tensors.Select(t => t.Name), reports.Select(r => r.Item));
        Assert.All(reports, r => Assert.Equal(ir.StoredBytes, r.Total));
        Assert.Equal(ir.StoredBytes, reports[^1].Done);
    }

    /// <summary>Progress&lt;T&gt; posts to the thread pool; this one reports inline so the test sees every report.</summary>
    private sealed class SyncProgress(Action<Core.IO.ConversionProgress> report) : IProgress<Core.IO.ConversionProgress>
    {
        public void Report(Core.IO.ConversionProgress value) => report(value);
    }
}
