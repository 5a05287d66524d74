using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Quant;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

/// <summary>
/// Quantized decode through the eight-row kernel: the executor's logits are bit-identical whether a
/// matrix's rows come from the repacked panels or the file's layout, and whatever the thread count
/// (a split at a multiple of four rows leaves ragged panel ends that the mapped rows fill in).
/// </summary>
public class PanelDecodeTests
{
    private const int N = 6;

    [Theory]
    [InlineData("llama-gqa", ElementType.Q4_0)]
    [InlineData("mobillama", ElementType.Q8_0)]
    [InlineData("mobilellm-ls", ElementType.Q4_1)]
    [InlineData("llama-gqa", ElementType.Q4_G64)]
    public void Decode_logits_are_identical_with_and_without_panels_at_any_thread_count(string family, ElementType type)
    {
        using var ir = TestModels.Quantize(TestModels.Create(family), type);
        var tokens = TestModels.Tokens(N, ir.Config.VocabSize);
        float[] Decode(int threads)
        {
            using var model = new Transformer(ir, new ExecutorOptions { Threads = threads, MaxContext = N, QuantPath = QuantPath.Fast });
            return tokens.SelectMany(t => model.Forward([t])).ToArray();
        }
        float[] unpacked;
        // One thread computes on the calling thread, where the switch applies.
        using (QuantRowsAvx2.ForcePack(false)) unpacked = Decode(1);
        Assert.Equal(unpacked, Decode(1));
        Assert.Equal(unpacked, Decode(2));
        Assert.Equal(unpacked, Decode(3));
    }
}
