using MobileLlmConvert.Core.Ir;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MobileLlmConvert.Formats.Onnx.Standard;

/// <summary>
/// How the <c>standard</c> profile stores one IR tensor as ai.onnx initializers, and back.
/// <para>
/// A matrix (IR shape [out, in] = [N, K], blocks along K) is stored TRANSPOSED, as [K, N], so that
/// <c>MatMul(x, W)</c> takes it as is and blockwise <c>DequantizeLinear</c> runs along axis 0 (the
/// layout ONNX Runtime's own QDQ weight quantizer writes and its DQ+MatMul -> MatMulNBits fusion
/// recognizes: onnxruntime/python/tools/quantization/matmul_4bits_quantizer.py, QuantFormat.QDQ).
/// Vectors (the RMSNorm weights) are stored as they are.
/// </para>
/// <list type="bullet">
/// <item>f32 / f16 / bf16: one initializer of that type.</item>
/// <item>Q8 family (x = q·d): INT8 [K, N] codes and f16 <c>.scales</c> [K/g, N] (the stored d, exactly).</item>
/// <item>Q4 family (x = (q - 8)·d): INT4 [K, N] with value q - 8 in [-8, 7], zero point omitted (0),
/// and f16 <c>.scales</c>.</item>
/// <item>Q4_1 family (x = q·d + m): UINT4 [K, N] with q, f16 <c>.scales</c> d and f16 <c>.mins</c> m
/// [K/g, N]. DequantizeLinear computes (q - z)·d with an integer z of the data's type (ONNX
/// Operators.md, DequantizeLinear-21), so m = -z·d holds only when m/d is an integer in [0, 15]: the
/// min is not a zero point and is stored (and applied) separately, see <see cref="StandardProfile"/>.</item>
/// </list>
/// INT4/UINT4 pack two values per byte, the first in the low nibble, in row-major order (ONNX IR.md,
/// "4 bit integer types"). Every block type with other layouts (Q5_x, K-quants) is refused by
/// <see cref="CannotStore"/>.
/// </summary>
internal static class StandardWeights
{
    /// <summary>Suffix of the per-block min initializer of an asymmetric (Q4_1 family) tensor.</summary>
    public const string MinsSuffix = ".mins";

    /// <summary>Why the standard profile cannot store <paramref name="type"/>, or null when it can.</summary>
    public static string? CannotStore(ElementType type) => type.Info().Kind switch
    {
        QuantKind.Float or QuantKind.Int8Symmetric or QuantKind.Int4Symmetric or QuantKind.Int4Asymmetric => null,
        _ => $"{type.Info().Name} has no ai.onnx form: DequantizeLinear (opset 21) takes int4/uint4/int8 codes with one scale per block, not 5-bit codes or K-quant super-blocks",
    };

    /// <summary>The ONNX element type of the stored codes (or values) of an IR type.</summary>
    public static DataType StoredDataType(ElementType type) => type.Info().Kind switch
    {
        QuantKind.Float => type switch
        {
            ElementType.F32 => DataType.Float,
            ElementType.F16 => DataType.Float16,
            ElementType.BF16 => DataType.Bfloat16,
            _ => throw Refused(type),
        },
        QuantKind.Int8Symmetric => DataType.Int8,
        QuantKind.Int4Symmetric => DataType.Int4,
        QuantKind.Int4Asymmetric => DataType.Uint4,
        _ => throw Refused(type),
    };

    /// <summary>The stored (ONNX) shape of a tensor with IR shape <paramref name="irShape"/>: matrices transposed.</summary>
    public static long[] StoredShape(long[] irShape) => irShape.Length == 2 ? [irShape[1], irShape[0]] : (long[])irShape.Clone();

