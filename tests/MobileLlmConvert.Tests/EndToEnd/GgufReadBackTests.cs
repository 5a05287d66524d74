using MobileLlmConvert.Tests.TestSupport;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.EndToEnd;

/// <summary>The same executor on the checkpoint and on its F32 GGUF read back: the reader undoes what the writer did.</summary>
public sealed class GgufReadBackTests(ITestOutputHelper output)
{
    public static TheoryData<string> Families => Models.FamilyData();

    [Theory]
    [MemberData(nameof(Families))]
    public void F32GgufReadBackGivesTheCheckpointsLogits(string fixture)
    {
        using var dir = new TempDir();
        string gguf = dir.File("m.gguf");
        var r = CliRunner.Run("convert", Models.Path(fixture), "--to", "gguf", "--dtype", "f32", "-o", gguf);
        Assert.True(r.ExitCode == 0, r.ToString());
        var (hf, _) = Models.Logits(Models.Path(fixture), Models.Tokens);
        var (back, _) = Models.Logits(gguf, Models.Tokens);
        double rel = Models.MaxAbsDiff(hf, back) / Models.MaxAbs(hf);
        output.WriteLine($"{fixture}: max abs diff / max |logit| = {rel:E3}");
        Assert.True(rel <= 1e-4, $"{fixture}: {rel:E3}");
    }
}
