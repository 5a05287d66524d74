using System.Runtime.Intrinsics.X86;

namespace MobileLlmConvert.Core.Quant;

/// <summary>The instruction-set levels of the quantized and f16 kernels, lowest first.</summary>
public enum QuantIsaLevel
{
    /// <summary>The scalar reference (<see cref="QuantOpsNaive"/>, the block structs' own loops).</summary>
    Scalar,
    /// <summary>AVX2 + FMA (AVX-VNNI's 256-bit vpdpbusd where present).</summary>
    Avx2,
    /// <summary>AVX-512 F + BW + VL on top of <see cref="Avx2"/>: 512-bit kernels where one is written, else AVX2.</summary>
    Avx512,
}

/// <summary>
/// Which kernel level runs: the highest the CPU supports, lowered by the environment variable
/// <c>MLCONVERT_ISA=scalar|avx2|avx512</c> (read once, for benchmarks and for reproducing a result on
/// a smaller machine), and per thread by <see cref="Force"/> (tests hold every level to the scalar
/// reference in one process). A level above what the CPU has is never used.
/// </summary>
public static class QuantIsa
{
    /// <summary>The environment variable that caps the level for the whole process.</summary>
    public const string EnvironmentVariable = "MLCONVERT_ISA";

    /// <summary>The highest level this CPU runs.</summary>
    public static QuantIsaLevel Supported { get; } = Detect();

    /// <summary>The process-wide level: <see cref="Supported"/>, capped by <see cref="EnvironmentVariable"/> when set.</summary>
    public static QuantIsaLevel Process { get; } = Cap(Supported, Environment.GetEnvironmentVariable(EnvironmentVariable));

    [ThreadStatic] private static QuantIsaLevel? t_forced;

    /// <summary>The level kernels called on this thread use.</summary>
    public static QuantIsaLevel Current => t_forced is { } f && f < Process ? f : Process;

    /// <summary>
    /// Caps the level on the calling thread until the returned scope is disposed (never raises it above
    /// <see cref="Process"/>). Kernels called from other threads (the executor's workers) are not affected.
    /// </summary>
    internal static Scope Force(QuantIsaLevel level)
    {
        var previous = t_forced;
        t_forced = level;
        return new Scope(previous);
    }

    /// <summary>Restores the previous thread-local cap.</summary>
    internal readonly struct Scope(QuantIsaLevel? previous) : IDisposable
    {
        public void Dispose() => t_forced = previous;
    }

    /// <summary>The level name as <see cref="EnvironmentVariable"/> spells it.</summary>
    public static string Name(QuantIsaLevel level) => level switch
    {
        QuantIsaLevel.Scalar => "scalar",
        QuantIsaLevel.Avx2 => "avx2",
        QuantIsaLevel.Avx512 => "avx512",
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };

    private static QuantIsaLevel Detect()
    {
        if (!(Avx2.IsSupported && Fma.IsSupported)) return QuantIsaLevel.Scalar;
        return Avx512F.IsSupported && Avx512BW.IsSupported && Avx512F.VL.IsSupported && Avx512BW.VL.IsSupported
            ? QuantIsaLevel.Avx512
            : QuantIsaLevel.Avx2;
    }

    /// <summary>An unknown value is ignored (the supported level runs), so a typo never slows a run silently to scalar.</summary>
    internal static QuantIsaLevel Cap(QuantIsaLevel supported, string? value)
    {
        QuantIsaLevel? asked = value?.Trim().ToLowerInvariant() switch
        {
            "scalar" => QuantIsaLevel.Scalar,
            "avx2" => QuantIsaLevel.Avx2,
            "avx512" => QuantIsaLevel.Avx512,
            _ => null,
        };
        return asked is { } a && a < supported ? a : supported;
    }
}
