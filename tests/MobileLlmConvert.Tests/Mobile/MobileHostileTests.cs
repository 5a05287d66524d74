using System.Buffers.Binary;
using System.Security.Cryptography;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.SentencePiece;
using MobileLlmConvert.Formats.Mobile.Proto;
using static MobileLlmConvert.Tests.Mobile.HostileFiles;
using static MobileLlmConvert.Tests.Mobile.MobileTestModels;

namespace MobileLlmConvert.Tests.Mobile;

/// <summary>One hand-built hostile file per <see cref="MobileError"/>, asserting the kind and the message.</summary>
public class MobileHostileTests
{
    private const string Q = "model.layers.0.self_attn.q_proj.weight";
    private const string K = "model.layers.0.self_attn.k_proj.weight";

    private static void Fails(byte[] bytes, MobileError kind, string message)
    {
        var e = Assert.Throws<MobileFormatException>(() => ReadBytes(bytes));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(message, e.Message);
        ThroughCli(bytes, e.Message);
    }

    /// <summary>The same bytes as a file given to the CLI: exit 2 and the reader's message, naming the real path.</summary>
    private static void ThroughCli(byte[] bytes, string message)
    {
        using var dir = new TempDir();
        string path = dir.File("test.mlcm");
        File.WriteAllBytes(path, bytes);
        CliAssert.RejectsWith(path, path + message["test.mlcm".Length..]);
    }

    private static MobileFormatException Fails(byte[] bytes, MobileError kind)
    {
        var e = Assert.Throws<MobileFormatException>(() => ReadBytes(bytes));
        Assert.Equal(kind, e.Kind);
        Assert.StartsWith("test.mlcm: ", e.Message);
        ThroughCli(bytes, e.Message);
        return e;
    }

    private static int N => Valid.Value.Length;

    [Fact]
    public void The_valid_file_reads()
    {
        var model = ReadBytes(Valid.Value);
        Assert.Equal(12, model.Ir.Tensors.Count);
        Assert.True(model.Sections.Single(s => s.Name == "tokenizer.sentencepiece_model").Lz4);
    }

    [Fact]
    public void Truncated_below_the_fixed_header() =>
        Fails(Valid.Value[..40], MobileError.Truncated, "test.mlcm: file length = 40: shorter than the 64-byte fixed header");

    [Fact]
    public void Truncated_at_the_end() =>
        Fails(Valid.Value[..^100], MobileError.Truncated, $"test.mlcm: file length = {N - 100}: the header declares {N} bytes");

    [Fact]
    public void Bad_magic()
    {
        var b = Copy();
        b[1] = (byte)'X';
        Fails(b, MobileError.BadMagic, "test.mlcm: magic = 89584C434D0D0A1A: expected 894D4C434D0D0A1A (\\x89MLCM\\r\\n\\x1a)");
    }

    [Fact]
    public void Unsupported_version()
    {
        var b = Copy();
        b[8] = 2;
        Fails(b, MobileError.UnsupportedVersion, "test.mlcm: version = 2: this reader supports version 1");
    }

    [Fact]
    public void Trailing_bytes_after_the_declared_end() =>
        Fails([.. Valid.Value, .. new byte[64]], MobileError.TrailingBytes, $"test.mlcm: file length = {N + 64}: the header declares {N} bytes; 64 trailing bytes");

