using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public class TransformerTests
{
    private const int N = 12;

    public static TheoryData<string, ElementType> FamiliesAndFloatTypes()
    {
        var data = new TheoryData<string, ElementType>();
        foreach (var f in TestModels.Families)
        {
            foreach (var t in new[] { ElementType.F32, ElementType.F16, ElementType.BF16 }) data.Add(f, t);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(FamiliesAndFloatTypes))]
    public void Optimized_matches_naive_within_1e4_of_largest_logit(string family, ElementType dtype)
    {
        using var ir = TestModels.Create(family, dtype);
        var tokens = TestModels.Tokens(N, ir.Config.VocabSize);
        var expected = TestModels.NaiveLogits(ir, tokens);
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 2, MaxContext = 32, MaxBatch = 5 });
        var actual = model.Forward(tokens);
        float scale = TestModels.MaxAbs(expected);
        Assert.True(scale > 1f, $"logits too small to test anything: {scale}");
        float diff = TestModels.MaxAbsDiff(expected, actual);
        Assert.True(diff <= 1e-4f * scale, $"{family} {dtype}: max abs diff {diff} vs bound {1e-4f * scale}");
    }

    [Theory]
    [InlineData(40)]  // one 32-wide register block of the weighted sum plus an 8-wide tail; scores 16 + 16 + 8
    [InlineData(64)]  // MobileLLM-125M's head width: four-key scores, one 64-wide weighted-sum block
    [InlineData(96)]  // four-key scores; weighted sum 64 + 32
    [InlineData(104)] // per-key scores (104 is not a multiple of 16); weighted sum 64 + 32 + 8
    public void Attention_of_wide_heads_matches_naive(int headDim)
    {
        // The default fixtures have 16-wide heads; these widths take every branch of the vector attention.
        using var ir = Core.Synthetic.SyntheticModel.Create(new Core.Synthetic.SyntheticSpec
        {
            Family = ModelFamily.Llama, HiddenSize = 2 * headDim, NumHeads = 2, NumKvHeads = 1, Seed = 21,
        }, TensorNames.HuggingFace);
        var tokens = TestModels.Tokens(N, ir.Config.VocabSize);
        var expected = TestModels.NaiveLogits(ir, tokens);
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 2, MaxContext = 32, MaxBatch = 5 });
        var actual = model.Forward(tokens);
        float scale = TestModels.MaxAbs(expected);
        Assert.True(scale > 1f, $"logits too small to test anything: {scale}");
        float diff = TestModels.MaxAbsDiff(expected, actual);
        Assert.True(diff <= 1e-4f * scale, $"head width {headDim}: max abs diff {diff} vs bound {1e-4f * scale}");
    }

    [Theory]
    [InlineData("llama-gqa")]
    [InlineData("mobilellm-ls")]
    [InlineData("mobillama")]
    public void Prefill_of_n_tokens_equals_feeding_them_one_by_one(string family)
    {
        using var ir = TestModels.Create(family);
        var tokens = TestModels.Tokens(N, ir.Config.VocabSize, seed: 9);
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = N });
        var batched = model.Forward(tokens);
        Assert.Equal(N, model.Position);
        model.Reset();
        var single = new List<float>();
        foreach (var t in tokens) single.AddRange(model.Forward([t]));
        // Different batch sizes only regroup independent dot products; the sums are the same operations.
        float diff = TestModels.MaxAbsDiff(batched, single.ToArray());
        Assert.True(diff <= 1e-5f * TestModels.MaxAbs(batched), $"max abs diff {diff}");
        // ForwardLast after a split prefill (3 + 9 tokens) gives the last row of the batched logits.
        model.Reset();
        model.Forward(tokens.AsSpan(0, 3), new float[3 * ir.Config.VocabSize]);
        var last = model.ForwardLast(tokens.AsSpan(3)).ToArray();
        Assert.True(TestModels.MaxAbsDiff(batched.AsSpan((N - 1) * ir.Config.VocabSize), last) <= 1e-5f * TestModels.MaxAbs(batched));
    }

    [Fact]
    public void Thread_counts_one_and_two_give_identical_logits()
    {
        using var ir = TestModels.Create("llama-gqa", ElementType.BF16);
        var tokens = TestModels.Tokens(N, ir.Config.VocabSize);
        using var one = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = N });
        using var two = new Transformer(ir, new ExecutorOptions { Threads = 2, MaxContext = N });
        Assert.Equal(one.Forward(tokens), two.Forward(tokens));
    }

    [Fact]
    public void Layer_shared_model_executes_each_block_twice_with_its_own_kv_slot()
    {
        using var shared = TestModels.Create("mobilellm-ls");
        Assert.Equal(2 * shared.Config.StoredLayers, shared.Steps.Count);
        // The same model with every repeated step pointing at its own byte-identical copy of the weights:
        // if the executor reused a slot for the second execution, the two models would disagree.
        var tensors = shared.Tensors.ToList();
        var steps = new List<LayerStep>();
        for (int i = 0; i < shared.Steps.Count; i++)
        {
            var step = shared.Steps[i];
            if (i % 2 == 1)
            {
                step = step.Remap(k => "copy." + k);
                foreach (var key in shared.Steps[i].Keys.Distinct()) tensors.Add(shared[key].WithName("copy." + key));
            }
            steps.Add(step);
        }
        using var copied = shared with { Tensors = tensors, Steps = steps };
        var tokens = TestModels.Tokens(N, shared.Config.VocabSize);

        using var a = new Transformer(shared, new ExecutorOptions { Threads = 1, MaxContext = N });
        using var b = new Transformer(copied, new ExecutorOptions { Threads = 1, MaxContext = N });
        Assert.Equal(shared.Config.StoredLayers * 7 + 1, a.DistinctMatrices); // 7 matrices per stored block + the tied embedding
        Assert.Equal(b.Forward(tokens), a.Forward(tokens));

        // And executing each block once gives different logits: the repeat really runs.
        using var once = shared with { Steps = shared.Steps.Where((_, i) => i % 2 == 0).ToList(), Config = shared.Config with { ExecutedLayers = shared.Config.StoredLayers } };
        using var c = new Transformer(once, new ExecutorOptions { Threads = 1, MaxContext = N });
        a.Reset();
        Assert.True(TestModels.MaxAbsDiff(a.Forward(tokens.AsSpan(0, 1)), c.Forward(tokens.AsSpan(0, 1))) > 1e-2f);
    }

    [Fact]
    public void With_zero_output_projections_logits_are_the_head_applied_to_the_normed_embedding()
    {
        // o_proj and down_proj all zero: every block adds nothing to the residual stream, so the logits of
        // token t are head · (rmsnorm(embedding[t]) ⊙ final_norm), computable by hand.
        using var baseIr = TestModels.Create("llama-gqa");
        var zeroKeys = baseIr.Steps.SelectMany(s => new[] { s.O, s.Down }).ToHashSet();
        var tensors = baseIr.Tensors.Select(t => zeroKeys.Contains(t.Name)
            ? new Tensor(t.Name, t.Shape, t.Type, new MemorySource(new byte[t.ByteLength])) : t).ToList();
        using var ir = baseIr with { Tensors = tensors };
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 2, MaxContext = 4 });
        var logits = model.Forward([17, 300]);

        var c = ir.Config;
        var emb = MobileLlmConvert.Core.Numerics.FloatConvert.ToSingleArray(ir[ir.Embedding]);
        var head = MobileLlmConvert.Core.Numerics.FloatConvert.ToSingleArray(ir[ir.Output]);
        var norm = MobileLlmConvert.Core.Numerics.FloatConvert.ToSingleArray(ir[ir.FinalNorm]);
        int[] tokens = [17, 300];
        for (int i = 0; i < 2; i++)
        {
            var x = emb.AsSpan(tokens[i] * c.HiddenSize, c.HiddenSize).ToArray();
            double ms = x.Sum(v => (double)v * v) / x.Length;
            var h = x.Select((v, j) => v / Math.Sqrt(ms + c.RmsNormEps) * norm[j]).ToArray();
            for (int v = 0; v < c.VocabSize; v++)
            {
                double expected = 0;
                for (int j = 0; j < c.HiddenSize; j++) expected += head[v * c.HiddenSize + j] * h[j];
                Assert.True(Math.Abs(expected - logits[i * c.VocabSize + v]) <= 1e-4, $"token {i} logit {v}: {logits[i * c.VocabSize + v]} vs {expected}");
            }
        }
    }

    [Fact]
    public void Tied_head_uses_the_embedding_matrix()
    {
        using var ir = TestModels.Create("llama-tied");
        Assert.True(ir.IsTied);
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = 4 });
        // 7 matrices per stored block + one embedding that is also the head.
        Assert.Equal(ir.Config.StoredLayers * 7 + 1, model.DistinctMatrices);
    }

    [Fact]
    public void Overflowing_max_context_throws_a_clear_exception_and_leaves_the_cache_usable()
    {
        using var ir = TestModels.Create("llama-gqa");
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = 8 });
        model.ForwardLast([1, 2, 3, 4, 5, 6]);
        var e = Assert.Throws<InvalidOperationException>(() => model.ForwardLast([7, 8, 9]));
        Assert.Equal("context overflow: 6 cached positions + 3 new tokens exceed the maximum context of 8; call Reset() or raise ExecutorOptions.MaxContext", e.Message);
        Assert.Equal(6, model.Position);
        model.ForwardLast([7, 8]);
        Assert.Equal(8, model.Position);
    }

    [Fact]
    public void Token_outside_the_vocabulary_is_rejected()
    {
        using var ir = TestModels.Create("llama-gqa");
        using var model = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = 8 });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.ForwardLast([1, ir.Config.VocabSize]));
        Assert.Contains("token id outside the vocabulary [0, 320)", e.Message);
        Assert.Equal(0, model.Position);
    }
}
