using System.Text.Json;
using Google.Protobuf;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.SentencePiece.Proto;
using MobileLlmConvert.Tests.Fixtures;
using MobileLlmConvert.Tests.HuggingFace;

namespace MobileLlmConvert.Tests.Cli;

/// <summary>
/// A checkpoint whose tokenizer.model is the trainer's default (unigram + nmt_nfkc charsmap, 400 pieces):
/// tokenize, generate and verify work on it, and a corrupt charsmap is one line and exit 2.
/// </summary>
public sealed class TokenizeVerbTests
{
    private static readonly string TrainedModel = Path.Combine(FixtureCatalog.RepoRoot, "testdata", "tokenizers", "unigram_nmt_nfkc.model");

    /// <summary>A random-weight Llama with a 400-entry vocabulary and the trained tokenizer.model.</summary>
    private static string CheckpointWith(TempDir dir, byte[] tokenizerModel)
    {
        string ckpt = Checkpoint.Write(dir.File("ckpt"), Checkpoint.Spec(ModelFamily.Llama) with { VocabSize = 400 });
        File.WriteAllBytes(Path.Combine(ckpt, "tokenizer.model"), tokenizerModel);
        return ckpt;
    }

    /// <summary>python3-sentencepiece's ids for the text (spm_goldens.json), without BOS.</summary>
    private static int[] GoldenIds(string text)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(FixtureCatalog.RepoRoot, "testdata", "tokenizers", "spm_goldens.json")));
        var cases = doc.RootElement.GetProperty("models").GetProperty("unigram_nmt_nfkc").GetProperty("cases").EnumerateArray();
        return cases.Single(c => c.GetProperty("text").GetString() == text).GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    [Fact]
    public void JsonGivesSentencePiecesIdsAfterBos()
    {
        using var dir = new TempDir();
        string ckpt = CheckpointWith(dir, File.ReadAllBytes(TrainedModel));
        const string text = "ＡＢＣ１２３ full width ａｂｃ";

        var r = CliRunner.Run("tokenize", ckpt, "--text", text, "--json");

        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal("mlconvert/1", root.GetProperty("schema").GetString());
        Assert.Equal(text, root.GetProperty("text").GetString());
        var tokens = root.GetProperty("tokens").EnumerateArray().ToArray();
        Assert.Equal([1, .. GoldenIds(text)], tokens.Select(t => t.GetProperty("id").GetInt32()));
        Assert.Equal(["<s>", "▁AB", "C", "123", "▁", "f", "ull", "▁", "wid", "th", "▁a", "b", "c"], tokens.Select(t => t.GetProperty("piece").GetString()));
        Assert.Equal(tokens.Length, root.GetProperty("count").GetInt32());
        Assert.Empty(r.Stderr);
    }

    [Fact]
    public void TextListsIdAndPiecePerLineAndNoBosDropsBos()
    {
        using var dir = new TempDir();
        string ckpt = CheckpointWith(dir, File.ReadAllBytes(TrainedModel));

        var withBos = CliRunner.Run("tokenize", ckpt, "--text", "Hello world");
        var noBos = CliRunner.Run("tokenize", ckpt, "--text", "Hello world", "--no-bos");

        Assert.True(withBos.ExitCode == 0, withBos.ToString());
        var ids = GoldenIds("Hello world");
        var pieces = Formats.SentencePiece.SentencePieceModelFile.Read(File.ReadAllBytes(TrainedModel), TrainedModel, null).Pieces;
        string expected = string.Concat(ids.Select(id => $"{id,6} -> '{pieces[id]}'" + Environment.NewLine));
        Assert.Equal($"     1 -> '<s>'{Environment.NewLine}{expected}", withBos.Stdout);
        Assert.Equal(0, noBos.ExitCode);
        Assert.Equal(expected, noBos.Stdout);
    }

    [Fact]
    public void GenerateAndVerifyRunOnAnNmtNfkcCheckpoint()
    {
        using var dir = new TempDir();
        string ckpt = CheckpointWith(dir, File.ReadAllBytes(TrainedModel));
        string text = dir.File("text.txt");
        File.WriteAllText(text, "Ｔｈｅ Licensor grants\tYou a ﬁne license.\n");

        var gen = CliRunner.Run("generate", ckpt, "--prompt", "Ｔｈｅ ﬁne  license", "-n", "4");
        var bundle = CliRunner.Run("hf2mobile", ckpt, "-o", dir.File("bundle"), "--quant", "f32");
        var verify = CliRunner.Run("verify", dir.File("bundle"), "--reference", ckpt, "--text", text, "--json");

        Assert.True(gen.ExitCode == 0, gen.ToString());
        Assert.StartsWith("Ｔｈｅ ﬁne  license", gen.Stdout);
        // <s> + python3-sentencepiece's ['▁The', '▁', 'fine', '▁license']: width, ligature and the double space normalized away.
        Assert.Contains("generate: 5 prompt tokens", gen.Stderr);
        Assert.True(bundle.ExitCode == 0, bundle.ToString());
        Assert.True(verify.ExitCode == 0, verify.ToString());
    }

    [Fact]
    public void CorruptCharsMapIsOneLineAndExitTwo()
    {
        using var dir = new TempDir();
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(TrainedModel));
        var charsMap = model.NormalizerSpec.PrecompiledCharsmap.ToByteArray();
        model.NormalizerSpec.PrecompiledCharsmap = ByteString.CopyFrom(charsMap[..(charsMap.Length - 200)]);
        string ckpt = CheckpointWith(dir, model.ToByteArray());

        foreach (var args in new[] { new[] { "tokenize", ckpt, "--text", "hi" }, ["generate", ckpt, "--prompt", "hi"], ["inspect", ckpt] })
        {
            var r = CliRunner.Run(args);
            Assert.True(r.ExitCode == 2, r.ToString());
            string path = Path.Combine(ckpt, "tokenizer.model");
            // The first rule (in walk order) whose string the cut removed.
            Assert.Equal($"mlconvert: error: {path}: normalizer_spec.precompiled_charsmap (replacement offset) = 60305: outside the 60205-byte string table{Environment.NewLine}", r.Stderr);
            Assert.Empty(r.Stdout);
        }
    }
}
