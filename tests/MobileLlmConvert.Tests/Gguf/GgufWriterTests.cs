using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Formats.Gguf;

namespace MobileLlmConvert.Tests.Gguf;

public class GgufWriterTests
{
    [Fact]
    public void PermutationMatchesTheHandWorkedExample()
    {
        // 2 heads of hd = 4, one byte per row holding its HF row index. Within a head GGUF row 2b + a is
        // HF row a*hd/2 + b: GGUF rows 0,1,2,3 = HF rows 0,2,1,3.
        byte[] hf = [0, 1, 2, 3, 4, 5, 6, 7];
        var gguf = new byte[8];
        RopePermutation.Permute(hf, gguf, rows: 8, heads: 2);
        Assert.Equal(new byte[] { 0, 2, 1, 3, 4, 6, 5, 7 }, gguf);
        var back = new byte[8];
        RopePermutation.Unpermute(gguf, back, rows: 8, heads: 2);
        Assert.Equal(hf, back);

        // hd = 8: GGUF rows 0..7 = HF rows 0,4,1,5,2,6,3,7.
        byte[] hf8 = [0, 1, 2, 3, 4, 5, 6, 7];
        var gguf8 = new byte[8];
        RopePermutation.Permute(hf8, gguf8, rows: 8, heads: 1);
        Assert.Equal(new byte[] { 0, 4, 1, 5, 2, 6, 3, 7 }, gguf8);
    }

    [Fact]
    public void QAndKRowsArePermutedInTheFileVAndOAreNot()
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("llama-gqa-untied"); // hd = 16, 4 heads, 2 KV heads, f32
        var path = dir.File("p.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        var md = GgufFile.ReadMetadata(path);
        var file = File.ReadAllBytes(path);
        float[] Row(string gguf, int row)
        {
            var t = md.Tensors.Single(x => x.Name == gguf);
            int cols = (int)t.Dims[0];
            var span = file.AsSpan((int)(md.DataOffset + t.Offset) + row * cols * 4, cols * 4);
            return span.ToArray().Chunk(4).Select(c => BinaryPrimitives.ReadSingleLittleEndian(c)).ToArray();
        }
        float[] HfRow(string key, int row)
        {
            var v = FloatConvert.ToSingleArray(ir[key]);
            int cols = ir[key].Columns;
            return v.AsSpan(row * cols, cols).ToArray();
        }
        const string q = "model.layers.1.self_attn.q_proj.weight", k = "model.layers.1.self_attn.k_proj.weight";
        // hd = 16: GGUF row 1 = HF row 8 (a = 1, b = 0), row 2 = HF row 1, row 17 = head 1's HF row 16 + 8.
        Assert.Equal(HfRow(q, 0), Row("blk.1.attn_q.weight", 0));
        Assert.Equal(HfRow(q, 8), Row("blk.1.attn_q.weight", 1));
        Assert.Equal(HfRow(q, 1), Row("blk.1.attn_q.weight", 2));
        Assert.Equal(HfRow(q, 24), Row("blk.1.attn_q.weight", 17));
        Assert.Equal(HfRow(k, 31), Row("blk.1.attn_k.weight", 31));
        Assert.Equal(HfRow(k, 23), Row("blk.1.attn_k.weight", 30));
        Assert.Equal(HfRow("model.layers.1.self_attn.v_proj.weight", 1), Row("blk.1.attn_v.weight", 1));
        Assert.Equal(HfRow("model.layers.1.self_attn.o_proj.weight", 1), Row("blk.1.attn_output.weight", 1));
    }

