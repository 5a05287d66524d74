using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Gguf;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Runtime;
using MobileLlmConvert.Tests.Oracles;

namespace MobileLlmConvert.Tests.EndToEnd;

/// <summary>
/// A SmolLM2-shaped checkpoint (LlamaForCausalLM, tied head, byte-level BPE tokenizer.json and no
/// tokenizer.model; testdata/tokenizers/make_smollm2_tiny.py) tokenizes the same through its HF
/// directory, its GGUF and its mobile file, and llama.cpp agrees on the GGUF.
/// </summary>
public sealed class ByteLevelBpeTests
{
    public static string Checkpoint => Path.Combine(Fixtures.FixtureCatalog.RepoRoot, "testdata", "tokenizers", "smollm2-tiny");

    /// <summary>ASCII, digit runs (split one by one), Unicode letters, emoji, whitespace runs, contractions, special-token spelling.</summary>
    public static readonly string[] Prompts =
    [
        "Hello world 123",
        "The quick brown fox jumps over the lazy dog.",
        "a  1",
        "Numbers: 2024, 123456 and 3.14159!",
        "Café naïve déjà vu über",
        "日本語のテキスト。 Привет, мир!",
        "Emoji 🙂🚀 and 👩‍👩‍👧",
        "  leading, trailing   ",
        "tabs\t\tand\n\nnew lines\r\n   indented",
        "It's what they've said: we'll see, I'm sure you'd agree.",
        "<|im_start|>user\nhi<|im_end|>",
        "x",
        "Ω≈ç√∫ ١٢٣ ⅧⅨ",
    ];

