using MobileLlmConvert.Formats;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Runtime.Evaluation;
using MobileLlmConvert.Tests.EndToEnd;
using MobileLlmConvert.Tests.Gguf;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.Oracles;

// Inside the namespace so it wins over the library facade MobileLlmConvert.Models.
using Models = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>
/// llama.cpp (node-llama-cpp) on GGUF files of the block types Q5_1, Q4_K and Q6_K, against our executor
/// (fast path) on the same file. The model is synthetic and 256 wide (hidden 256, intermediate 512), so
/// every matrix row is whole 256-value super-blocks and the K-quant kernels, not a fallback, run on both
/// sides. Our activations are int8 blocks of the weight's group with an f16 scale; ggml uses Q8_1 for
/// Q5_1 and Q8_K (256 values, f32 scale) for the K-quants: the two differ by activation rounding only.
/// </summary>
public sealed class LlamaCppBlockTypeTests(ITestOutputHelper output)
{
    /// <summary>The bound LlamaCppAgreementTests holds Q4_0 files to (max abs probability difference).</summary>
    private const double Q4Tolerance = 5e-3;

    private static readonly SyntheticSpec Wide = new()
    {
        Family = ModelFamily.Llama, HiddenSize = 256, IntermediateSize = 512, NumHeads = 4, NumKvHeads = 2, InitStd = 0.08f, Seed = 31,
    };

    [Theory]
    [InlineData("q5_0")]
    [InlineData("q5_1")]
    [InlineData("q4_k")]
    [InlineData("q6_k")]
    public void LlamaCppAgreesWithOurExecutorOnTheBlockType(string scheme)
    {
        using var dir = GgufTestModels.TempDir();
        using var source = SyntheticModel.Create(Wide, TensorNames.HuggingFace);
        var (ir, report) = new QuantizePass(QuantPolicy.Parse(scheme)).Run(source);
        Assert.Empty(report.Warnings); // no fallback: every matrix is the asked type
        var path = dir.File("m.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions());
        var (ours, vocab) = Models.Logits(path, Models.Tokens, QuantPath.Fast);
        var theirs = LlamaCppOracle.Probabilities(path, Models.Tokens);
        double max = 0;
        for (int p = 0; p < Models.Tokens.Length; p++)
        {
            var expected = LogitComparison.Softmax(ours.AsSpan(p * vocab, vocab));
            for (int i = 0; i < vocab; i++) max = Math.Max(max, Math.Abs(expected[i] - theirs.Probabilities[p][i]));
        }
        output.WriteLine($"{scheme}: max |p_llama.cpp - p_ours| = {max:E3}");
        Assert.True(max <= Q4Tolerance, $"{scheme}: llama.cpp differs by {max:E3} > {Q4Tolerance:E1}");
    }
}
