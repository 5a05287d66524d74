using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Runtime.Evaluation;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Numerics;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Torch;
using MobileLlmConvert.Tests.EndToEnd;
using MobileLlmConvert.Tests.Fixtures;
using MobileLlmConvert.Tests.Oracles;
using MobileLlmConvert.Tests.TestSupport;
using Xunit.Abstractions;

namespace MobileLlmConvert.Tests.Torch;

// Inside the namespace so it wins over the library facade MobileLlmConvert.Models.
using Models = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>
/// The .bin fixtures written by torch.save itself (testdata/torch/make_fixtures.py): values decode
/// as torch wrote them, twins of safetensors fixtures give the same logits, and the GGUF converted
/// from a .bin is the GGUF converted from its safetensors twin.
/// </summary>
public sealed class TorchFixtureTests(ITestOutputHelper output)
{
    private static string Dir => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "torch");

    /// <summary>(.bin twin, safetensors fixture it was made from).</summary>
    public static TheoryData<string, string> Twins => new()
    {
        { "mobilellm-tiny-bin", "mobilellm-tiny" },
        { "mobillama-chat-bin", "mobillama-tiny" },
        { "mobillama-sharded-bin", "mobillama-ffn-copies" },
    };

    [Fact]
    public void CommittedFilesMatchTheHashListTheScriptWrote()
    {
        if (Environment.GetEnvironmentVariable(FixtureTests.RegenVariable) == "1" && TorchAvailable())
        {
            var psi = new ProcessStartInfo("/usr/bin/python3", [Path.Combine(Dir, "make_fixtures.py")]) { RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, err);
            output.WriteLine($"{FixtureTests.RegenVariable}=1: reran make_fixtures.py ({err.Trim()})");
        }
        var lines = File.ReadAllLines(Path.Combine(Dir, "SHA256SUMS"));
        Assert.True(lines.Length >= 10, "SHA256SUMS lists every fixture");
        var listed = new List<string>();
        foreach (var line in lines)
        {
            var parts = line.Split("  ", 2);
            listed.Add(parts[1]);
            string actual = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(Dir, parts[1])))).ToLowerInvariant();
            Assert.True(parts[0] == actual, $"testdata/torch/{parts[1]} differs from what make_fixtures.py wrote; regenerate on purpose with {FixtureTests.RegenVariable}=1");
        }
        var present = Directory.EnumerateFiles(Dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Dir, f).Replace('\\', '/'))
            .Where(f => f is not ("SHA256SUMS" or "make_fixtures.py")).Order(StringComparer.Ordinal);
        Assert.Equal(present, listed.Order(StringComparer.Ordinal));
    }

    private static bool TorchAvailable()
    {
        if (!File.Exists("/usr/bin/python3")) return false;
        using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-c", "import torch"]) { RedirectStandardError = true })!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    [Fact]
    public void EveryDTypeAndViewDecodesToTheValuesTorchWrote()
    {
        using var f = TorchFile.Open(Path.Combine(Dir, "dtypes.bin"));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "dtypes.expected.json")));
        var names = new List<string>();
        foreach (var e in doc.RootElement.EnumerateObject())
        {
            names.Add(e.Name);
            Assert.Equal(e.Value.GetProperty("dtype").GetString(), f.StorageTypeOf(e.Name).DType);
            if (e.Name == "int_buffer") continue; // no IR element type: refused on read (TorchHostileTests)
            var t = f.GetTensor(e.Name);
            Assert.Equal(e.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), t.Shape);
            var expected = e.Value.GetProperty("values").EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
            Assert.Equal(expected, FloatConvert.ToSingleArray(t));
        }
        Assert.Equal(names, f.Entries.Select(e => e.Name));
        // The fixture really takes the paths MobiLlama's and torch 2.x's files take.
        var raw = File.ReadAllBytes(Path.Combine(Dir, "dtypes.bin"));
        Assert.True(raw.AsSpan().IndexOf("ctorch._tensor\n_rebuild_from_type_v2\n"u8) > 0);
        Assert.True(raw.AsSpan().IndexOf("ctorch._utils\n_rebuild_parameter\n"u8) > 0);
        // Contiguous views (with or without a storage offset) map the file; the transposed one is gathered.
        Assert.IsType<MappedSource>(f.GetTensor("offset_view").Source);
        Assert.IsType<MappedSource>(f.GetTensor("from_type").Source);
        Assert.IsType<ComputedSource>(f.GetTensor("transposed").Source);
        Assert.Equal(5 * 4, ((MappedSource)f.GetTensor("offset_view").Source).Offset - ((MappedSource)f.GetTensor("offset_base").Source).Offset);
        // The tied pair is one storage view; the offset view shares a storage but not the bytes.
        var alias = Assert.Single(f.Aliases);
        Assert.Equal(["tied_a", "tied_b"], alias.Names);
        Assert.Equal("tied_a", f.CanonicalName("tied_b"));
        Assert.Equal("offset_view", f.CanonicalName("offset_view"));
    }

    [Theory]
    [MemberData(nameof(Twins))]
    public void BinTwinGivesBitIdenticalLogits(string bin, string safetensors)
    {
        var (ours, vocab) = Models.Logits(Path.Combine(Dir, bin), Models.Tokens);
        var (twin, twinVocab) = Models.Logits(Models.Path(safetensors), Models.Tokens);
        Assert.Equal(twinVocab, vocab);
        Assert.Equal(twin, ours);
    }

    [Theory]
    [MemberData(nameof(Twins))]
    public void GgufFromTheBinIsTheGgufFromItsSafetensorsTwin(string bin, string safetensors)
    {
        using var dir = new TempDir();
        // general.name is the directory's name: give the .bin checkpoint its twin's.
        string copy = Directory.CreateDirectory(dir.File(safetensors)).FullName;
        foreach (var f in Directory.EnumerateFiles(Path.Combine(Dir, bin))) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var r1 = CliRunner.Run("convert", copy, "--to", "gguf", "--dtype", "f32", "-o", dir.File("bin.gguf"));
        Assert.True(r1.ExitCode == 0, r1.ToString());
        var r2 = CliRunner.Run("convert", Models.Path(safetensors), "--to", "gguf", "--dtype", "f32", "-o", dir.File("st.gguf"));
        Assert.True(r2.ExitCode == 0, r2.ToString());
        Assert.True(File.ReadAllBytes(dir.File("bin.gguf")).AsSpan().SequenceEqual(File.ReadAllBytes(dir.File("st.gguf"))), $"{bin}: GGUF differs from {safetensors}'s");
    }

    [Fact]
    public void LlamaCppAgreesOnTheGgufConvertedFromABin()
    {
        using var dir = new TempDir();
        string gguf = dir.File("m.gguf");
        string bin = Path.Combine(Dir, "mobilellm-tiny-bin");
        var r = CliRunner.Run("convert", bin, "--to", "gguf", "--dtype", "f32", "-o", gguf);
        Assert.True(r.ExitCode == 0, r.ToString());
        var (ours, vocab) = Models.Logits(bin, Models.Tokens);
        var theirs = LlamaCppOracle.Probabilities(gguf, Models.Tokens);
        double max = 0;
        for (int p = 0; p < Models.Tokens.Length; p++)
        {
            var expected = LogitComparison.Softmax(ours.AsSpan(p * vocab, vocab));
            for (int i = 0; i < vocab; i++) max = Math.Max(max, Math.Abs(expected[i] - theirs.Probabilities[p][i]));
        }
        output.WriteLine($"mobilellm-tiny-bin f32: max |p_llama.cpp - p_ours| = {max:E3}");
        Assert.True(max <= 2e-4, $"llama.cpp differs by {max:E3}");
    }

    [Fact]
    public void AliasedStoragesBecomeOneIrTensor()
    {
        using var chat = HfImporter.Import(Path.Combine(Dir, "mobillama-chat-bin"));
        // Every layer's FFN names alias layer 0's storages: the IR stores each once and every step names it.
        Assert.All(chat.Steps, s => Assert.Equal(TensorNames.HuggingFace.Name(TensorRole.Gate, 0), s.Gate));
        Assert.Single(chat.Tensors, t => t.Name.Contains("mlp.gate_proj", StringComparison.Ordinal));
        using var tied = HfImporter.Import(Path.Combine(Dir, "mobilellm-tiny-bin"));
        Assert.Equal(TensorNames.HuggingFace.Name(TensorRole.TokenEmbedding), tied.Output);
        Assert.DoesNotContain(tied.Tensors, t => t.Name == TensorNames.HuggingFace.Name(TensorRole.Output));
    }

    [Fact]
    public void InspectShowsContainerDTypesAndAliases()
    {
        var r = CliRunner.Run("inspect", "--raw", Path.Combine(Dir, "mobillama-chat-bin"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("weights: torch zip (pytorch_model.bin), stored dtypes bfloat16 x21", r.Stdout);
        Assert.Contains("aliases: storage 7: model.layers.0.mlp.gate_proj.weight = model.layers.1.mlp.gate_proj.weight", r.Stdout);
        var j = CliRunner.Run("inspect", "--raw", "--json", Path.Combine(Dir, "mobillama-sharded-bin"));
        Assert.True(j.ExitCode == 0, j.ToString());
        using var doc = JsonDocument.Parse(j.Stdout);
        var w = doc.RootElement.GetProperty("weights");
        Assert.Equal("sharded torch zip", w.GetProperty("container").GetString());
        Assert.Equal(2, w.GetProperty("files").GetArrayLength());
        Assert.Equal(30, w.GetProperty("stored_dtypes").GetProperty("bfloat16").GetInt32());
        Assert.Equal(0, w.GetProperty("aliases").GetArrayLength());
    }
}
