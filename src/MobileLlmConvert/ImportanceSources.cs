using System.Text;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Formats.Imatrix;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Runtime.Evaluation;

namespace MobileLlmConvert;

/// <summary>
/// Where the Quantize pass's importance comes from: a calibration text run through our executor
/// (<see cref="ConvertOptions.Calibration"/>) or a llama.cpp imatrix file (<see cref="ConvertOptions.Imatrix"/>).
/// </summary>
public static class ImportanceSources
{
    /// <summary>Largest calibration text read.</summary>
    public const long MaxCalibrationBytes = 64L << 20;

    /// <summary>Window length of the calibration run, capped by the model's context (llama-imatrix's default -c 512).</summary>
    public const int CalibrationContext = 512;

    /// <summary>
    /// The importance of <paramref name="ir"/>'s stored matrices as <paramref name="options"/> ask, or
    /// null when they ask for none. <paramref name="ir"/> is the IR the Quantize pass will see (after the
    /// sharing passes): its keys are the ones the map uses.
    /// </summary>
    /// <exception cref="ModelUsageException">Both sources, a source without a quantized scheme or with round to nearest, an unreadable or empty text.</exception>
    /// <exception cref="ImatrixException">A bad imatrix file, or one of another model.</exception>
    public static ImportanceMap? Load(ModelIr ir, ConvertOptions options, QuantPolicy? policy)
    {
        ArgumentNullException.ThrowIfNull(ir);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Calibration is null && options.Imatrix is null) return null;
        if (options.Calibration is not null && options.Imatrix is not null)
            throw new ModelUsageException("--calibration and --imatrix: give one, not both");
        string flag = options.Calibration is not null ? "--calibration" : "--imatrix";
        if (policy is not { IsQuantized: true })
            throw new ModelUsageException($"{flag} weights the quantizer's scale search: it needs a quantized --quant");
        if (policy.Rounding == QuantRounding.Rtn)
            throw new ModelUsageException($"{flag} weights the scale search; --rounding rtn writes round-to-nearest bytes that ignore it");
        if (options.Imatrix is { } imatrix) return ImatrixFile.Read(imatrix, ir);

        string path = options.Calibration!;
        string text = ReadText(path);
        var tokenizer = Tokenizers.For(ir);
        var ids = tokenizer.Encode(text);
        if (ids.Length < 2) throw new ModelUsageException($"--calibration: {path} holds no text");
        if (ids.Length > Calibration.MaxTokens) ids = ids[..Calibration.MaxTokens];
        int context = Math.Min(CalibrationContext, ir.Config.ContextLength > 0 ? ir.Config.ContextLength : CalibrationContext);
        var map = Calibration.Collect(ir, ids, context, new ExecutorOptions(), $"calibration text {Path.GetFileName(path)}", options.Progress);
        // A model tuned on the text it is then scored on looks better than it is.
        if (Normalize(text) == Normalize(EvaluationText.Default))
            map = map.WithWarning($"--calibration {path} is the default evaluation text ({EvaluationText.DefaultName}): `diff` figures on it will flatter this model; calibrate on a different text");
        return map;
    }

    private static string Normalize(string text) => text.ReplaceLineEndings("\n").Trim();

    private static string ReadText(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new ModelUsageException($"--calibration: {path}: no such file");
        if (info.Length > MaxCalibrationBytes) throw new ModelUsageException($"--calibration: {path} is {info.Length} bytes, over the {MaxCalibrationBytes} byte limit");
        try
        {
            return File.ReadAllText(path, new UTF8Encoding(false, true));
        }
        catch (DecoderFallbackException)
        {
            throw new ModelUsageException($"--calibration: {path} is not UTF-8 text");
        }
    }
}
