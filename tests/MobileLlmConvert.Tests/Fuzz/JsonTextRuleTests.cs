using System.Buffers.Binary;
using System.Text;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Formats.HuggingFace;
using MobileLlmConvert.Formats.Mobile;
using MobileLlmConvert.Formats.Safetensors;
using MobileLlmConvert.Formats.SentencePiece;

namespace MobileLlmConvert.Tests.Fuzz;

/// <summary>
/// One JSON text rule for every JSON reader (src/MobileLlmConvert.Formats/Json/StrictJson.cs):
/// invalid UTF-8 and lone surrogate escapes are the format's error, wherever they sit, whether or
/// not the reader ever looks at that field. System.Text.Json alone lets both through unread
/// fields and throws InvalidOperationException for a lone surrogate in a name it decodes.
/// </summary>
public sealed class JsonTextRuleTests
{
    /// <summary>Reads <paramref name="json"/> with one reader and returns the message of the format exception it must throw.</summary>
    private static string Refusal(string reader, byte[] json)
    {
        Action read = reader switch
        {
            "config" => () => HfFamilies.Resolve(HfConfigJson.Parse(json, "config.json"), "config.json"),
            "index" => () => HfIndex.Parse(json, "model.safetensors.index.json"),
            "tokenizer_config" => () => SentencePieceModelFile.ReadTokenizerConfig(json, "m/tokenizer.model"),
            "manifest" => () => BundleManifest.Parse(json, "manifest.json"),
            "safetensors" => () => SafetensorsHeaderParser.Parse(Safetensors(json), "x.safetensors"),
            _ => throw new ArgumentException(reader),
        };
        var e = Assert.ThrowsAny<ModelFormatException>(read);
        Assert.Equal(reader switch
        {
            "config" => typeof(HfConfigException),
            "index" => typeof(HfIndexException),
            "tokenizer_config" => typeof(SentencePieceException),
            "manifest" => typeof(BundleException),
            _ => typeof(SafetensorsException),
        }, e.GetType());
        return e.Message;
    }

    private static byte[] Safetensors(byte[] header)
    {
        var file = new byte[8 + header.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        return file;
    }

    private static readonly Dictionary<string, string> Prefix = new()
    {
        ["config"] = "config.json: (json) = ",
        ["index"] = "model.safetensors.index.json: (json) = ",
        ["tokenizer_config"] = "m/tokenizer_config.json: (json) = ",
        ["manifest"] = "manifest.json: manifest.json = ",
        ["safetensors"] = "x.safetensors: header = ",
    };

    private static readonly Dictionary<string, string> What = new()
    {
        ["config"] = "config.json",
        ["index"] = "the index",
        ["tokenizer_config"] = "tokenizer_config.json",
        ["manifest"] = "manifest.json",
        ["safetensors"] = "header",
    };

    public static TheoryData<string, string, string> SurrogateCases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var reader in Prefix.Keys)
        {
            data.Add(reader, """{"a": "\ud800"}""", @"\ud800 at byte 7");
            data.Add(reader, """{"\uDC00": 1}""", @"\uDC00 at byte 2");
            data.Add(reader, """{"x": "ok", "y": "a\ud800\u0041"}""", @"\ud800 at byte 19");
            data.Add(reader, """{"x": ["\ud83d\ude00", "\ude00\ud83d"]}""", @"\ude00 at byte 24");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SurrogateCases))]
    public void Lone_surrogate_escapes_are_the_formats_error(string reader, string json, string value) =>
        Assert.Equal($"{Prefix[reader]}{value}: a lone UTF-16 surrogate escape is not text ({What[reader]} must be valid Unicode)",
            Refusal(reader, Encoding.UTF8.GetBytes(json)));

    /// <summary>A proper pair is text: the reader goes on to its own rules (here: a field it requires), not the surrogate rule.</summary>
    [Theory]
    [InlineData("config")]
    [InlineData("index")]
    [InlineData("manifest")]
    public void A_surrogate_pair_passes_the_text_rule(string reader) =>
        Assert.DoesNotContain("surrogate", Refusal(reader, """{"\ud83d\ude00": "\ud83d\ude00"}"""u8.ToArray()));

    [Theory]
    [InlineData("config")]
    [InlineData("index")]
    [InlineData("tokenizer_config")]
    [InlineData("manifest")]
    public void Invalid_utf8_in_a_field_no_reader_looks_at_is_the_formats_error(string reader)
    {
        foreach (var bad in new byte[][] { [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82] })
        {
            byte[] json = [.. "{\"unused\": \""u8, .. bad, .. "\"}"u8];
            Assert.Equal($"{Prefix[reader]}invalid UTF-8: {What[reader]} must be UTF-8 text", Refusal(reader, json));
        }
    }

    [Fact]
    public void Invalid_utf8_in_a_safetensors_header_names_the_byte() =>
        Assert.Equal("x.safetensors: header = byte 0xED at header offset 12: header is not valid UTF-8",
            Refusal("safetensors", [.. "{\"unused\": \""u8, 0xED, 0xA0, 0x80, .. "\"}"u8]));

    /// <summary>Before the rule, tokenizer_config.json was decoded with replacement characters and its bad bytes went unnoticed.</summary>
    [Fact]
    public void The_importer_refuses_a_tokenizer_config_that_is_not_utf8()
    {
        using var dir = new TempDir();
        string ckpt = Path.Combine(dir.Path, "ckpt");
        Directory.CreateDirectory(ckpt);
        foreach (var f in Directory.GetFiles(Fixtures.FixtureCatalog.Get("llama-tiny").CommittedPath)) File.Copy(f, Path.Combine(ckpt, Path.GetFileName(f)));
        File.WriteAllBytes(Path.Combine(ckpt, "tokenizer_config.json"), [.. "{\"bos_token\": \""u8, 0xFF, .. "\"}"u8]);
        var e = Assert.Throws<SentencePieceException>(() => HfImporter.Import(ckpt).Dispose());
        Assert.Equal($"{Path.Combine(ckpt, "tokenizer_config.json")}: (json) = invalid UTF-8: tokenizer_config.json must be UTF-8 text", e.Message);
    }
}
