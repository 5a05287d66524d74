using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Tests.Gguf;

namespace MobileLlmConvert.Tests.Oracles;

/// <summary>
/// llama.cpp (node-llama-cpp) loads the GGUF we write for every family and returns a distribution.
/// Comparing its numbers with our executor's logits is done where both are available (Cli tests).
/// </summary>
public class LlamaCppOracleTests
{
    private static readonly int[] Prompt = [1, 17, 40, 300, 5];

    [Theory]
    [MemberData(nameof(GgufTestModels.FamilyNames), MemberType = typeof(GgufTestModels))]
    public void LlamaCppLoadsOurGgufOfEveryFamily(string family)
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create(family);
        var path = dir.File($"{family}.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F16 });

        var result = LlamaCppOracle.Probabilities(path, Prompt);
        Assert.Equal(Prompt, result.Tokens);
        Assert.Equal(Prompt.Length, result.Probabilities.Length);
        foreach (var row in result.Probabilities)
        {
            Assert.Equal(ir.Config.VocabSize, row.Length);
            Assert.All(row, p => Assert.InRange(p, 0.0, 1.0));
            Assert.InRange(row.Sum(), 1 - 1e-5, 1 + 1e-5);
        }
        // Different prefixes give different distributions: the model really ran on each position.
        Assert.NotEqual(result.Probabilities[0], result.Probabilities[^1]);
    }

    /// <summary>
    /// llama.cpp on our F32 GGUF agrees with a plain double-precision forward pass over the source IR:
    /// this is what proves the Q/K permutation, head_dim keys, tied head and shared blocks are read by
    /// llama.cpp as we meant them. The oracle runs with an f32 KV cache and without flash attention:
    /// with llama.cpp's defaults (f16 cache, CPU flash attention rounding Q to f16) these models with
    /// their large weights differ by up to 3e-3.
    /// </summary>
    [Theory]
    [MemberData(nameof(GgufTestModels.FamilyNames), MemberType = typeof(GgufTestModels))]
    public void LlamaCppAgreesWithAPlainForwardPassOnF32(string family)
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create(family);
        var path = dir.File($"{family}.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        var llama = LlamaCppOracle.Probabilities(path, Prompt); // f32 KV cache, no flash attention

        var reference = NaiveTransformer.Logits(ir, Prompt);
        double maxDiff = 0;
        for (int p = 0; p < Prompt.Length; p++)
        {
            var expected = Softmax(reference[p]);
            for (int i = 0; i < expected.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - llama.Probabilities[p][i]));
        }
        // Measured: at most 2.1e-6 over the five families (f32 rounding in llama.cpp). A wrong Q/K
        // permutation or head layout moves probabilities by 1e-2 and more.
        Assert.InRange(maxDiff, 0, 1e-5);
    }

    /// <summary>
    /// llama.cpp on our Q8_0/Q4_0/Q4_1/Q5_0 GGUF (Q/K rows permuted block-wise) against the plain forward
    /// pass over the same blocks. ggml's CPU backend rounds the activations of every quantized product
    /// to int8 blocks with an f16 scale (Q8_0 for Q8_0/Q4_0/Q5_0 weights; Q8_1, whose min term is
    /// f16(d·Σq), for Q4_1); the reference does the same, and then the two agree to ~1e-7.
    /// Without that rounding the difference is ~1e-2 on these large-weight models, as big as the
    /// effect of quantizing the weights: a layout or permutation error would not hide below 1e-5.
    /// </summary>
    [Theory]
    [InlineData(ElementType.Q8_0)]
    [InlineData(ElementType.Q4_0)]
    [InlineData(ElementType.Q4_1)]
    [InlineData(ElementType.Q5_0)]
    public void LlamaCppAgreesOnOurQuantizedGguf(ElementType type)
    {
        using var dir = GgufTestModels.TempDir();
        using var source = GgufTestModels.Create("llama-gqa-untied");
        var ir = GgufTestModels.Quantized(source, type);
        var path = dir.File("q.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        var llama = LlamaCppOracle.Probabilities(path, Prompt, threads: 2);
        var reference = NaiveTransformer.Logits(ir, Prompt, NaiveActivations.GgmlQ8);
        double maxDiff = 0;
        for (int p = 0; p < Prompt.Length; p++)
        {
            var expected = Softmax(reference[p]);
            Assert.InRange(llama.Probabilities[p].Sum(), 1 - 1e-5, 1 + 1e-5);
            for (int i = 0; i < expected.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - llama.Probabilities[p][i]));
        }
        // Measured: 6.7e-8 (Q8_0), 1.0e-7 (Q4_0), 1.5e-7 (Q4_1).
        Assert.True(maxDiff <= 1e-5, $"max abs probability difference {maxDiff:E2}");
    }

    [Fact]
    public void LlamaCppTokenizesWithOurVocabulary()
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("llama-tied");
        var path = dir.File("t.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        // sentencepiece BPE on "▁hello▁world" merges the best-scored pair first (SyntheticVocab scores are
        // minus the merge rank): he(-1) > ▁w(-10) > or(-17) > ll(-23) > ▁he(-37) > ▁wor(-41) > ld(-42) >
        // ▁world(-43). "▁hello" is never reached: "lo" lost its "l" to "ll", and "llo" is not a piece.
        var v = ir.Tokenizer!.Pieces.ToList();
        int[] expected = [v.IndexOf("▁he"), v.IndexOf("ll"), v.IndexOf("o"), v.IndexOf("▁world")];
        Assert.DoesNotContain(-1, expected);
        Assert.Equal(expected, LlamaCppOracle.Tokenize(path, "hello world"));
    }

    [Fact]
    public void ScriptFailuresSurfaceAsExceptionsWithLlamaCppsMessage()
    {
        using var dir = GgufTestModels.TempDir();
        using var ir = GgufTestModels.Create("llama-tied");
        var path = dir.File("t.gguf");
        GgufWriter.Write(ir, path, new GgufWriteOptions { FloatType = ElementType.F32 });
        var e = Assert.Throws<InvalidOperationException>(() => LlamaCppOracle.Probabilities(path, [1, 320]));
        Assert.StartsWith("node llama-probs.mjs exited with 2: ", e.Message);
        Assert.EndsWith("--tokens: 320 is outside the vocabulary of 320", e.Message);
    }

    [Fact]
    public void AMissingInstallSaysWhatToRun()
    {
        using var dir = GgufTestModels.TempDir();
        var e = Assert.Throws<InvalidOperationException>(() => LlamaCppOracle.RunScript(dir.Path, "llama-probs.mjs", [], null));
        Assert.Equal($"llama.cpp oracle is not installed ({Path.Combine(dir.Path, "node_modules")} is missing): run `npm ci --prefix tests/oracles` from the repository root", e.Message);
    }

    /// <summary>Probabilities in double from the naive forward's f32 logits.</summary>
    private static double[] Softmax(float[] logits)
    {
        double max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }
}
