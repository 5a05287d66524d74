using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.Tests.Library;

// Inside the namespace so it wins over the library facade MobileLlmConvert.Models.
using Fixtures = MobileLlmConvert.Tests.EndToEnd.Models;

/// <summary>The public library as another .NET program uses it: open, convert, write, run, tokenize.</summary>
public sealed class LibraryTests
{
    public static TheoryData<string> Families => Fixtures.FamilyData();

    private static readonly string[] Sentences =
    [
        "Hello world",
        "The quick brown fox jumps over the lazy dog.",
        "  two spaces, tabs\tand ünïcödé 🙂",
    ];

    /// <summary>
    /// Every fixture family opens through <see cref="Models.Open"/> and writes every registered
    /// target; each output is detected as its format, reopens, and (written as f32) computes the
    /// same logits as the checkpoint.
    /// </summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void Every_family_opens_and_writes_every_registered_target(string fixture)
    {
        using var dir = new TempDir();
        using var source = Models.Open(Fixtures.Path(fixture), new OpenOptions { Family = null });
        var expected = Logits(source);
        foreach (var format in ModelFormats.Writable)
        {
            using var conv = Pipeline.Run(source, new ConvertOptions { Target = format.Name, Quant = "f32" });
            string output = dir[$"out-{format.Name}" + (format.IsDirectory ? "" : "." + format.Name)];
            var w = Models.Write(conv.Result, output, new WriteOptions { Format = format.Name, FloatType = ElementType.F32 });
            Assert.Equal(output, w.Output);
            Assert.Equal(format.Name, w.Format);
            // A bundle's bytes leave out its manifest.json; an ONNX folder has none and counts every file.
            long onDisk = format.IsDirectory
                ? Directory.EnumerateFiles(output).Where(f => Path.GetFileName(f) != "manifest.json").Sum(f => new FileInfo(f).Length)
                : new FileInfo(output).Length;
            Assert.Equal(onDisk, w.Bytes);
            Assert.Equal(format.Name, Models.Detect(output).Name);
            using var back = Models.Open(output);
            Assert.Equal(source.Config.ExecutedLayers, back.Config.ExecutedLayers);
            double diff = Fixtures.MaxAbsDiff(expected, Logits(back));
            Assert.True(diff <= 1e-4 * Math.Max(1, Fixtures.MaxAbs(expected)), $"{fixture} -> {format.Name}: max |diff| {diff}");
        }
    }

    /// <summary>The brief's dozen lines: open, quantize to q4, write GGUF, run the executor on tokenizer ids.</summary>
    [Fact]
    public void The_documented_example_runs()
    {
        using var dir = new TempDir();
        using ModelIr ir = Models.Open(Fixtures.Path("mobilellm-ls-tiny"), new OpenOptions { Family = null });
        IModelFormat fmt = Models.Detect(Fixtures.Path("mobilellm-ls-tiny"));
        var plan = Pipeline.Plan(ir, new ConvertOptions { Quant = "q4" });
        using var conv = Pipeline.Run(ir, new ConvertOptions { Quant = "q4" });
        WriteResult w = Models.Write(conv.Result, dir["out.gguf"], new WriteOptions { Format = "gguf" });
        var tok = Tokenizers.For(ir);
        int[] ids = tok.Encode("Hello world");
        using var exec = new Transformer(conv.Result);
        float[] logits = exec.Forward(ids);

        Assert.Equal("huggingface", fmt.Name);
        Assert.Equal(plan.Tensors.Count, conv.Result.Tensors.Count);
        Assert.Contains(plan.Tensors, t => t.Type.StartsWith("q4", StringComparison.Ordinal));
        Assert.Equal(new FileInfo(dir["out.gguf"]).Length, w.Bytes);
        Assert.Equal(ids.Length * ir.Config.VocabSize, logits.Length);
        Assert.All(logits, x => Assert.True(float.IsFinite(x)));
    }

    /// <summary>A GGUF stores only the vocabulary; read back, it still encodes exactly like the checkpoint's tokenizer.model.</summary>
    [Theory]
    [InlineData("llama-tiny")]
    [InlineData("mobillama-tiny")]
    public void A_gguf_read_back_encodes_like_the_checkpoint(string fixture)
    {
        using var dir = new TempDir();
        using var hf = Models.Open(Fixtures.Path(fixture));
        Models.Write(hf, dir["m.gguf"]);
        using var gguf = Models.Open(dir["m.gguf"]);
        var want = Tokenizers.For(hf);
        var got = Tokenizers.For(gguf);
        foreach (var s in Sentences)
        {
            Assert.Equal(want.Encode(s), got.Encode(s));
            Assert.Equal(want.Decode(want.Encode(s)), got.Decode(got.Encode(s)));
        }
        // The reader itself completes the tokenizer: no CLI glue is needed.
        using var raw = GgufFile.Read(dir["m.gguf"], new ResourceBag());
        Assert.Equal(want.Encode(Sentences[1]), new TextTokenizer(raw.Tokenizer!).Encode(Sentences[1]));
    }

