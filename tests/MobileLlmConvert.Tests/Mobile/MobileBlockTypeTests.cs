using MobileLlmConvert.Formats;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Tests.TestSupport;

namespace MobileLlmConvert.Tests.Mobile;

/// <summary>The ggml block types added with codes 13-16 round-trip through the mobile format, bytes unchanged.</summary>
public class MobileBlockTypeTests
{
    [Theory]
    [InlineData(ElementType.Q5_0)]
    [InlineData(ElementType.Q5_1)]
    [InlineData(ElementType.Q4_K)]
    [InlineData(ElementType.Q6_K)]
    public void Block_types_round_trip_with_their_codes(ElementType type)
    {
        // 256 wide so every matrix (embedding included) is whole 256-value K-quant super-blocks.
        var spec = MobileTestModels.Family("llama-gqa") with { HiddenSize = 256, IntermediateSize = 512, DType = ElementType.F16 };
        var ir = MobileTestModels.Quantize(SyntheticModel.Create(spec, TensorNames.HuggingFace), type);
        using var dir = new TempDir();
        File.WriteAllBytes(dir["q.mlcm"], MobileTestModels.WriteBytes(ir));
        using var resources = new ResourceBag();
        var back = MobileFile.Read(dir["q.mlcm"], resources);
        MobileTestModels.AssertSameModel(ir, back);
        Assert.Contains(back.Tensors, t => t.Type == type);
    }
}
