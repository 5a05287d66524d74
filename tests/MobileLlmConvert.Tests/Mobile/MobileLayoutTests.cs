using System.Runtime.InteropServices;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.SentencePiece;
using static MobileLlmConvert.Tests.Mobile.MobileTestModels;

namespace MobileLlmConvert.Tests.Mobile;

public class MobileLayoutTests
{
    private static long ExecutedBytes(ModelIr ir) => ir.UsedKeys().Sum(k => ir[k].ByteLength);

    [Theory]
    [InlineData("llama-tied")]
    [InlineData("mobilellm-ls")]
    [InlineData("mobillama")]
    public void Shared_tensors_are_stored_once(string family)
    {
        var ir = SyntheticModel.Create(Family(family) with { DType = ElementType.F16 }, TensorNames.HuggingFace);
        var bytes = WriteBytes(ir);
        var model = ReadBytes(bytes);

        Assert.Equal(ir.Tensors.Count, model.Sections.Count(s => !s.Name.StartsWith("tokenizer.", StringComparison.Ordinal)));
        Assert.True(bytes.Length < ExecutedBytes(ir), $"file {bytes.Length} bytes, executed tensors {ExecutedBytes(ir)} bytes");
        var distinctUsed = model.Ir.UsedKeys().Distinct().Count();
        Assert.Equal(model.Ir.Tensors.Count, distinctUsed);
    }

    [Fact]
    public void Layer_shared_model_executes_each_stored_block_twice_and_MobiLlama_one_ffn()
    {
        var ls = ReadBytes(WriteBytes(SyntheticModel.Create(MobileLlmLs, TensorNames.HuggingFace))).Ir;
        Assert.Equal(2 * ls.Config.StoredLayers, ls.Steps.Count);
        Assert.Equal(ls.Steps[0], ls.Steps[1]);
        Assert.Equal(ls.Embedding, ls.Output);

        var mobi = ReadBytes(WriteBytes(SyntheticModel.Create(MobiLlama, TensorNames.HuggingFace))).Ir;
        Assert.Single(mobi.Steps.Select(s => s.Gate).Distinct());
        Assert.Single(mobi.Tensors, t => t.Name.EndsWith("gate_proj.weight", StringComparison.Ordinal));
        Assert.Equal(3, mobi.Steps.Select(s => s.Q).Distinct().Count());
    }

    [Fact]
    public void Every_section_and_the_header_start_on_a_64_byte_boundary()
    {
        var ir = WithFullTokenizer(Quantize(SyntheticModel.Create(LlamaGqa with { VocabSize = 1000, DType = ElementType.BF16 }, TensorNames.HuggingFace), ElementType.Q4_1));
        var bytes = WriteBytes(ir);
        var model = ReadBytes(bytes);

        // Tensors, the sentencepiece model and tokenizer_config.json.
        Assert.Equal(ir.Tensors.Count + 2, model.Sections.Count);
        Assert.All(model.Sections, s => Assert.Equal(0, s.Offset % 64));
        Assert.Equal(64, model.Sections[0].Offset);
        long headerOffset = BitConverter.ToInt64(bytes, 16);
        Assert.Equal(0, headerOffset % 64);
        Assert.Equal(bytes.Length, headerOffset + BitConverter.ToUInt32(bytes, 12));
        Assert.Equal(bytes.Length, BitConverter.ToInt64(bytes, 24));
    }