    [Fact]
    public void HeaderBytesAtKnownOffsets()
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("llama-tied");
        var path = dir.File("h.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32, ModelName = "tiny" });
        var b = File.ReadAllBytes(path);

        Assert.Equal("GGUF", Encoding.ASCII.GetString(b, 0, 4));
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4)));
        Assert.Equal(2UL * 9 + 2, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)));   // tied: no output.weight
        // 4 general.*, 10 llama.*, 9 tokenizer.*, 7 of ours (with the tie claim): 30 keys.
        Assert.Equal(30UL, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16)));
        Assert.Equal(20UL, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(24)));        // "general.architecture"
        Assert.Equal("general.architecture", Encoding.ASCII.GetString(b, 32, 20));
        Assert.Equal((uint)GgufValueType.String, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(52)));
        Assert.Equal(5UL, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(56)));
        Assert.Equal("llama", Encoding.ASCII.GetString(b, 64, 5));
        Assert.Equal(12UL, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(69)));        // "general.name"
        Assert.Equal("general.name", Encoding.ASCII.GetString(b, 77, 12));
        Assert.Equal((uint)GgufValueType.String, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(89)));
        Assert.Equal(4UL, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(93)));
        Assert.Equal("tiny", Encoding.ASCII.GetString(b, 101, 4));

        var md = GgufFile.ReadMetadata(path);
        Assert.Equal(0, md.DataOffset % 32);
        var embd = md.Tensors[0];
        Assert.Equal("token_embd.weight", embd.Name);
        Assert.Equal(new long[] { 64, 320 }, embd.Dims);                                 // innermost first
        Assert.Equal(0, embd.Offset);
        Assert.True(b.AsSpan((int)md.DataOffset, 320 * 64 * 4).SequenceEqual(ir[ir.Embedding].Source.Read()));
        // Offsets are the running padded sum and the file ends at the last tensor's padded end.
        long expected = 0;
        foreach (var t in md.Tensors)
        {
            Assert.Equal(expected, t.Offset);
            expected += (t.ByteSize + 31) / 32 * 32;
        }
        Assert.Equal(md.DataOffset + expected, b.Length);
        Assert.Equal(0u, md.Get(GgufKeys.FileType)!.Value); // all f32
    }

    [Fact]
    public void RerunsAreByteIdentical()
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("mobilellm");
        GgufWriter.Write(ir, dir.File("a.gguf"), new GgufWriteOptions { FloatType = ElementType.F16 });
        GgufWriter.Write(ir, dir.File("b.gguf"), new GgufWriteOptions { FloatType = ElementType.F16 });
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(dir.File("a.gguf"))), SHA256.HashData(File.ReadAllBytes(dir.File("b.gguf"))));
    }

    [Fact]
    public void ProgressReportsEveryTensorAndEndsAtTheTotal()
    {
        using var ir = GgufTestModels.Create("llama-tied");
        var reports = new List<ConversionProgress>();
        var progress = new SyncProgress(reports.Add);
        using var output = new MemoryStream();
        GgufWriter.Write(ir, output, new GgufWriteOptions { FloatType = ElementType.F32, Progress = progress });
        Assert.Equal(20, reports.Count);
        Assert.Equal("token_embd.weight", reports[0].Item);
        Assert.Equal(reports[^1].Total, reports[^1].Done);
        Assert.Equal(ir.StoredBytes, reports[^1].Total); // f32 source, f32 output, tied: each stored tensor once
    }

    [Fact]
    public void GroupSizesWithoutAGgufTypeAreRefused()
    {
        using var source = GgufTestModels.Create("llama-tied");
        var ir = GgufTestModels.Quantized(source, ElementType.Q4_G64);
        var e = Assert.Throws<GgufException>(() => GgufWriter.Write(ir, Stream.Null, new GgufWriteOptions { FloatType = ElementType.F32 }));
        Assert.Equal(GgufError.UnsupportedTensorType, e.Kind);
        Assert.Equal("(model): model.embed_tokens.weight = q4_g64: GGUF has no group-64 type; quantize with group 32 (q8_0, q4_0, q4_1) for GGUF", e.Message);
    }

    [Fact]
    public void AModelWithoutTokenizerIsRefused()
    {
        using var source = GgufTestModels.Create("llama-tied");
        var ir = new ModelIr
        {
            Config = source.Config, Tensors = source.Tensors, Embedding = source.Embedding, FinalNorm = source.FinalNorm,
            Output = source.Output, Steps = source.Steps, Tokenizer = null, SourcePath = "/models/x",
        };
        var e = Assert.Throws<GgufException>(() => GgufWriter.Write(ir, Stream.Null, new GgufWriteOptions { FloatType = ElementType.F32 }));
        Assert.Equal(GgufError.MissingTokenizer, e.Kind);
        Assert.Equal("/models/x: tokenizer = (absent): llama.cpp cannot load a GGUF without a vocabulary", e.Message);
    }

    [Fact]
    public void AFileFromLlamaCppsConverterReadsAsAPlainLlama()
    {
        // Without our keys (as llama.cpp's converter writes it) an LS model is a plain 4-block Llama.
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("mobilellm-ls");
        GgufWriter.Write(ir, dir.File("ls.gguf"), new GgufWriteOptions { FloatType = ElementType.F32 });
        var plain = GgufRewrite.Rewrite(dir.File("ls.gguf"), dir.File("plain.gguf"),
            kvs => kvs.RemoveAll(kv => kv.Key.StartsWith(GgufKeys.OurPrefix, StringComparison.Ordinal)));
        using var bag = new ResourceBag();
        var back = GgufFile.Read(plain, bag);
        Assert.Equal(ModelFamily.Llama, back.Config.Family);
        Assert.Equal("LlamaForCausalLM", back.Config.Architecture);
        Assert.Equal((4, 4), (back.Config.StoredLayers, back.Config.ExecutedLayers));
        Assert.Equal(4 * 9 + 2, back.Tensors.Count);
        Assert.Equal("model.layers.3.self_attn.q_proj.weight", back.Steps[3].Q);
        // blk.3 was written from stored layer 1; un-permuted it is that layer's q_proj again.
        Assert.Equal(FloatConvert.ToSingleArray(ir["model.layers.1.self_attn.q_proj.weight"]),
            FloatConvert.ToSingleArray(back["model.layers.3.self_attn.q_proj.weight"]));
    }

    /// <summary>
    /// llama.cpp needs a shared block once per executed step, but its source (possibly a lazy
    /// quantization) is read once: the encoded bytes are reused, and the file is the same.
    /// </summary>
    [Theory]
    [InlineData("mobilellm-ls")]
    [InlineData("mobillama")]
    public void SharedTensorsAreEncodedOncePerFileNotOncePerStep(string family)
    {
        using var ir = GgufTestModels.Create(family);
        var counters = new Dictionary<string, CountingSource>(StringComparer.Ordinal);
        using var counted = GgufTestModels.WithTensors(ir, ir.Tensors.Select(t =>
        {
            var c = new CountingSource(t.Source, spannable: false);
            counters[t.Name] = c;
            return new Tensor(t.Name, t.Shape, t.Type, c);
        }).ToList());
        var withCounters = new MemoryStream();
        GgufWriter.Write(counted, withCounters, new GgufWriteOptions { FloatType = ElementType.F32 });
        var plain = new MemoryStream();
        GgufWriter.Write(ir, plain, new GgufWriteOptions { FloatType = ElementType.F32 });

        Assert.Equal(plain.ToArray(), withCounters.ToArray());
        var uses = ir.Steps.SelectMany(s => s.Keys.Distinct()).GroupBy(k => k).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.NotEmpty(uses);
        Assert.All(counters, kv => Assert.Equal(1, kv.Value.Reads));
    }

    private sealed class SyncProgress(Action<ConversionProgress> report) : IProgress<ConversionProgress>
    {
        public void Report(ConversionProgress value) => report(value);
    }
}
