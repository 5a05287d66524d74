using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Core.Quant;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// Float weight rows times one token (decode): f16, bf16 and f32 rows read once, converted in
/// registers, four rows per pass so each activation load feeds four multiply-adds (two accumulators
/// per row hide the FMA latency). The row loop is shared; a widener says how 16 (or 8) stored values
/// become f32 lanes.
/// <para>
/// f16 without F16C: .NET 10 has no <c>vcvtph2ps</c> intrinsic, so a half is sign-extended to 32 bits
/// (<c>vpmovsxwd</c>, the load folded in), shifted left 13 and masked with 0x8FFFFFFF. That puts the
/// sign at bit 31 and the 5-bit exponent and 10-bit mantissa at f32's bits 23-27 and 13-22, which is
/// the f32 <c>h·2^-112</c> for every finite half — normals (exponent e → e, i.e. rebias by 127 − 15 =
/// 112) and subnormals alike (they become f32 subnormals with the same scale), ±0 included
/// (IEEE 754-2019 §3.4 binary16/binary32 encodings). The 2^112 leaves the loop: the row sum is
/// multiplied by it once. Three integer operations and one FMA per 16 weights, against ten for the
/// exact construction (<see cref="HalfVectors"/>).
/// </para>
/// <para>
/// Where it can differ from converting exactly and summing in the same order: scaling by a power of
/// two commutes with f32 rounding except in the subnormal range, so a product or partial sum whose
/// true magnitude is below 2^-14 (= 2^-126·2^112) is kept to a multiple of 2^-37 instead of 24
/// significant bits (an absolute error of at most 2^-38 per multiply-add); and a true sum above
/// f32's largest finite value overflows at the final scaling instead of inside the loop (infinity
/// either way). Exponent 31 (infinity, NaN) would become a finite number, so rows holding one never
/// take this path: <see cref="DotF16Rows"/> checks each row once (the caller keeps the verdict) and
/// sends such rows through the exact conversion, where they give infinity or NaN as
/// <c>(float)Half</c> does. bf16 is exactly the top half of an f32 (shift left 16, every pattern
/// including infinity and NaN), f32 is loaded as it is.
/// </para>
/// </summary>
internal static unsafe partial class FloatKernels
{
    /// <summary>A row not yet checked for f16 infinities and NaNs (<see cref="DotF16Rows"/>'s row state).</summary>
    public const byte RowUnchecked = 0;
    /// <summary>A row of finite f16 values: the scaled conversion is exact for it.</summary>
    public const byte RowFinite = 1;
    /// <summary>A row holding an f16 infinity or NaN: converted exactly.</summary>
    public const byte RowNonFinite = 2;

    /// <summary>Rows per pass of the multi-row kernels.</summary>
    private const int PassRows = 4;

    /// <summary>
    /// y[t] = Σ_k f16(w[t·cols + k])·x[k] for t &lt; rows: one token against f16 rows (decode).
    /// <paramref name="rowState"/> holds one byte per row (<see cref="RowUnchecked"/> until this
    /// method checks the row, then <see cref="RowFinite"/> or <see cref="RowNonFinite"/>); the caller
    /// keeps it with the weights so each row is checked once. Concurrent callers may check the same
    /// row: they write the same verdict. Returns false, doing nothing, when <see cref="QuantIsa.Current"/>
    /// is below AVX2 (the caller converts a tile and uses <see cref="Multiply"/>). Results agree with
    /// that path up to f32 summation order and the subnormal range (class remarks).
    /// </summary>
    public static bool DotF16Rows(ushort* w, int rows, int cols, float* x, float* y, byte* rowState)
    {
        var level = QuantIsa.Current;
        if (level < QuantIsaLevel.Avx2 || !Avx2.IsSupported || !Fma.IsSupported) return false;
        bool wide = level >= QuantIsaLevel.Avx512 && Avx512F.IsSupported;
        int t = 0;
        while (t < rows)
        {
            int end = t;
            while (end < rows && IsFiniteRow(w, end, cols, rowState)) end++;
            if (end > t)
            {
                var rowsBytes = (byte*)(w + (long)t * cols);
                if (wide) Rows512<F16Scaled>(rowsBytes, end - t, cols, x, y + t);
                else Rows256<F16Scaled>(rowsBytes, end - t, cols, x, y + t);
                t = end;
            }
            if (t < rows)
            {
                y[t] = F16RowExact256(w + (long)t * cols, cols, x);
                t++;
            }
        }
        return true;
    }

