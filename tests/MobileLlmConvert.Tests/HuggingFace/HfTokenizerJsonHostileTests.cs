using System.Text;
using System.Text.Json.Nodes;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Tests.EndToEnd;

namespace MobileLlmConvert.Tests.HuggingFace;

/// <summary>
/// Hostile or unsupported tokenizer.json / tokenizer_config.json in an otherwise valid SmolLM2-shaped
/// checkpoint: the CLI prints one line naming the file, field and value, exits 2, and writes nothing.
/// </summary>
public sealed class HfTokenizerJsonHostileTests
{
    private const string Json = "tokenizer.json";
    private const string Config = "tokenizer_config.json";

    private static void Model(JsonNode n, Action<JsonObject> edit) => edit(n["model"]!.AsObject());

    public static TheoryData<string, string> Cases() => new()
    {
        { "invalid-utf8", $"{Json}: (json) = invalid UTF-8: tokenizer.json must be UTF-8 text" },
        // Refused up front by the one JSON text rule (StrictJson), before the vocabulary is read.
        { "lone-surrogate", $"{Json}: (json) = \\ud800 at byte 1419: a lone UTF-16 surrogate escape is not text (tokenizer.json must be valid Unicode)" },
        { "lone-surrogate-merge", $"{Json}: (json) = \\ud800 at byte 9525: a lone UTF-16 surrogate escape is not text (tokenizer.json must be valid Unicode)" },
        { "deep", $"{Json}: (json) = line 0, byte 36: not valid JSON" },
        { "normalizer", $"{Json}: normalizer = {{...}}: a normalizer changes the text before splitting; only byte-level BPE without one is supported" },
        { "metaspace", $"{Json}: pre_tokenizer = {{...}}: only ByteLevel (GPT-2 regex), Sequence[Digits(individual_digits), ByteLevel] and Sequence[Split(GPT-2 regex), ByteLevel(use_regex=false)] are reproduced exactly" },
        { "prefix-space", $"{Json}: pre_tokenizer.pretokenizers[1].add_prefix_space = true: a prefix space is not added by llama.cpp's byte-level BPE" },
        { "template", $"{Json}: post_processor.type = TemplateProcessing: a post-processor that adds tokens is not reproduced; use add_bos_token in tokenizer_config.json" },
        { "wordpiece", $"{Json}: model.type = WordPiece: only \"BPE\" models are supported" },
        { "dropout", $"{Json}: model.dropout = 0.1: BPE dropout makes encoding random" },
        { "unknown-merge", $"{Json}: model.merges[181] = \"zz\": not a piece of the vocabulary" },
        { "three-part-merge", $"{Json}: model.merges[0] = \"a b c\": a merge string is two pieces separated by one space" },
        { "merge-result", $"{Json}: model.merges[181] = \"\u0100\u0100\": the merged piece is not in the vocabulary" },
        { "duplicate-merge", $"{Json}: model.merges[181] = \"r e\": the merge appears twice" },
        { "shared-id", $"{Json}: model.vocab[\"zz\"] = 5: id already holds \"\u0102\"" },
        { "gap", $"{Json}: model.vocab = 439: no piece has this id, but higher ids exist" },
        { "huge-id", $"{Json}: model.vocab[\"zz\"] = 2147483647: ids are 0..4194303" },
        { "string-id", $"{Json}: model.vocab[\"zz\"] = \"7\": an id must be an integer" },
        { "missing-byte", $"{Json}: model.vocab = \"\u0120\": byte 0x20 has no piece; a byte-level vocabulary spells all 256 bytes" },
        { "non-special-added", $"{Json}: added_tokens[3].special = false: non-special added token \"<tool>\" would be matched in text; not reproduced" },
        { "no-config", $"{Config}: (file) = (absent): a byte-level BPE tokenizer.json needs tokenizer_config.json for its bos and eos tokens" },
        { "eos-unknown", $"{Config}: eos_token = </s>: not a token of tokenizer.json" },
        { "bos-flag", $"{Config}: add_bos_token = \"yes\": must be true or false" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void RefusedWithOneLineAndExitTwo(string name, string expected)
    {
        using var dir = new TempDir();
        string ckpt = dir["ckpt"];
        Directory.CreateDirectory(ckpt);
        foreach (var f in Directory.EnumerateFiles(ByteLevelBpeTests.Checkpoint)) File.Copy(f, Path.Combine(ckpt, Path.GetFileName(f)));
        Corrupt(name, ckpt);

        var r = CliRunner.Run("convert", ckpt, "--to", "gguf", "-o", dir["out.gguf"]);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Equal($"mlconvert: error: {ckpt}/{expected}{Environment.NewLine}", r.Stderr);
        Assert.Equal(["ckpt"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    private static void Corrupt(string name, string ckpt)
    {
        string jsonPath = Path.Combine(ckpt, Json);
        string configPath = Path.Combine(ckpt, Config);
        void Edit(Action<JsonNode> edit)
        {
            var node = JsonNode.Parse(File.ReadAllText(jsonPath))!;
            edit(node);
            File.WriteAllText(jsonPath, node.ToJsonString());
        }
        void Raw(Func<string, string> edit) => File.WriteAllText(jsonPath, edit(File.ReadAllText(jsonPath)));
        switch (name)
        {
            case "invalid-utf8":
                var bytes = File.ReadAllBytes(jsonPath);
                bytes[bytes.Length / 2] = 0xFF;
                File.WriteAllBytes(jsonPath, bytes);
                break;
            case "lone-surrogate": Raw(t => t.Replace("\"vocab\": {", "\"vocab\": {\"\\ud800\": 440, ", StringComparison.Ordinal)); break;
            case "lone-surrogate-merge": Raw(t => t.Replace("\"merges\": [", "\"merges\": [\"\\ud800 x\", ", StringComparison.Ordinal)); break;
            case "deep": File.WriteAllText(jsonPath, "{\"a\":" + new string('[', 100) + new string(']', 100) + "}"); break;
            case "normalizer": Edit(n => n["normalizer"] = new JsonObject { ["type"] = "NFC" }); break;
            case "metaspace": Edit(n => n["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581" }); break;
            case "prefix-space": Edit(n => n["pre_tokenizer"]!["pretokenizers"]![1]!["add_prefix_space"] = true); break;
            case "template": Edit(n => n["post_processor"] = new JsonObject { ["type"] = "TemplateProcessing" }); break;
            case "wordpiece": Edit(n => Model(n, m => m["type"] = "WordPiece")); break;
            case "dropout": Edit(n => Model(n, m => m["dropout"] = 0.1)); break;
            case "unknown-merge": Edit(n => Model(n, m => m["merges"]!.AsArray().Add("zz qq"))); break;
            case "three-part-merge": Edit(n => Model(n, m => m["merges"]![0] = "a b c")); break;
            case "merge-result": Edit(n => Model(n, m => m["merges"]!.AsArray().Add("\u0100 \u0100"))); break;
            case "duplicate-merge": Edit(n => Model(n, m => m["merges"]!.AsArray().Add(m["merges"]![0]!.GetValue<string>()))); break;
            case "shared-id": Edit(n => Model(n, m => m["vocab"]!["zz"] = 5)); break;
            case "gap": Edit(n => Model(n, m => m["vocab"]![LastPiece(m)] = 500)); break;
            case "huge-id": Edit(n => Model(n, m => m["vocab"]!["zz"] = int.MaxValue)); break;
            case "string-id": Edit(n => Model(n, m => m["vocab"]!["zz"] = "7")); break;
            case "missing-byte": Edit(n => Model(n, m => { var v = m["vocab"]!.AsObject(); int id = v["\u0120"]!.GetValue<int>(); v.Remove("\u0120"); v["zz"] = id; })); break;
            case "non-special-added":
                Edit(n =>
                {
                    n["added_tokens"]!.AsArray().Add(new JsonObject { ["id"] = 440, ["content"] = "<tool>", ["special"] = false });
                    Model(n, m => m["vocab"]!["<tool>"] = 440);
                });
                break;
            case "no-config": File.Delete(configPath); break;
            case "eos-unknown": File.WriteAllText(configPath, "{\"eos_token\": \"</s>\"}"); break;
            case "bos-flag": File.WriteAllText(configPath, "{\"eos_token\": \"<|endoftext|>\", \"add_bos_token\": \"yes\"}"); break;
            default: throw new ArgumentException(name);
        }
    }

    private static string LastPiece(JsonObject model) => model["vocab"]!.AsObject().Last().Key;

    [Fact]
    public void MergesAsPairsReadLikeMergesAsStrings()
    {
        var text = File.ReadAllText(Path.Combine(ByteLevelBpeTests.Checkpoint, Json));
        var node = JsonNode.Parse(text)!;
        var merges = node["model"]!["merges"]!.AsArray();
        var pairs = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m!.GetValue<string>().Split(' ').Select(p => (JsonNode)JsonValue.Create(p)!).ToArray())).ToArray());
        node["model"]!["merges"] = pairs;
        var asStrings = HfTokenizerJson.ReadVocabulary(Encoding.UTF8.GetBytes(text), Json);
        var asPairs = HfTokenizerJson.ReadVocabulary(Encoding.UTF8.GetBytes(node.ToJsonString()), Json);
        Assert.Equal(asStrings.Merges, asPairs.Merges);
        Assert.Equal(asStrings.Pieces, asPairs.Pieces);
        Assert.Equal(181, asPairs.Merges.Length);
    }
}