    [Fact]
    public void The_registry_detects_each_kind()
    {
        using var dir = new TempDir();
        string ckpt = Fixtures.Path("llama-tiny");
        using var ir = Models.Open(ckpt);
        Models.Write(ir, dir["m.gguf"]);
        Models.Write(ir, dir["m.mlcm"]);
        Models.Write(ir, dir["bundle"], new WriteOptions { Format = "bundle" });
        Assert.Equal("huggingface", Models.Detect(ckpt).Name);
        Assert.Equal("gguf", Models.Detect(dir["m.gguf"]).Name);
        Assert.Equal("mobile", Models.Detect(dir["m.mlcm"]).Name);
        Assert.Equal("bundle", Models.Detect(dir["bundle"]).Name);
        Assert.Equal("mobile", Models.Detect(Path.Combine(dir["bundle"], "model.mlcm")).Name);
        // Content beats the extension: a GGUF named .mlcm is still GGUF.
        File.Copy(dir["m.gguf"], dir["renamed.mlcm"]);
        Assert.Equal("gguf", Models.Detect(dir["renamed.mlcm"]).Name);
        // A known extension with a bad magic goes to that format's reader, which names the problem.
        File.WriteAllBytes(dir["bad.gguf"], new byte[64]);
        Assert.Equal("gguf", Models.Detect(dir["bad.gguf"]).Name);
        Assert.Throws<GgufException>(() => Models.Open(dir["bad.gguf"]));
        Assert.Equal(ModelFormats.All.Count, ModelFormats.All.Select(f => f.Name).Distinct().Count());
    }

    [Fact]
    public void An_unknown_file_is_one_usage_line()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["weights.bin"], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var e = Assert.Throws<ModelUsageException>(() => Models.Detect(dir["weights.bin"]));
        Assert.Equal($"{dir["weights.bin"]}: not a mobile or gguf model file (unknown magic); for a Hugging Face checkpoint pass its directory", e.Message);
        var r = CliRunner.Run("inspect", dir["weights.bin"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        var lines = r.Stderr.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("mlconvert: ", lines[0]);
        Assert.EndsWith(e.Message, lines[0]);
    }

    [Fact]
    public void Family_on_a_non_checkpoint_and_unwritable_formats_are_usage_errors()
    {
        using var dir = new TempDir();
        using (var ir = Models.Open(Fixtures.Path("llama-tiny"))) Models.Write(ir, dir["m.gguf"]);
        var e = Assert.Throws<ModelUsageException>(() => Models.Open(dir["m.gguf"], new OpenOptions { Family = ModelFamily.MobileLLM }));
        Assert.Contains("is a gguf model, not a Hugging Face checkpoint", e.Message);
        using var back = Models.Open(dir["m.gguf"]);
        Assert.Throws<ModelUsageException>(() => Models.Write(back, dir["x"], new WriteOptions { Format = "huggingface" }));
        Assert.Throws<ModelUsageException>(() => Models.Write(back, dir["x.bin"]));
        Assert.Throws<ModelUsageException>(() => Pipeline.Run(back, new ConvertOptions { Target = "gguf", Quant = "q4_g64" }));
        var r = CliRunner.Run("convert", Fixtures.Path("llama-tiny"), "--to", "huggingface", "-o", dir["y"]);
        Assert.Equal(2, r.ExitCode);
        Assert.False(Path.Exists(dir["y"]));
    }

    /// <summary>`convert --to` offers exactly the registry's writable formats.</summary>
    [Fact]
    public void Convert_to_accepts_exactly_the_writable_formats()
    {
        using var dir = new TempDir();
        foreach (var format in ModelFormats.All)
        {
            string output = dir[$"o-{format.Name}" + (format.IsDirectory ? "" : ".out")];
            var r = CliRunner.Run("convert", Fixtures.Path("llama-tiny"), "--to", format.Name, "-o", output);
            Assert.True(format.CanWrite == (r.ExitCode == 0), $"{format.Name}: {r}");
            Assert.Equal(format.CanWrite, Path.Exists(output));
        }
    }

    private static float[] Logits(ModelIr ir)
    {
        using var t = new Transformer(ir, new ExecutorOptions { Threads = 1, MaxContext = Fixtures.Tokens.Length });
        return t.Forward(Fixtures.Tokens);
    }
}
