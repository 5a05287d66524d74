namespace MobileLlmConvert.Formats;

/// <summary>
/// What an accuracy budget (`--max-kl`, `--target-size`, `--target-bpw`) chose and measured, as a
/// writer records it: the bundle manifest's "quality" object, GGUF's mobilellmconvert.quality.* keys
/// (formats/mobile/SPEC.md, formats/gguf.md; docs/quantization.md, "Accuracy budget").
/// </summary>
/// <param name="Budget">max_kl, target_size or target_bpw.</param>
/// <param name="Value">The bound as given: nats, bytes or bits per stored parameter.</param>
/// <param name="MeasuredMeanKl">Mean KL(source ‖ written model) on the evaluation tokens, in nats.</param>
/// <param name="EvalText">The evaluation text's name (a path, or the default text's name).</param>
/// <param name="EvalTextSha256">SHA-256 of the evaluation text's UTF-8 bytes.</param>
/// <param name="Tokens">Evaluation tokens scored (the first N of the text).</param>
/// <param name="Context">Window length of the evaluation.</param>
/// <param name="TensorTypes">Each searched tensor's key and chosen type name, in table order.</param>
public sealed record QualityRecord(string Budget, double Value, double MeasuredMeanKl, string EvalText, string EvalTextSha256, int Tokens, int Context,
    IReadOnlyList<KeyValuePair<string, string>> TensorTypes)
{
    /// <summary>The budget kinds a record names.</summary>
    public static readonly IReadOnlyList<string> BudgetNames = ["max_kl", "target_size", "target_bpw"];
}