    [Fact]
    public void Lz4_is_chosen_for_a_compressible_float_table_and_never_for_quantized_blocks()
    {
        var source = SyntheticModel.Create(LlamaGqa with { DType = ElementType.F32 }, TensorNames.HuggingFace);
        var embedding = source[source.Embedding];
        // A float table of small integers: highly compressible, like an embedding with padded rows.
        var values = new float[embedding.ElementCount];
        for (int i = 0; i < values.Length; i++) values[i] = i % 7;
        var ir = WithTensor(source, source.Embedding, ElementType.F32, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        var model = ReadBytes(WriteBytes(ir));

        var table = model.Sections.Single(s => s.Name == "tensor " + source.Embedding);
        Assert.True(table.Lz4);
        Assert.True(table.StoredLength <= table.RawLength - Math.Max(table.RawLength / 8, 4096), $"{table.StoredLength} of {table.RawLength}");
        Assert.IsType<MemorySource>(model.Ir[source.Embedding].Source);
        Assert.Equal(values, FloatConvertTo(model.Ir[source.Embedding]));
        // Random weights do not compress by 1/8: they stay raw and mapped.
        Assert.False(model.Sections.Single(s => s.Name == "tensor lm_head.weight").Lz4);

        // The same all-compressible table quantized to Q8_0 stays raw: quantized blocks are never compressed.
        var quantized = ReadBytes(WriteBytes(Quantize(ir, ElementType.Q8_0)));
        Assert.All(quantized.Sections.Where(s => s.Name.StartsWith("tensor ", StringComparison.Ordinal) && quantized.Ir[s.Name[7..]].Type.Info().IsQuantized),
            s => Assert.False(s.Lz4));
        Assert.False(quantized.Sections.Single(s => s.Name == "tensor " + source.Embedding).Lz4);
    }

    [Fact]
    public void The_tokenizer_is_stored_once_compressed_and_compression_can_be_turned_off()
    {
        var ir = SyntheticModel.Create(LlamaTied with { VocabSize = 4096 }, TensorNames.HuggingFace);
        var auto = WriteBytes(ir);
        var none = WriteBytes(ir, new MobileWriteOptions { Compression = MobileCompressionMode.None });

        var tokenizer = Assert.Single(ReadBytes(auto).Sections, s => s.Name.StartsWith("tokenizer.", StringComparison.Ordinal));
        Assert.Equal("tokenizer.sentencepiece_model", tokenizer.Name);
        Assert.True(tokenizer.Lz4);
        Assert.Equal(SentencePieceModelFile.Build(ir.Tokenizer!).Length, tokenizer.RawLength);
        Assert.True(tokenizer.StoredLength <= tokenizer.RawLength - Math.Max(tokenizer.RawLength / 8, 4096), $"{tokenizer.StoredLength} of {tokenizer.RawLength} bytes");
        Assert.All(ReadBytes(none).Sections, s => Assert.False(s.Lz4));
        Assert.True(auto.Length < none.Length);
        AssertSameModel(ReadBytes(auto).Ir, ReadBytes(none).Ir);
    }

    [Fact]
    public void Rerunning_the_writer_gives_byte_identical_files()
    {
        var ir = WithFullTokenizer(Quantize(SyntheticModel.Create(MobiLlama with { DType = ElementType.BF16 }, TensorNames.HuggingFace), ElementType.Q4_G64));
        var options = new MobileWriteOptions { Metadata = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" } };
        Assert.Equal(WriteBytes(ir, options), WriteBytes(ir, options));
    }

    [Fact]
    public void The_writer_refuses_a_stream_it_cannot_seek()
    {
        var ir = SyntheticModel.Create(LlamaTied, TensorNames.HuggingFace);
        using var inner = new MemoryStream();
        using var forwardOnly = new ForwardOnlyStream(inner);
        var e = Assert.Throws<ArgumentException>(() => MobileWriter.Write(ir, forwardOnly));
        Assert.StartsWith("the mobile writer needs a writable, seekable stream", e.Message);
    }

    [Fact]
    public void File_sizes_follow_the_element_types()
    {
        var f16 = SyntheticModel.Create(LlamaGqa with { DType = ElementType.F16 }, TensorNames.HuggingFace);
        long f16Bytes = WriteBytes(f16).Length;
        long q8Bytes = WriteBytes(Quantize(f16, ElementType.Q8_0)).Length;
        long q4Bytes = WriteBytes(Quantize(f16, ElementType.Q4_0)).Length;

        // Every tensor is stored once, padded to 64 bytes; the rest is tokenizer and header.
        long overhead = f16Bytes - f16.StoredBytes;
        Assert.InRange(overhead, 0, 8192);
        Assert.True(q8Bytes < f16Bytes && q4Bytes < q8Bytes, $"f16 {f16Bytes}, q8 {q8Bytes}, q4 {q4Bytes}");
        Assert.InRange(q4Bytes - Quantize(f16, ElementType.Q4_0).StoredBytes, 0, 8192);
    }

    private static float[] FloatConvertTo(Tensor t) => Core.Numerics.FloatConvert.ToSingleArray(t);

    private sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }
}
