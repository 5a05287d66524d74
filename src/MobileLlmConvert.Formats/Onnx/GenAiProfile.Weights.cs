using System.Buffers.Binary;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MobileLlmConvert.Formats.Onnx;

// The genai profile's weight encoding, both directions (formats/onnx.md, "Weights").
//
// Float tensors are stored as they are in the IR (f32, f16 or bf16, shape [out, in]); the graph
// casts and transposes them. Quantized matrices become MatMulNBits' inputs (onnxruntime
// docs/ContribOperators.md, com.microsoft.MatMulNBits): B uint8 [N, k_blocks, block_size*bits/8],
// scales float [N, k_blocks] and, for the asymmetric family only, float zero points [N, k_blocks];
// MatMulNBits dequantizes (q - zero_point) * scale with a default zero point of 2^(bits-1).
//  - q4_0 / q4_g64 / q4_g128 (x = (q - 8) d): same codes and scales; only the nibble order moves
//    (ggml byte j holds elements j and j + g/2, MatMulNBits byte j holds 2j low and 2j+1 high).
//  - q4_1 family (x = q d + m): zero point -m/d as a float, so (q + m/d) d = q d + m within float rounding.
//  - q8_0 / q8_g64 / q8_g128 (x = q d, q signed): stored as q + 128 with the default zero point 128.
internal sealed partial class GenAiProfile
{
    /// <inheritdoc />
    public string? CannotStore(ElementType type) => type.Info().Kind switch
    {
        QuantKind.Float or QuantKind.Int4Symmetric or QuantKind.Int4Asymmetric or QuantKind.Int8Symmetric => null,
        _ => $"{type.Info().Name} has no MatMulNBits form (bits 4 or 8 with one scale per block): use q4_0, q4_1, q8_0 or their g64/g128 variants",
    };

    /// <inheritdoc />
    public IReadOnlyList<OnnxInitializer> Encode(Tensor tensor, string name)
    {
        var info = tensor.Type.Info();
        if (!info.IsQuantized)
            return [new OnnxInitializer(name, FloatDataType(tensor.Type), tensor.Shape, tensor.ByteLength, tensor.Source.CopyTo)];
        if (CannotStore(tensor.Type) is { } why) throw new ModelUsageException($"ONNX ({Name} profile): tensor {tensor.Name}: {why}");
        if (tensor.Shape.Length != 2) throw new ModelUsageException($"ONNX ({Name} profile): tensor {tensor.Name}: quantized tensors must be matrices, not {Shapes.Format(tensor.Shape)}");
        var q = QuantLayout.Of(tensor.Type, tensor.Shape);
        var inits = new List<OnnxInitializer>
        {
            new(name, DataType.Uint8, [q.N, q.KBlocks, q.BlobBytes], q.N * q.KBlocks * q.BlobBytes, d => q.WriteCodes(tensor.Source.Read(), d)),
            new(name + OnnxWeight.ScalesSuffix, DataType.Float, [q.N, q.KBlocks], q.N * q.KBlocks * 4, d => q.WriteScales(tensor.Source.Read(), d)),
        };
        if (q.Asymmetric)
        {
            inits.Add(new(name + OnnxWeight.ZeroPointsSuffix, DataType.Float, [q.N, q.KBlocks], q.N * q.KBlocks * 4,
                d => q.WriteZeroPoints(tensor.Name, tensor.Source.Read(), d)));
        }
        return inits;
    }

    /// <inheritdoc />
    public void Decode(string name, ElementType type, long[] shape, OnnxInitializerBytes initializers, Span<byte> destination)
    {
        if (!type.Info().IsQuantized)
        {
            initializers(name).CopyTo(destination);
            return;
        }
        var q = QuantLayout.Of(type, shape);
        q.ReadBlocks(initializers(name), initializers(name + OnnxWeight.ScalesSuffix),
            q.Asymmetric ? initializers(name + OnnxWeight.ZeroPointsSuffix) : default, destination);
    }

    /// <summary>The ONNX element type of a float IR type.</summary>
    internal static DataType FloatDataType(ElementType type) => type switch
    {
        ElementType.F32 => DataType.Float,
        ElementType.F16 => DataType.Float16,
        ElementType.BF16 => DataType.Bfloat16,
        _ => throw new ArgumentException($"{type} is not a float type"),
    };