    /// <summary>
    /// The initializers that store <paramref name="t"/> under <paramref name="name"/>: the codes (or
    /// values) first, then <see cref="OnnxWeight.ScalesSuffix"/>, then <see cref="MinsSuffix"/>. Each one's
    /// bytes are computed from the tensor's source only when the writer asks for them.
    /// </summary>
    public static IReadOnlyList<OnnxInitializer> Encode(Tensor t, string name)
    {
        var info = t.Type.Info();
        if (CannotStore(t.Type) is { } why) throw new ArgumentException($"tensor {t.Name}: {why}");
        if (t.Shape.Length == 1)
        {
            if (info.IsQuantized) throw new ArgumentException($"tensor {t.Name}: a quantized vector has no standard form");
            return [new(name, StoredDataType(t.Type), (long[])t.Shape.Clone(), t.ByteLength, d => t.Source.Read().CopyTo(d))];
        }
        if (t.Shape.Length != 2) throw new ArgumentException($"tensor {t.Name}: rank {t.Shape.Length} is not a vector or a matrix");
        int n = t.Rows, k = t.Columns;
        long[] shape = [k, n];
        if (!info.IsQuantized)
            return [new(name, StoredDataType(t.Type), shape, t.ByteLength, d => TransposeElements(t.Source.Read(), d, n, k, info.BlockBytes))];

        int blocks = k / info.BlockValues;
        long[] scaleShape = [blocks, n];
        long scaleBytes = checked((long)blocks * n * 2);
        long codeBytes = info.Kind == QuantKind.Int8Symmetric ? checked((long)k * n) : checked(((long)k * n + 1) / 2);
        var parts = new List<OnnxInitializer>
        {
            new(name, StoredDataType(t.Type), shape, codeBytes, d => FillCodes(t, d)),
            new(name + OnnxWeight.ScalesSuffix, DataType.Float16, scaleShape, scaleBytes, d => FillHalves(t, 0, d)),
        };
        if (info.Kind == QuantKind.Int4Asymmetric)
            parts.Add(new(name + MinsSuffix, DataType.Float16, scaleShape, scaleBytes, d => FillHalves(t, 2, d)));
        return parts;
    }

    // The f16 at byte offset `at` of every block (d at 0; m at 2 for Q4_1), laid out [K/g, N].
    private static void FillHalves(Tensor t, int at, Span<byte> dst)
    {
        var info = t.Type.Info();
        var bytes = t.Source.Read();
        int n = t.Rows, blocks = t.Columns / info.BlockValues, bb = info.BlockBytes;
        for (int r = 0; r < n; r++)
        {
            for (int b = 0; b < blocks; b++)
                bytes.Slice(checked((r * blocks + b) * bb + at), 2).CopyTo(dst.Slice(checked((b * n + r) * 2), 2));
        }
    }

