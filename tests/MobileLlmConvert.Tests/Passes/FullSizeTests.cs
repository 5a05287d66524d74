using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert.Tests.Passes;

public class FullSizeTests
{
    /// <summary>
    /// A MobileLLM-125M-shaped model (random bf16 weights, ~250 MB each) and its layer-shared twin:
    /// the pipeline keeps MobileLLM-125M's 124,635,456 parameters (its Hub weights; the model card rounds to 124.6M), and the LS model stores the same
    /// count while executing 60 steps. One test, so only one full-size model is alive at a time.
    /// </summary>
    [Fact]
    public void MobileLlm125MStoresTheReleasedParameterCountWithAndWithoutLayerSharing()
    {
        var plain = SharingPipeline.Run(SyntheticModel.Create(SyntheticModel.MobileLlm125M, TensorNames.HuggingFace));
        Assert.Equal(124_635_456, plain.Ir.StoredParameters);
        Assert.Equal(124_635_456, plain.Totals.StoredParametersBefore);
        Assert.Equal(30, plain.Ir.Steps.Count);
        Assert.True(plain.Ir.IsTied);
        Assert.Equal(124_635_456L * 2, plain.Ir.StoredBytes);
        plain = null;
        GC.Collect();

        var ls = SharingPipeline.Run(SyntheticModel.Create(SyntheticModel.MobileLlm125M with { LayerSharing = true }, TensorNames.HuggingFace));
        Assert.Equal(124_635_456, ls.Ir.StoredParameters);
        Assert.Equal(60, ls.Ir.Steps.Count);
        Assert.Equal(60, ls.Ir.Config.ExecutedLayers);
        Assert.Equal(3, ls.Ir.Config.NumKvHeads);
        // 2 x 60 steps x 3 kv heads x 64 x 4 bytes.
        Assert.Equal(92_160, ls.Totals.KvCacheBytesPerTokenAfter);
        var summary = SharingSummary.Of(ls.Ir);
        Assert.Equal(30, summary.Shared.Count);
        Assert.Equal("steps 58,59 share model.layers.29.* (block, 9 tensors, 3,540,096 parameters)", summary.Shared[^1].Text);
    }
}