    /// <summary>A quantized matrix [N, K] seen as IR blocks and as MatMulNBits blobs.</summary>
    internal readonly record struct QuantLayout(QuantKind Kind, long N, long KBlocks, int Group, int BlockBytes)
    {
        public static QuantLayout Of(ElementType type, long[] shape)
        {
            var info = type.Info();
            return new QuantLayout(info.Kind, shape[0], shape[1] / info.BlockValues, info.BlockValues, info.BlockBytes);
        }

        public int Bits => Kind == QuantKind.Int8Symmetric ? 8 : 4;
        public bool Asymmetric => Kind == QuantKind.Int4Asymmetric;
        public long BlobBytes => (long)Group * Bits / 8;
        // IR block: f16 d, (q4_1: f16 m), then the codes.
        private int CodesAt => Asymmetric ? 4 : 2;
        private long Blocks => checked(N * KBlocks);

        public void WriteCodes(ReadOnlySpan<byte> ir, Span<byte> dst)
        {
            int blob = (int)BlobBytes, half = Group / 2;
            for (long b = 0; b < Blocks; b++)
            {
                var src = ir.Slice(checked((int)(b * BlockBytes)) + CodesAt, blob);
                var o = dst.Slice(checked((int)(b * blob)), blob);
                if (Bits == 8)
                {
                    for (int j = 0; j < blob; j++) o[j] = (byte)((sbyte)src[j] + 128);
                    continue;
                }
                // ggml: src[j] = e[j] | e[j + half] << 4. MatMulNBits: o[j] = e[2j] | e[2j + 1] << 4.
                for (int j = 0; j < half; j++)
                {
                    int lo = Nibble(src, 2 * j, half), hi = Nibble(src, 2 * j + 1, half);
                    o[j] = (byte)(lo | hi << 4);
                }
            }
        }

        public void WriteScales(ReadOnlySpan<byte> ir, Span<byte> dst)
        {
            for (long b = 0; b < Blocks; b++)
            {
                float d = (float)BinaryPrimitives.ReadHalfLittleEndian(ir[checked((int)(b * BlockBytes))..]);
                BinaryPrimitives.WriteSingleLittleEndian(dst[checked((int)(b * 4))..], d);
            }
        }

        public void WriteZeroPoints(string tensor, ReadOnlySpan<byte> ir, Span<byte> dst)
        {
            for (long b = 0; b < Blocks; b++)
            {
                int at = checked((int)(b * BlockBytes));
                float d = (float)BinaryPrimitives.ReadHalfLittleEndian(ir[at..]);
                float m = (float)BinaryPrimitives.ReadHalfLittleEndian(ir[(at + 2)..]);
                // (q - zp) * 0 is 0 whatever zp is: a block with d = 0 and m != 0 has no MatMulNBits form.
                if (d == 0 && m != 0)
                    throw new ModelUsageException($"ONNX: tensor {tensor} block {b}: q4_1 scale 0 with minimum {m} cannot be stored as MatMulNBits (use q4_0 or q8_0)");
                BinaryPrimitives.WriteSingleLittleEndian(dst[checked((int)(b * 4))..], d == 0 ? 0f : -m / d);
            }
        }

        public void ReadBlocks(ReadOnlySpan<byte> codes, ReadOnlySpan<byte> scales, ReadOnlySpan<byte> zeroPoints, Span<byte> ir)
        {
            int blob = (int)BlobBytes, half = Group / 2;
            for (long b = 0; b < Blocks; b++)
            {
                var o = ir.Slice(checked((int)(b * BlockBytes)), BlockBytes);
                float d = BinaryPrimitives.ReadSingleLittleEndian(scales[checked((int)(b * 4))..]);
                BinaryPrimitives.WriteHalfLittleEndian(o, (Half)d);
                if (Asymmetric)
                {
                    float zp = BinaryPrimitives.ReadSingleLittleEndian(zeroPoints[checked((int)(b * 4))..]);
                    BinaryPrimitives.WriteHalfLittleEndian(o[2..], (Half)(-zp * d));
                }
                var src = codes.Slice(checked((int)(b * blob)), blob);
                var c = o[CodesAt..];
                if (Bits == 8)
                {
                    for (int j = 0; j < blob; j++) c[j] = (byte)(sbyte)(src[j] - 128);
                    continue;
                }
                for (int j = 0; j < half; j++)
                {
                    int lo = OnnxNibble(src, j), hi = OnnxNibble(src, j + half);
                    c[j] = (byte)(lo | hi << 4);
                }
            }
        }

        // Element e of a ggml-ordered block's codes.
        private static int Nibble(ReadOnlySpan<byte> ggml, int e, int half) =>
            e < half ? ggml[e] & 0x0F : ggml[e - half] >> 4;

        // Element e of a MatMulNBits blob.
        private static int OnnxNibble(ReadOnlySpan<byte> blob, int e) =>
            (e & 1) == 0 ? blob[e >> 1] & 0x0F : blob[e >> 1] >> 4;
    }
}
