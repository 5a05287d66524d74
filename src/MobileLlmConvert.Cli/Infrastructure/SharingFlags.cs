using System.CommandLine;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>`--no-tie`, `--no-dedup`, `--no-fold-gqa`: the same three switches on every verb that runs the sharing passes.</summary>
internal sealed class SharingFlags
{
    private readonly Option<bool> _noTie = new("--no-tie") { Description = "keep a stored output head even when it is byte-identical to the embedding" };
    private readonly Option<bool> _noDedup = new("--no-dedup") { Description = "store byte-identical tensors (shared layers, FFN copies) once per name" };
    private readonly Option<bool> _noFoldGqa = new("--no-fold-gqa") { Description = "keep repeated KV heads as they are" };

    public static SharingFlags Create() => new();

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(_noTie);
        cmd.Options.Add(_noDedup);
        cmd.Options.Add(_noFoldGqa);
    }

    /// <summary>The three switches set on the library's conversion options.</summary>
    public ConvertOptions Apply(ParseResult parse, ConvertOptions options) => options with
    {
        NoTie = parse.GetValue(_noTie),
        NoDedup = parse.GetValue(_noDedup),
        NoFoldGqa = parse.GetValue(_noFoldGqa),
    };

    public SharingOptions Options(ParseResult parse) => new()
    {
        NoTie = parse.GetValue(_noTie),
        NoDedup = parse.GetValue(_noDedup),
        NoFoldGqa = parse.GetValue(_noFoldGqa),
    };
}