    [Fact]
    public void TheCheckpointImportsAsByteLevelBpe()
    {
        using var ir = HfImporter.Import(Checkpoint);
        var tok = ir.Tokenizer!;
        Assert.Equal(TokenizerKind.ByteLevelBpe, tok.Kind);
        Assert.Equal(BpePreTokenizers.SmolLm, tok.PreTokenizer);
        Assert.Equal(440, tok.Count);
        Assert.Equal(181, tok.Merges!.Count);
        Assert.Equal(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], tok.Pieces.Take(3));
        Assert.Equal([PieceType.Control, PieceType.Control, PieceType.Control, PieceType.Normal], tok.Types.Take(4));
        Assert.Equal((0, 0, 0, false, false), (tok.BosId, tok.EosId, tok.UnkId, tok.AddBos, tok.AddEos));
        Assert.True(ir.IsTied);
    }

    [Fact]
    public void HfGgufAndMobileGiveLlamaCppsIds()
    {
        using var dir = new TempDir();
        using var hf = HfImporter.Import(Checkpoint);
        GgufWriter.Write(hf, dir["m.gguf"], new GgufWriteOptions { FloatType = ElementType.F32 });
        using (var output = File.Create(dir["m.mlcm"])) MobileWriter.Write(hf, output);
        using var bag = new ResourceBag();
        var gguf = GgufFile.Read(dir["m.gguf"], bag);
        var mobile = MobileFile.Read(dir["m.mlcm"], bag);

        var fromHf = new TextTokenizer(hf.Tokenizer!);
        var fromGguf = new TextTokenizer(gguf.Tokenizer!);
        var fromMobile = new TextTokenizer(mobile.Tokenizer!);
        var llama = LlamaCppOracle.TokenizeAll(dir["m.gguf"], Prompts);
        for (int i = 0; i < Prompts.Length; i++)
        {
            var ours = fromHf.Encode(Prompts[i]).ToArray();
            Assert.True(llama[i].SequenceEqual(ours), $"{Prompts[i]}: llama.cpp [{string.Join(",", llama[i])}], ours [{string.Join(",", ours)}]");
            Assert.Equal(ours, fromGguf.Encode(Prompts[i]));
            Assert.Equal(ours, fromMobile.Encode(Prompts[i]));
        }
        // Digits alone (Digits(individual_digits)), " world" one merged piece, "Hello" two.
        Assert.Equal([276, 310, 35, 52, 53, 54], fromHf.Encode("Hello world 123"));
        Assert.Equal(hf.Tokenizer!.Pieces, gguf.Tokenizer!.Pieces);
        Assert.Equal(hf.Tokenizer.Merges, mobile.Tokenizer!.Merges);
    }

    /// <summary>What a user runs: convert to GGUF (f32), hf2mobile, and generate from all three with the same greedy text.</summary>
    [Fact]
    public void ConvertHf2MobileAndGenerateWorkFromTheCommandLine()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("convert", Checkpoint, "--to", "gguf", "--dtype", "f32", "-o", dir["m.gguf"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        r = CliRunner.Run("hf2mobile", Checkpoint, "-o", dir["bundle"], "--quant", "f32");
        Assert.True(r.ExitCode == 0, r.ToString());
        r = CliRunner.Run("inspect", dir["m.gguf"]);
        Assert.Contains("tokenizer: byte-level bpe (smollm), 440 pieces, bos 0, eos 0, unk 0, add_bos false", r.Stdout);

        var outputs = new List<string>();
        foreach (var model in new[] { Checkpoint, dir["m.gguf"], dir["bundle"] })
        {
            r = CliRunner.Run("generate", model, "--prompt", "Hello world 123 🙂", "--max-tokens", "12");
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.StartsWith("Hello world 123 🙂", r.Stdout);
            outputs.Add(r.Stdout);
        }
        Assert.True(outputs[0].Length > "Hello world 123 🙂".Length + 1, outputs[0]);
        Assert.Equal(outputs[0], outputs[1]);
        Assert.Equal(outputs[0], outputs[2]);
    }

    [Fact]
    public void DecodingGivesTheTextBackWholeAndStreamed()
    {
        using var ir = HfImporter.Import(Checkpoint);
        var tok = new TextTokenizer(ir.Tokenizer!);
        foreach (var text in Prompts)
        {
            var ids = tok.Encode(text);
            Assert.Equal(text, tok.Decode(ids));
            var stream = tok.CreateStreamingDecoder();
            var pieces = ids.Select(stream.Push).ToList();
            Assert.Equal(text, string.Concat(pieces) + stream.Flush());
        }
        // An emoji the corpus never saw is four bytes in several pieces: nothing shows until the last arrives.
        var emoji = tok.Encode("🎉");
        Assert.InRange(emoji.Count, 2, 4);
        var s = tok.CreateStreamingDecoder();
        Assert.Equal([.. Enumerable.Repeat("", emoji.Count - 1), "🎉"], emoji.Select(s.Push));
        // Control tokens print nothing; BOS is not added (add_bos_token absent, as in SmolLM2).
        Assert.Equal("hi", tok.Decode([0, .. tok.Encode("hi"), 2]));
    }

    [Fact]
    public void AddBosAndAddEosAddThem()
    {
        using var ir = HfImporter.Import(Checkpoint);
        var plain = new TextTokenizer(ir.Tokenizer!).Encode("Hello world");
        var tok = new TextTokenizer(ir.Tokenizer! with { AddBos = true, AddEos = true });
        Assert.Equal([0, .. plain, 0], tok.Encode("Hello world"));
    }

    /// <summary>
    /// The plain GPT-2 pre-tokenizer (digit runs stay together), in both tokenizer.json shapes that
    /// mean it, is written as tokenizer.ggml.pre = "gpt2" and llama.cpp splits as we do.
    /// </summary>
    [Theory]
    [InlineData("{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}")]
    [InlineData("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]}")]
    public void TheGpt2PreTokenizerAgreesWithLlamaCpp(string preTokenizer)
    {
        using var dir = new TempDir();
        string ckpt = dir["ckpt"];
        Directory.CreateDirectory(ckpt);
        foreach (var f in Directory.EnumerateFiles(Checkpoint)) File.Copy(f, Path.Combine(ckpt, Path.GetFileName(f)));
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(ckpt, "tokenizer.json")))!;
        node["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse(preTokenizer);
        File.WriteAllText(Path.Combine(ckpt, "tokenizer.json"), node.ToJsonString());

        using var ir = HfImporter.Import(ckpt);
        Assert.Equal(BpePreTokenizers.Gpt2, ir.Tokenizer!.PreTokenizer);
        GgufWriter.Write(ir, dir["m.gguf"], new GgufWriteOptions { FloatType = ElementType.F32 });
        var ours = new TextTokenizer(ir.Tokenizer);
        var llama = LlamaCppOracle.TokenizeAll(dir["m.gguf"], Prompts);
        for (int i = 0; i < Prompts.Length; i++)
            Assert.True(llama[i].SequenceEqual(ours.Encode(Prompts[i])), $"{Prompts[i]}: llama.cpp [{string.Join(",", llama[i])}], ours [{string.Join(",", ours.Encode(Prompts[i]))}]");
    }

    /// <summary>Exporting to a Hugging Face directory writes tokenizer.json (not a tokenizer.model), and it imports to the same ids.</summary>
    [Fact]
    public void HfExportWritesATokenizerJsonThatImportsToTheSameIds()
    {
        using var dir = new TempDir();
        using var ir = HfImporter.Import(Checkpoint);
        HfExporter.Export(ir, dir["out"], new HfExportOptions());
        Assert.True(File.Exists(dir.File("out/tokenizer.json")));
        Assert.False(File.Exists(dir.File("out/tokenizer.model")));
        using var back = HfImporter.Import(dir["out"]);
        var a = new TextTokenizer(ir.Tokenizer!);
        var b = new TextTokenizer(back.Tokenizer!);
        foreach (var text in Prompts) Assert.Equal(a.Encode(text), b.Encode(text));
    }

    [Fact]
    public void TheCanonicalTokenizerJsonReadsBackToTheSameVocabulary()
    {
        using var ir = HfImporter.Import(Checkpoint);
        var bytes = HfTokenizerJson.Build(ir.Tokenizer!);
        Assert.Equal(bytes, HfTokenizerJson.Build(ir.Tokenizer!));
        var back = HfTokenizerJson.ReadVocabulary(bytes, "canonical.json");
        Assert.Equal(ir.Tokenizer!.Pieces, back.Pieces);
        Assert.Equal(ir.Tokenizer.Types, back.Types);
        Assert.Equal(ir.Tokenizer.Merges, back.Merges);
        Assert.Equal(ir.Tokenizer.PreTokenizer, back.PreTokenizer);
    }
}
