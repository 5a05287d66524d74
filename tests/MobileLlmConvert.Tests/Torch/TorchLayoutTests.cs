using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Tests.Fixtures;
using MobileLlmConvert.Tests.TestSupport;

namespace MobileLlmConvert.Tests.Torch;

/// <summary>Which weight files a checkpoint directory is read from, and the index rules applied to sharded .bin files.</summary>
public sealed class TorchLayoutTests
{
    private static string TorchDir(string name) => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "torch", name);

    private static string CopyOf(TempDir temp, string source)
    {
        string dir = Directory.CreateDirectory(temp.File("ckpt")).FullName;
        foreach (var f in Directory.EnumerateFiles(source)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    [Fact]
    public void SafetensorsIsPreferredWhenBothAreShipped()
    {
        using var temp = new TempDir();
        string dir = CopyOf(temp, TorchDir("mobilellm-tiny-bin"));
        File.Copy(Path.Combine(FixtureCatalog.Get("mobilellm-tiny").CommittedPath, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        using var bag = new ResourceBag();
        var w = HfWeights.Open(dir, bag);
        Assert.Equal(HfWeightContainer.Safetensors, w.Container);
        Assert.DoesNotContain(TensorNames.HuggingFace.Name(TensorRole.Output), w.Names);
    }

    [Fact]
    public void ContainersAreToldApart()
    {
        using var bag = new ResourceBag();
        Assert.Equal(HfWeightContainer.TorchZip, HfWeights.Open(TorchDir("mobillama-chat-bin"), bag).Container);
        var sharded = HfWeights.Open(TorchDir("mobillama-sharded-bin"), bag);
        Assert.Equal(HfWeightContainer.ShardedTorchZip, sharded.Container);
        Assert.Equal(["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"], sharded.Files.Select(f => Path.GetFileName(f.Path)));
        Assert.Equal(HfWeightContainer.ShardedSafetensors, HfWeights.Open(FixtureCatalog.Get("llama-sharded").CommittedPath, bag).Container);
    }

    [Fact]
    public void ShardNameLeavingTheDirectoryIsRefused()
    {
        using var temp = new TempDir();
        string dir = CopyOf(temp, TorchDir("mobillama-sharded-bin"));
        string index = Path.Combine(dir, HfNames.PickleIndexFile);
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"pytorch_model-00002-of-00002.bin\"", "\"../pytorch_model-00002-of-00002.bin\""));
        var e = Assert.Throws<HfIndexException>(() => HfImporter.Import(dir).Dispose());
        Assert.Equal(HfIndexError.BadShardName, e.Kind);
        CliAssert.RejectsWith(dir, e.Message);
    }

    [Fact]
    public void NameMissingFromItsShardIsRefused()
    {
        using var temp = new TempDir();
        string dir = CopyOf(temp, TorchDir("mobillama-sharded-bin"));
        string index = Path.Combine(dir, HfNames.PickleIndexFile);
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"model.norm.weight\": \"pytorch_model-00002-of-00002.bin\"", "\"model.norm.weight\": \"pytorch_model-00001-of-00002.bin\""));
        var e = Assert.Throws<HfIndexException>(() => HfImporter.Import(dir).Dispose());
        Assert.Equal(HfIndexError.TensorNotInShard, e.Kind);
        Assert.Equal($"{index}: weight_map.model.norm.weight = pytorch_model-00001-of-00002.bin: the tensor is stored in pytorch_model-00002-of-00002.bin", e.Message);
    }

    [Fact]
    public void ABrokenBinInsideACheckpointIsOneLineExit2()
    {
        using var temp = new TempDir();
        string dir = CopyOf(temp, TorchDir("mobilellm-tiny-bin"));
        var bytes = File.ReadAllBytes(Path.Combine(dir, "pytorch_model.bin"));
        Array.Resize(ref bytes, bytes.Length / 2);
        File.WriteAllBytes(Path.Combine(dir, "pytorch_model.bin"), bytes);
        CliAssert.RejectsMentioning(dir, "pytorch_model.bin", "end of central directory", "no end record in the last 64 KiB");
    }
}
