using System.Text.Json;

namespace MobileLlmConvert.Tests.EndToEnd;

/// <summary>
/// A full-size MobileLLM-125M-shaped checkpoint (random weights, generated here by `mlconvert synth`,
/// never committed): inspect must reproduce the published parameter count, and the layer-shared
/// variant must store the same count while executing twice as many steps.
/// </summary>
public sealed class FullSizeTests
{
    /// <summary>MobileLLM-125M has 124,635,456 parameters (its Hub weights; the model card says 124.6M).</summary>
    private const long MobileLlm125MParameters = 124_635_456;

    [Theory]
    [InlineData(false, 30)]
    [InlineData(true, 60)]
    public void InspectReproducesTheMobileLlm125MParameterCount(bool layerSharing, int executedSteps)
    {
        using var dir = new TempDir();
        string ckpt = dir.File("mobilellm-125m");
        var synth = CliRunner.Run(layerSharing
            ? ["synth", "--preset", "mobilellm-125m", "--layer-sharing", "-o", ckpt]
            : ["synth", "--preset", "mobilellm-125m", "-o", ckpt]);
        Assert.True(synth.ExitCode == 0, synth.ToString());

        var r = CliRunner.Run("inspect", ckpt, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal(MobileLlm125MParameters, root.GetProperty("parameters").GetProperty("stored").GetInt64());
        Assert.Equal(executedSteps, root.GetProperty("layers").GetProperty("executed").GetInt32());
        Assert.Equal(30, root.GetProperty("layers").GetProperty("distinct_blocks").GetInt32());
        Assert.True(root.GetProperty("head_tied").GetBoolean());
        // Executed: every step's weights once per use, and the tied embedding twice (lookup and head).
        long embedding = 32000L * 576;
        long perBlock = (MobileLlm125MParameters - embedding - 576) / 30;
        Assert.Equal(2 * embedding + 576 + executedSteps * perBlock, root.GetProperty("parameters").GetProperty("executed").GetInt64());
    }
}
