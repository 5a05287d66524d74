using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Runtime;

public class MappedWeightsTests
{
    /// <summary>
    /// The executor computes straight from a memory-mapped file (issue 5). Tensors are laid out at odd
    /// offsets on purpose, so every kernel also meets unaligned rows.
    /// </summary>
    [Theory]
    [InlineData(ElementType.F32)]
    [InlineData(ElementType.BF16)]
    [InlineData(ElementType.Q4_0)]
    public void Weights_in_a_mapped_file_give_the_same_logits_as_in_memory(ElementType type)
    {
        var created = TestModels.Create("mobilellm-ls", type == ElementType.BF16 ? ElementType.BF16 : ElementType.F32);
        using var ir = type == ElementType.Q4_0 ? TestModels.Quantize(created, type) : created;
        string path = Path.Combine(Path.GetTempPath(), $"mlconvert-mapped-{Guid.NewGuid():N}.bin");
        try
        {
            var offsets = new Dictionary<string, long>();
            using (var f = File.Create(path))
            {
                foreach (var t in ir.Tensors)
                {
                    f.Write(new byte[3]);
                    offsets[t.Name] = f.Position;
                    f.Write(t.Source.Read());
                }
            }
            using var file = new MappedFile(path);
            using var mapped = ir with { Tensors = ir.Tensors.Select(t => new Tensor(t.Name, t.Shape, t.Type, file.Slice(offsets[t.Name], t.ByteLength))).ToList() };
            var tokens = TestModels.Tokens(9, ir.Config.VocabSize);
            using var a = new Transformer(ir, new ExecutorOptions { Threads = 2, MaxContext = 9 });
            using var b = new Transformer(mapped, new ExecutorOptions { Threads = 2, MaxContext = 9 });
            Assert.Equal(a.Forward(tokens), b.Forward(tokens));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