    [Fact]
    public void Header_length_past_the_end()
    {
        var b = Copy();
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(12));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), length + 1);
        Fails(b, MobileError.HeaderOutOfRange,
            $"test.mlcm: header_offset + header_length = {HeaderOffset(b)}+{length + 1}: outside the {N}-byte file (the header starts at or after byte 64 and ends by the file's end)");
    }

    [Fact]
    public void Header_length_over_the_cap()
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), (16 << 20) + 1);
        Fails(b, MobileError.OverCap, "test.mlcm: header_length = 16777217: above the cap of 16777216 bytes (MaxHeaderBytes)");
    }

    [Fact]
    public void Misaligned_header_offset()
    {
        var b = Copy();
        long offset = HeaderOffset(b);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(16), offset + 8);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), (uint)(N - offset - 8));
        Fails(b, MobileError.MisalignedOffset, $"test.mlcm: header_offset = {offset + 8}: not a multiple of 64");
    }

    [Fact]
    public void Header_checksum_mismatch()
    {
        var b = Copy();
        b[^1] ^= 0xFF;
        var stored = Convert.ToHexStringLower(b.AsSpan(32, 32));
        var actual = Convert.ToHexStringLower(SHA256.HashData(b.AsSpan((int)HeaderOffset(b))));
        Fails(b, MobileError.HeaderChecksumMismatch, $"test.mlcm: header_sha256 = {stored}: the header's SHA-256 is {actual}");
    }

    [Fact]
    public void Header_that_is_not_protobuf()
    {
        var e = Fails(WithHeaderBytes([0xFF, 0xFF, 0xFF]), MobileError.HeaderParse);
        Assert.StartsWith("test.mlcm: header = 3 bytes: not a valid MobileHeader protobuf message (", e.Message);
    }

    [Fact]
    public void Header_with_a_name_that_is_not_utf8()
    {
        // MobileHeader.tensors (field 2, length 4) holding TensorEntry.name (field 1, length 2) = FF FE.
        var e = Fails(WithHeaderBytes([0x12, 0x04, 0x0A, 0x02, 0xFF, 0xFE]), MobileError.HeaderParse);
        Assert.StartsWith("test.mlcm: header = 6 bytes: not a valid MobileHeader protobuf message (", e.Message);
    }

    [Fact]
    public void Header_without_config() =>
        Fails(WithHeader(h => h.Config = null), MobileError.HeaderParse, "test.mlcm: config = (absent): the header has no config");

    [Fact]
    public void Tensor_count_over_the_cap() =>
        Fails(WithHeader(h => h.Tensors.AddRange(Enumerable.Range(0, 65_536).Select(_ => new TensorEntry()))), MobileError.OverCap,
            "test.mlcm: tensors = 65548: above the cap of 65536 (MaxTensors)");

    [Fact]
    public void Rank_over_the_cap() =>
        Fails(WithHeader(h => h.Tensors[1].Shape.AddRange([1, 1, 1, 1, 1, 1, 1, 1])), MobileError.OverCap,
            "test.mlcm: tensor model.layers.0.input_layernorm.weight.shape = 9 dimensions: above the cap of 8 (MaxRank)");

    [Fact]
    public void Unknown_element_type() =>
        Fails(WithHeader(h => h.Tensors[0].Type = (TensorType)99), MobileError.UnknownElementType,
            "test.mlcm: tensor model.embed_tokens.weight.type = 99: not an element type code of this format");

    [Fact]
    public void Unknown_compression() =>
        Fails(WithHeader(h => h.Tensors[1].Data.Compression = (Compression)7), MobileError.UnknownCompression,
            "test.mlcm: tensor model.layers.0.input_layernorm.weight.compression = 7: expected 0 (NONE) or 1 (LZ4)");

    [Fact]
    public void Block_layout_disagreeing_with_the_type() =>
        Fails(WithHeader(h => h.Tensors[2].BlockBytes = 20), MobileError.BlockLayoutMismatch,
            $"test.mlcm: tensor {Q}.block_values/block_bytes = 32/20: q4_0 blocks are 32 values in 18 bytes");

    [Fact]
    public void Shape_inconsistent_with_the_stored_length() =>
        Fails(WithHeader(h => h.Tensors[2].Shape[0] = 128), MobileError.ShapeMismatch,
            $"test.mlcm: tensor {Q}.raw_length = 2304: q4_0 [128, 64] is 4608 bytes");

    [Fact]
    public void Shape_that_is_not_whole_blocks() =>
        Fails(WithHeader(h => h.Tensors[2].Shape[1] = 48), MobileError.ShapeMismatch,
            $"test.mlcm: tensor {Q}.shape = [64, 48]: the last dimension is not a whole number of q4_0 blocks of 32");

    [Fact]
    public void Shape_whose_element_count_overflows() =>
        Fails(WithHeader(h => { h.Tensors[2].Shape[0] = 1L << 40; h.Tensors[2].Shape[1] = 1L << 40; }), MobileError.ShapeMismatch,
            $"test.mlcm: tensor {Q}.shape = [1099511627776, 1099511627776]: the element count overflows 64 bits");

    [Fact]
    public void Lz4_on_quantized_blocks() =>
        Fails(WithHeader(h => h.Tensors[2].Data.Compression = Compression.Lz4), MobileError.CompressionNotAllowed,
            $"test.mlcm: tensor {Q}.compression = LZ4: quantized blocks must stay raw so they can be used in place from the mapped file");

    [Fact]
    public void Uncompressed_section_with_two_lengths() =>
        Fails(WithHeader(h => h.Tensors[1].Data.StoredLength += 1), MobileError.BadSectionLength,
            "test.mlcm: tensor model.layers.0.input_layernorm.weight.stored_length = 129: an uncompressed section stores raw_length (128) bytes");

    [Fact]
    public void Offset_out_of_range() =>
        Fails(WithHeader(h => h.Tensors[3].Data.Offset = (ulong)N), MobileError.OffsetOutOfRange,
            $"test.mlcm: tensor {K}.offset = {N}+1152: past the end of the {N}-byte file");

    [Fact]
    public void Offset_beyond_64_bits_signed()
    {
        var b = WithHeader(h => h.Tensors[3].Data.Offset = ulong.MaxValue);
        Fails(b, MobileError.OffsetOutOfRange, $"test.mlcm: tensor {K}.offset = {ulong.MaxValue}: past the end of the {b.Length}-byte file");
    }

    [Fact]
    public void Misaligned_section_offset()
    {
        var h = Header(Valid.Value);
        Fails(WithHeader(x => x.Tensors[3].Data.Offset += 8), MobileError.MisalignedOffset,
            $"test.mlcm: tensor {K}.offset = {h.Tensors[3].Data.Offset + 8}: not a multiple of 64");
    }

    [Fact]
    public void Overlapping_sections()
    {
        var h = Header(Valid.Value);
        var q = h.Tensors[2].Data;
        Fails(WithHeader(x => x.Tensors[3].Data.Offset = q.Offset), MobileError.OverlappingSections,
            $"test.mlcm: tensor {K}.offset = {q.Offset}: starts inside tensor {Q}, which ends at {q.Offset + q.StoredLength}");
    }

    [Fact]
    public void Section_running_into_the_header()
    {
        var h = Header(Valid.Value);
        var last = h.Tokenizer.SentencepieceModel;
        Fails(WithHeader(x => { x.Tokenizer.SentencepieceModel.StoredLength += 256; }), MobileError.OverlappingSections,
            $"test.mlcm: tokenizer.sentencepiece_model.stored_length = {last.StoredLength + 256}: runs into the protobuf header at {HeaderOffset(Valid.Value)}");
    }

    [Fact]
    public void Hole_between_sections()
    {
        var h = Header(Valid.Value);
        var k = h.Tensors[3].Data;
        Fails(WithHeader(x => x.Tensors[3].Data.Offset += 64), MobileError.Hole,
            $"test.mlcm: tensor {K}.offset = {k.Offset + 64}: leaves a gap after tensor {Q}: it must start at {k.Offset}");
    }

    [Fact]
    public void Hole_before_the_header()
    {
        long offset = HeaderOffset(Valid.Value);
        var header = Valid.Value[(int)offset..];
        Fails(WithHeaderBytes(header, headerOffset: offset + 64), MobileError.Hole,
            $"test.mlcm: header_offset = {offset + 64}: leaves a gap after tokenizer.sentencepiece_model: the header must start at {offset}");
    }

    [Fact]
    public void Non_zero_padding()
    {
        var model = ReadBytes(Valid.Value);
        var sections = model.Sections;
        int i = sections.ToList().FindIndex(s => (s.Offset + s.StoredLength) % 64 != 0);
        Assert.True(i >= 0, "the fixture has a section that needs padding");
        var s = sections[i];
        long end = s.Offset + s.StoredLength;
        var b = Copy();
        b[end] = 1;
        string next = i + 1 < sections.Count ? sections[i + 1].Name : "the protobuf header";
        Fails(b, MobileError.NonZeroPadding, $"test.mlcm: padding before {next} = bytes {end}..{(end + 63) / 64 * 64}: alignment padding must be zero");
    }

    [Fact]
    public void Section_checksum_mismatch_unless_verification_is_off()
    {
        var h = Header(Valid.Value);
        var q = h.Tensors[2].Data;
        var b = Copy();
        b[q.Offset + 5] ^= 0x10;
        var actual = Convert.ToHexStringLower(SHA256.HashData(b.AsSpan((int)q.Offset, (int)q.StoredLength)));
        Fails(b, MobileError.SectionChecksumMismatch,
            $"test.mlcm: tensor {Q}.sha256 = {Convert.ToHexStringLower(q.Sha256.Span)}: the stored bytes hash to {actual}");

        var unverified = ReadBytes(b, verify: false);
        Assert.Equal(b[q.Offset + 5], unverified.Ir[Q].Source.Read()[5]);
    }

    [Fact]
    public void Lz4_section_claiming_more_bytes_than_it_decodes_to()
    {
        var v = Header(Valid.Value).Tokenizer.SentencepieceModel;
        Fails(WithHeader(h => h.Tokenizer.SentencepieceModel.RawLength += 10), MobileError.Lz4SizeMismatch,
            $"test.mlcm: tokenizer.sentencepiece_model.raw_length = {v.RawLength + 10}: the LZ4 block decodes to {v.RawLength} bytes");
    }

    [Fact]
    public void Lz4_section_claiming_fewer_bytes_than_it_decodes_to()
    {
        var v = Header(Valid.Value).Tokenizer.SentencepieceModel;
        Fails(WithHeader(h => h.Tokenizer.SentencepieceModel.RawLength -= 10), MobileError.Lz4SizeMismatch,
            $"test.mlcm: tokenizer.sentencepiece_model.raw_length = {v.RawLength - 10}: the LZ4 block does not decode into raw_length bytes (corrupt, or it decodes to more)");
    }

    [Fact]
    public void Lz4_section_claiming_more_than_lz4_can_expand_is_refused_before_allocating()
    {
        var v = Header(Valid.Value).Tokenizer.SentencepieceModel;
        Fails(WithHeader(h => h.Tokenizer.SentencepieceModel.RawLength = v.StoredLength * 255 + 1), MobileError.Lz4SizeMismatch,
            $"test.mlcm: tokenizer.sentencepiece_model.raw_length = {v.StoredLength * 255 + 1}: {v.StoredLength} LZ4 bytes decode to at most {v.StoredLength * 255} bytes");
    }

    [Fact]
    public void Corrupt_lz4_bytes_with_a_matching_checksum()
    {
        var v = Header(Valid.Value).Tokenizer.SentencepieceModel;
        var b = Copy();
        b.AsSpan((int)v.Offset, (int)v.StoredLength).Fill(0xFF);
        Fails(Resign(b, h => h.Tokenizer.SentencepieceModel), MobileError.Lz4SizeMismatch,
            $"test.mlcm: tokenizer.sentencepiece_model.raw_length = {v.RawLength}: the LZ4 block does not decode into raw_length bytes (corrupt, or it decodes to more)");
    }

    [Fact]
    public void Plan_index_out_of_range() =>
        Fails(WithHeader(h => h.Plan.Steps[0].Gate = 99), MobileError.PlanIndexOutOfRange,
            "test.mlcm: plan.steps[0].gate = 99: the file stores 12 tensors");

    [Fact]
    public void Output_index_out_of_range() =>
        Fails(WithHeader(h => h.Plan.Output = 12), MobileError.PlanIndexOutOfRange,
            "test.mlcm: plan.output = 12: the file stores 12 tensors");

    [Fact]
    public void Duplicate_tensor_name() =>
        Fails(WithHeader(h => h.Tensors[3].Name = Q), MobileError.DuplicateTensorName,
            $"test.mlcm: tensors[3].name = {Q}: another tensor has this name; each stored tensor appears once");

    [Fact]
    public void Empty_tensor_name() =>
        Fails(WithHeader(h => h.Tensors[0].Name = ""), MobileError.BadTensorName,
            "test.mlcm: tensors[0].name = : a name has 1..1024 UTF-8 bytes");

    [Fact]
    public void Unknown_family() =>
        Fails(WithHeader(h => h.Config.Family = Formats.Mobile.Proto.Family.Unspecified), MobileError.BadConfig,
            "test.mlcm: config.family = 0: unknown model family");

    [Fact]
    public void Config_value_invalid() =>
        Fails(WithHeader(h => h.Config.HiddenSize = 0), MobileError.BadConfig,
            "test.mlcm: hidden_size = 0: must be a positive integer");

    [Fact]
    public void Config_bos_outside_the_vocabulary() =>
        Fails(WithHeader(h => h.Config.BosTokenId = 4096), MobileError.BadConfig,
            "test.mlcm: config.bos_token_id = 4096: outside the vocabulary of 2048");

    [Fact]
    public void Executed_layers_disagreeing_with_the_plan() =>
        Fails(WithHeader(h => h.Config.ExecutedLayers = 2), MobileError.BadConfig,
            "test.mlcm: num_hidden_layers = 2: IR has 1 executed steps");

    [Fact]
    public void Config_disagreeing_with_tensor_shapes() =>
        Fails(WithHeader(h => h.Config.IntermediateSize = 96), MobileError.ConfigShapeMismatch,
            "test.mlcm: model.layers.0.mlp.gate_proj.weight = [128, 64]: config implies [96, 64]");

    [Fact]
    public void Tokenizer_id_outside_the_vocabulary() =>
        Fails(WithHeader(h => h.Tokenizer.UnkId = 5000), MobileError.BadTokenizer,
            "test.mlcm: tokenizer.unk_id = 5000: outside the vocabulary of 2048");

    [Fact]
    public void Tokenizer_vocab_size_disagreeing_with_the_model() =>
        Fails(WithHeader(h => h.Tokenizer.VocabSize = 2047), MobileError.BadTokenizer,
            "test.mlcm: tokenizer.vocab_size = 2047: the sentencepiece model holds 2048 pieces");

    [Fact]
    public void Tokenizer_model_with_fewer_pieces_than_vocab_size()
    {
        var tok = ValidTokenizer with { Pieces = ValidTokenizer.Pieces.Take(2047).ToArray(), Scores = ValidTokenizer.Scores.Take(2047).ToArray(), Types = ValidTokenizer.Types.Take(2047).ToArray() };
        Fails(WithTokenizerModel(SentencePieceModelFile.Build(tok)), MobileError.BadTokenizer,
            "test.mlcm: tokenizer.vocab_size = 2048: the sentencepiece model holds 2047 pieces");
    }

    [Fact]
    public void Tokenizer_model_that_is_garbage()
    {
        var e = Fails(WithTokenizerModel([.. Enumerable.Repeat((byte)0xFF, 100)]), MobileError.BadTokenizer);
        Assert.Equal("test.mlcm: tokenizer.sentencepiece_model.ModelProto = 100 bytes: not a sentencepiece model: CodedInputStream encountered a malformed varint.", e.Message);
        Assert.IsType<SentencePieceException>(e.InnerException);
    }

    [Fact]
    public void Tokenizer_model_that_is_truncated()
    {
        var model = SentencePieceModelFile.Build(ValidTokenizer);
        var e = Fails(WithTokenizerModel(model[..^5]), MobileError.BadTokenizer);
        Assert.Equal($"test.mlcm: tokenizer.sentencepiece_model.ModelProto = {model.Length - 5} bytes: not a sentencepiece model: " +
            "While parsing a protocol message, the input ended unexpectedly in the middle of a field.  This could mean either that the input has been truncated or that an embedded message misreported its own length.", e.Message);
        Assert.Equal(SentencePieceError.ParseError, Assert.IsType<SentencePieceException>(e.InnerException).Kind);
    }

    [Fact]
    public void Tokenizer_model_with_its_own_id_out_of_range() =>
        Fails(WithTokenizerModel(SentencePieceModelFile.Build(ValidTokenizer with { BosId = 5000 })), MobileError.BadTokenizer,
            "test.mlcm: tokenizer.sentencepiece_model.trainer_spec.bos_id = 5000: must be an id in [0, 2048)");

    [Fact]
    public void Tokenizer_model_with_a_bad_piece_type()
    {
        var types = ValidTokenizer.Types.ToArray();
        types[300] = (PieceType)9;
        Fails(WithTokenizerModel(SentencePieceModelFile.Build(ValidTokenizer with { Types = types })), MobileError.BadTokenizer,
            "test.mlcm: tokenizer.sentencepiece_model.pieces[300].type = 9: not a sentencepiece piece type (1..6)");
    }

    [Fact]
    public void Tokenizer_without_its_model_section() =>
        Fails(WithHeader(h => h.Tokenizer.SentencepieceModel = null), MobileError.BadTokenizer,
            "test.mlcm: tokenizer.sentencepiece_model = (absent): the sentencepiece model section is required");

    [Fact]
    public void Tokenizer_vocab_size_over_the_cap() =>
        Fails(WithHeader(h => h.Tokenizer.VocabSize = 3_000_000), MobileError.OverCap,
            "test.mlcm: tokenizer.vocab_size = 3000000: above the cap of 1048576 (MaxVocab)");

    [Fact]
    public void Tokenizer_model_over_the_size_cap_is_refused_before_decompressing() =>
        Fails(WithTokenizerModel(new byte[300_000], h =>
            {
                h.Tokenizer.SentencepieceModel.Compression = Compression.Lz4;
                h.Tokenizer.SentencepieceModel.RawLength = SentencePieceModelFile.MaxModelBytes + 1;
            }), MobileError.OverCap,
            $"test.mlcm: tokenizer.sentencepiece_model.raw_length = {SentencePieceModelFile.MaxModelBytes + 1}: above the cap of {SentencePieceModelFile.MaxModelBytes} (SentencePieceModelFile.MaxModelBytes)");

    [Fact]
    public void Metadata_unsorted_or_duplicated()
    {
        Fails(WithHeader(h => h.Metadata.AddRange([new MetadataEntry { Key = "b", Value = "1" }, new MetadataEntry { Key = "a", Value = "2" }])),
            MobileError.BadMetadata, "test.mlcm: metadata[1].key = a: keys must be sorted (ordinal); it follows \"b\"");
        Fails(WithHeader(h => h.Metadata.AddRange([new MetadataEntry { Key = "a", Value = "1" }, new MetadataEntry { Key = "a", Value = "2" }])),
            MobileError.BadMetadata, "test.mlcm: metadata[1].key = a: duplicate key");
    }

    [Fact]
    public void Every_error_kind_has_a_test_here()
    {
        var source = File.ReadAllText(Path.Combine(RepoRoot(), "tests", "MobileLlmConvert.Tests", "Mobile", "MobileHostileTests.cs"));
        foreach (var kind in Enum.GetNames<MobileError>())
        {
            Assert.Contains("MobileError." + kind + ",", source);
        }
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MobileLlmConvert.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("repository root (MobileLlmConvert.sln) not found");
    }
}