    /// <summary>
    /// y[t] = Σ_k bf16(w[t·cols + k])·x[k] for t &lt; rows (decode); false, doing nothing, below AVX2.
    /// The conversion is exact for every pattern, so only the summation order differs from the tile path.
    /// </summary>
    public static bool DotBF16Rows(ushort* w, int rows, int cols, float* x, float* y)
    {
        var level = QuantIsa.Current;
        if (level < QuantIsaLevel.Avx2 || !Avx2.IsSupported || !Fma.IsSupported) return false;
        if (level >= QuantIsaLevel.Avx512 && Avx512F.IsSupported) Rows512<BF16Widener>((byte*)w, rows, cols, x, y);
        else Rows256<BF16Widener>((byte*)w, rows, cols, x, y);
        return true;
    }

    /// <summary>y[t] = Σ_k w[t·cols + k]·x[k] for t &lt; rows, f32 rows (decode); false, doing nothing, below AVX2.</summary>
    public static bool DotF32Rows(float* w, int rows, int cols, float* x, float* y)
    {
        var level = QuantIsa.Current;
        if (level < QuantIsaLevel.Avx2 || !Avx2.IsSupported || !Fma.IsSupported) return false;
        if (level >= QuantIsaLevel.Avx512 && Avx512F.IsSupported) Rows512<F32Widener>((byte*)w, rows, cols, x, y);
        else Rows256<F32Widener>((byte*)w, rows, cols, x, y);
        return true;
    }

    /// <summary>The factor a tile from <see cref="WidenF16Scaled"/> is multiplied back by: 2^112.</summary>
    public static float F16TileScale => F16Scaled.Scale;

    /// <summary>
    /// dst[i] = f16(w[i])·2^-112 for <paramref name="rows"/> rows of <paramref name="cols"/> (a prefill
    /// tile: <see cref="Multiply"/> with scale <see cref="F16TileScale"/> undoes the factor once per
    /// output). Three integer operations per 16 values against the exact conversion's ten. Returns
    /// false, writing nothing, below AVX2 or when a row holds an infinity or NaN (checked once per row,
    /// kept in <paramref name="rowState"/> as for <see cref="DotF16Rows"/>): the caller converts exactly.
    /// </summary>
    public static bool WidenF16Scaled(ushort* w, int rows, int cols, byte* rowState, float* dst)
    {
        var level = QuantIsa.Current;
        if (level < QuantIsaLevel.Avx2 || !Avx2.IsSupported) return false;
        for (int t = 0; t < rows; t++)
        {
            if (!IsFiniteRow(w, t, cols, rowState)) return false;
        }
        int n = checked(rows * cols), k = 0;
        if (level >= QuantIsaLevel.Avx512 && Avx512F.IsSupported)
        {
            for (; k + 16 <= n; k += 16) F16Scaled.Load512((byte*)w, k).Store(dst + k);
        }
        for (; k + 8 <= n; k += 8) F16Scaled.Load256((byte*)w, k).Store(dst + k);
        for (; k < n; k++) dst[k] = BitConverter.Int32BitsToSingle(((short)w[k] << 13) & F16Scaled.Mask);
        return true;
    }