    // The codes [K, N]: int8 as stored; 4-bit as packed nibbles in row-major order of [K, N].
    private static void FillCodes(Tensor t, Span<byte> dst)
    {
        var info = t.Type.Info();
        var bytes = t.Source.Read();
        int n = t.Rows, g = info.BlockValues, blocks = t.Columns / g, bb = info.BlockBytes;
        int quantsAt = info.Kind == QuantKind.Int4Asymmetric ? 4 : 2;
        dst.Clear();
        for (int r = 0; r < n; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                var block = bytes.Slice(checked((r * blocks + b) * bb), bb);
                for (int j = 0; j < g; j++)
                {
                    long flat = (long)(b * g + j) * n + r;
                    if (info.Kind == QuantKind.Int8Symmetric) { dst[checked((int)flat)] = block[quantsAt + j]; continue; }
                    int code = Nibble(block, quantsAt, g, j);
                    // INT4 stores q - 8 as a two's-complement nibble, which is q XOR 8; UINT4 stores q.
                    int nib = info.Kind == QuantKind.Int4Symmetric ? code ^ 8 : code;
                    dst[checked((int)(flat / 2))] |= (byte)((flat & 1) == 0 ? nib : nib << 4);
                }
            }
        }
    }

    /// <summary>
    /// The IR bytes of a tensor of <paramref name="type"/> and IR shape <paramref name="irShape"/> from its
    /// stored parts (the inverse of <see cref="Encode"/>); <paramref name="mins"/> is empty unless the type is
    /// asymmetric. Lengths are checked here; the reader checks names, types and shapes before calling.
    /// </summary>
    public static void Decode(ElementType type, long[] irShape, ReadOnlySpan<byte> codes, ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> ir)
    {
        var info = type.Info();
        if (CannotStore(type) is { } why) throw new ArgumentException(why);
        long size = type.ByteSize(irShape) ?? throw new ArgumentException($"shape {Shapes.Format(irShape)} is not whole {info.Name} blocks");
        if (irShape.Length == 1)
        {
            if (info.IsQuantized || codes.Length != size) throw new ArgumentException($"vector of {codes.Length} bytes, expected {size}");
            codes.CopyTo(ir);
            return;
        }
        if (irShape.Length != 2) throw new ArgumentException($"rank {irShape.Length} is not a vector or a matrix");
        int n = checked((int)irShape[0]), k = checked((int)irShape[1]);
        if (!info.IsQuantized)
        {
            if (codes.Length != size) throw new ArgumentException($"matrix of {codes.Length} bytes, expected {size}");
            TransposeElements(codes, ir, k, n, info.BlockBytes);
            return;
        }
        int g = info.BlockValues, blocks = k / g, bb = info.BlockBytes;
        bool asym = info.Kind == QuantKind.Int4Asymmetric, int8 = info.Kind == QuantKind.Int8Symmetric;
        long codeBytes = int8 ? (long)k * n : ((long)k * n + 1) / 2;
        long scaleBytes = (long)blocks * n * 2;
        if (codes.Length != codeBytes) throw new ArgumentException($"codes of {codes.Length} bytes, expected {codeBytes}");
        if (scales.Length != scaleBytes) throw new ArgumentException($"scales of {scales.Length} bytes, expected {scaleBytes}");
        if (mins.Length != (asym ? scaleBytes : 0)) throw new ArgumentException($"mins of {mins.Length} bytes, expected {(asym ? scaleBytes : 0)}");
        if (ir.Length != size) throw new ArgumentException($"destination of {ir.Length} bytes, expected {size}");
        ir.Clear();
        int quantsAt = asym ? 4 : 2;
        for (int r = 0; r < n; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                var block = ir.Slice(checked((r * blocks + b) * bb), bb);
                int si = (b * n + r) * 2;
                scales.Slice(si, 2).CopyTo(block);
                if (asym) mins.Slice(si, 2).CopyTo(block[2..]);
                for (int j = 0; j < g; j++)
                {
                    long flat = (long)(b * g + j) * n + r;
                    if (int8) { block[quantsAt + j] = codes[(int)flat]; continue; }
                    int nib = (flat & 1) == 0 ? codes[(int)(flat / 2)] & 0x0F : codes[(int)(flat / 2)] >> 4;
                    int code = asym ? nib : nib ^ 8;
                    int half = g / 2;
                    if (j < half) block[quantsAt + j] |= (byte)code;
                    else block[quantsAt + j - half] |= (byte)(code << 4);
                }
            }
        }
    }

    /// <summary>Code j of a 4-bit block whose byte i holds value i (low nibble) and value i + g/2 (high nibble).</summary>
    private static int Nibble(ReadOnlySpan<byte> block, int at, int g, int j) =>
        j < g / 2 ? block[at + j] & 0x0F : block[at + j - g / 2] >> 4;

    /// <summary>[rows, cols] elements of <paramref name="width"/> bytes each, transposed to [cols, rows].</summary>
    private static void TransposeElements(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int cols, int width)
    {
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
                src.Slice(checked((r * cols + c) * width), width).CopyTo(dst.Slice(checked((c * rows + r) * width), width));
        }
    }

    private static ArgumentException Refused(ElementType type) => new($"{type.Info().Name} has no standard ONNX form");
}
