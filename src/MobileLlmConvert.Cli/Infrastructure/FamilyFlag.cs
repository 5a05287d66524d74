using System.CommandLine;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// `--family mobilellm|llama|mobillama`, on every verb that imports a Hugging Face checkpoint: which
/// family's rules read it, whatever config.json declares. Needed for the LlamaForCausalLM configs
/// facebookresearch/MobileLLM's training code writes (they carry share_embedding / layer_sharing),
/// which the importer refuses to guess about.
/// </summary>
internal sealed class FamilyFlag
{
    private readonly Option<string> _family = new("--family")
    {
        Description = "read a Hugging Face checkpoint with this family's rules: " + string.Join(", ", HfFamilies.All.Select(f => f.FlagName)),
    };

    public static FamilyFlag Create() => new();

    public void AddTo(Command cmd) => cmd.Options.Add(_family);

    public HfImportOptions Options(ParseResult parse)
    {
        if (parse.GetValue(_family) is not { } name) return HfImportOptions.Default;
        var family = HfFamilies.All.FirstOrDefault(f => f.FlagName == name.ToLowerInvariant())
            ?? throw new UsageException($"--family: '{name}' is not one of {string.Join(", ", HfFamilies.All.Select(f => f.FlagName))}");
        return new HfImportOptions { Family = family.Family };
    }
}