    /// <summary>The row's verdict from <paramref name="rowState"/>, checking the row first if it is unchecked.</summary>
    private static bool IsFiniteRow(ushort* w, int row, int cols, byte* rowState)
    {
        byte state = rowState[row];
        if (state == RowUnchecked) rowState[row] = state = HalfRowIsFinite(w + (long)row * cols, cols) ? RowFinite : RowNonFinite;
        return state == RowFinite;
    }

    /// <summary>True when no value of the f16 row has exponent 31 (infinity or NaN).</summary>
    internal static bool HalfRowIsFinite(ushort* row, int cols)
    {
        const ushort Exponent = 0x7C00;
        int k = 0;
        var e = Vector256.Create(Exponent);
        for (; k + 16 <= cols; k += 16)
        {
            if (Vector256.EqualsAny(Vector256.Load(row + k) & e, e)) return false;
        }
        for (; k < cols; k++)
        {
            if ((row[k] & Exponent) == Exponent) return false;
        }
        return true;
    }

    /// <summary>How stored values become f32 lanes: 16 at a time (512-bit) or 8 (256-bit), times <see cref="Scale"/>.</summary>
    private interface IWidener
    {
        /// <summary>Values [k, k + 16) of the row at <paramref name="row"/>, divided by <see cref="Scale"/>.</summary>
        static abstract Vector512<float> Load512(byte* row, int k);
        /// <summary>Values [k, k + 8) of the row, divided by <see cref="Scale"/>.</summary>
        static abstract Vector256<float> Load256(byte* row, int k);
        /// <summary>The factor a row sum of loaded lanes is multiplied by once.</summary>
        static abstract float Scale { get; }
        /// <summary>Value k of the row, exactly (column tails).</summary>
        static abstract float Value(byte* row, int k);
        /// <summary>Bytes per stored value.</summary>
        static abstract int ElementBytes { get; }
    }

    /// <summary>f16 as h·2^-112 (class remarks): sign-extend, shift left 13, clear bits 28-30. Finite rows only.</summary>
    private readonly struct F16Scaled : IWidener
    {
        public const int Mask = unchecked((int)0x8FFFFFFF);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(byte* row, int k) =>
            ((Avx512F.ConvertToVector512Int32(Avx.LoadVector256((short*)row + k)) << 13) & Vector512.Create(Mask)).AsSingle();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load256(byte* row, int k) =>
            ((Avx2.ConvertToVector256Int32((short*)row + k) << 13) & Vector256.Create(Mask)).AsSingle();

        /// <summary>2^112 = 2^(127 − 15): the f32 bias minus the f16 bias.</summary>
        public static float Scale => BitConverter.UInt32BitsToSingle(0x77800000);

        public static float Value(byte* row, int k) => (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[k]);

        public static int ElementBytes => 2;
    }

    /// <summary>bf16: the top 16 bits of an f32 (sign-extend, shift left 16: the extension shifts out).</summary>
    private readonly struct BF16Widener : IWidener
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(byte* row, int k) =>
            (Avx512F.ConvertToVector512Int32(Avx.LoadVector256((short*)row + k)) << 16).AsSingle();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load256(byte* row, int k) =>
            (Avx2.ConvertToVector256Int32((short*)row + k) << 16).AsSingle();

        public static float Scale => 1f;

        public static float Value(byte* row, int k) => FloatConvert.BF16ToSingle(((ushort*)row)[k]);

        public static int ElementBytes => 2;
    }

    /// <summary>f32 as stored.</summary>
    private readonly struct F32Widener : IWidener
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(byte* row, int k) => Vector512.Load((float*)row + k);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load256(byte* row, int k) => Vector256.Load((float*)row + k);

        public static float Scale => 1f;

        public static float Value(byte* row, int k) => ((float*)row)[k];

        public static int ElementBytes => 4;
    }

    /// <summary>Rows of <paramref name="cols"/> values, four per pass, then one at a time (512-bit).</summary>
    private static void Rows512<T>(byte* w, int rows, int cols, float* x, float* y) where T : struct, IWidener
    {
        long rowBytes = (long)cols * T.ElementBytes;
        int t = 0;
        for (; t + PassRows <= rows; t += PassRows) Four512<T>(w + t * rowBytes, rowBytes, cols, x, y + t);
        for (; t < rows; t++) y[t] = One512<T>(w + t * rowBytes, cols, x);
    }

    private static void Four512<T>(byte* w0, long rowBytes, int cols, float* x, float* y) where T : struct, IWidener
    {
        byte* w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var b0 = a0; var b1 = a0; var b2 = a0; var b3 = a0;
        int k = 0;
        for (; k + 32 <= cols; k += 32)
        {
            var u = Vector512.Load(x + k);
            var v = Vector512.Load(x + k + 16);
            a0 = Vector512.FusedMultiplyAdd(T.Load512(w0, k), u, a0);
            a1 = Vector512.FusedMultiplyAdd(T.Load512(w1, k), u, a1);
            a2 = Vector512.FusedMultiplyAdd(T.Load512(w2, k), u, a2);
            a3 = Vector512.FusedMultiplyAdd(T.Load512(w3, k), u, a3);
            b0 = Vector512.FusedMultiplyAdd(T.Load512(w0, k + 16), v, b0);
            b1 = Vector512.FusedMultiplyAdd(T.Load512(w1, k + 16), v, b1);
            b2 = Vector512.FusedMultiplyAdd(T.Load512(w2, k + 16), v, b2);
            b3 = Vector512.FusedMultiplyAdd(T.Load512(w3, k + 16), v, b3);
        }
        if (k + 16 <= cols)
        {
            var u = Vector512.Load(x + k);
            a0 = Vector512.FusedMultiplyAdd(T.Load512(w0, k), u, a0);
            a1 = Vector512.FusedMultiplyAdd(T.Load512(w1, k), u, a1);
            a2 = Vector512.FusedMultiplyAdd(T.Load512(w2, k), u, a2);
            a3 = Vector512.FusedMultiplyAdd(T.Load512(w3, k), u, a3);
            k += 16;
        }
        StoreFour<T>(Sum4(a0 + b0, a1 + b1, a2 + b2, a3 + b3), w0, rowBytes, k, cols, x, y);
    }

    private static float One512<T>(byte* w, int cols, float* x) where T : struct, IWidener
    {
        var a = Vector512<float>.Zero; var b = a;
        int k = 0;
        for (; k + 32 <= cols; k += 32)
        {
            a = Vector512.FusedMultiplyAdd(T.Load512(w, k), Vector512.Load(x + k), a);
            b = Vector512.FusedMultiplyAdd(T.Load512(w, k + 16), Vector512.Load(x + k + 16), b);
        }
        if (k + 16 <= cols)
        {
            a = Vector512.FusedMultiplyAdd(T.Load512(w, k), Vector512.Load(x + k), a);
            k += 16;
        }
        return Vector512.Sum(a + b) * T.Scale + Tail<T>(w, k, cols, x);
    }

    /// <summary>Rows of <paramref name="cols"/> values, four per pass, then one at a time (256-bit, AVX2).</summary>
    private static void Rows256<T>(byte* w, int rows, int cols, float* x, float* y) where T : struct, IWidener
    {
        long rowBytes = (long)cols * T.ElementBytes;
        int t = 0;
        for (; t + PassRows <= rows; t += PassRows) Four256<T>(w + t * rowBytes, rowBytes, cols, x, y + t);
        for (; t < rows; t++) y[t] = One256<T>(w + t * rowBytes, cols, x);
    }

    private static void Four256<T>(byte* w0, long rowBytes, int cols, float* x, float* y) where T : struct, IWidener
    {
        byte* w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var b0 = a0; var b1 = a0; var b2 = a0; var b3 = a0;
        int k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            var u = Vector256.Load(x + k);
            var v = Vector256.Load(x + k + 8);
            a0 = Fma.MultiplyAdd(T.Load256(w0, k), u, a0);
            a1 = Fma.MultiplyAdd(T.Load256(w1, k), u, a1);
            a2 = Fma.MultiplyAdd(T.Load256(w2, k), u, a2);
            a3 = Fma.MultiplyAdd(T.Load256(w3, k), u, a3);
            b0 = Fma.MultiplyAdd(T.Load256(w0, k + 8), v, b0);
            b1 = Fma.MultiplyAdd(T.Load256(w1, k + 8), v, b1);
            b2 = Fma.MultiplyAdd(T.Load256(w2, k + 8), v, b2);
            b3 = Fma.MultiplyAdd(T.Load256(w3, k + 8), v, b3);
        }
        if (k + 8 <= cols)
        {
            var u = Vector256.Load(x + k);
            a0 = Fma.MultiplyAdd(T.Load256(w0, k), u, a0);
            a1 = Fma.MultiplyAdd(T.Load256(w1, k), u, a1);
            a2 = Fma.MultiplyAdd(T.Load256(w2, k), u, a2);
            a3 = Fma.MultiplyAdd(T.Load256(w3, k), u, a3);
            k += 8;
        }
        StoreFour<T>(Sum4(a0 + b0, a1 + b1, a2 + b2, a3 + b3), w0, rowBytes, k, cols, x, y);
    }

    private static float One256<T>(byte* w, int cols, float* x) where T : struct, IWidener
    {
        var a = Vector256<float>.Zero; var b = a;
        int k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            a = Fma.MultiplyAdd(T.Load256(w, k), Vector256.Load(x + k), a);
            b = Fma.MultiplyAdd(T.Load256(w, k + 8), Vector256.Load(x + k + 8), b);
        }
        if (k + 8 <= cols)
        {
            a = Fma.MultiplyAdd(T.Load256(w, k), Vector256.Load(x + k), a);
            k += 8;
        }
        return Vector256.Sum(a + b) * T.Scale + Tail<T>(w, k, cols, x);
    }

    /// <summary>y[0..4) = the four row sums times the widener's scale, plus columns [k, cols) of each row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreFour<T>(Vector128<float> sums, byte* w0, long rowBytes, int k, int cols, float* x, float* y) where T : struct, IWidener
    {
        sums *= T.Scale;
        if (k < cols)
        {
            sums += Vector128.Create(Tail<T>(w0, k, cols, x), Tail<T>(w0 + rowBytes, k, cols, x),
                Tail<T>(w0 + 2 * rowBytes, k, cols, x), Tail<T>(w0 + 3 * rowBytes, k, cols, x));
        }
        sums.Store(y);
    }

    /// <summary>Columns [k, cols) one at a time, exactly converted.</summary>
    private static float Tail<T>(byte* w, int k, int cols, float* x) where T : struct, IWidener
    {
        float s = 0;
        for (; k < cols; k++) s += T.Value(w, k) * x[k];
        return s;
    }

    /// <summary>One f16 row with the exact conversion (<see cref="HalfVectors"/>): rows holding infinity or NaN.</summary>
    private static float F16RowExact256(ushort* w, int cols, float* x)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0;
        int k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            a0 = Fma.MultiplyAdd(HalfVectors.ToSingle(Avx2.ConvertToVector256Int32(w + k).AsUInt32()), Avx.LoadVector256(x + k), a0);
            a1 = Fma.MultiplyAdd(HalfVectors.ToSingle(Avx2.ConvertToVector256Int32(w + k + 8).AsUInt32()), Avx.LoadVector256(x + k + 8), a1);
        }
        for (; k + 8 <= cols; k += 8)
            a0 = Fma.MultiplyAdd(HalfVectors.ToSingle(Avx2.ConvertToVector256Int32(w + k).AsUInt32()), Avx.LoadVector256(x + k), a0);
        float s = Vector256.Sum(a0 + a1);
        for (; k < cols; k++) s += (float)BitConverter.UInt16BitsToHalf(w[k]) * x[k];
        return s;
    }
}
