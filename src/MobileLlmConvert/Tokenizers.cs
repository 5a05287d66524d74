using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert;

/// <summary>Text &lt;-&gt; token ids for a model, whatever format it was read from.</summary>
public static class Tokenizers
{
    /// <summary>
    /// The tokenizer of <paramref name="ir"/>. Every registered reader returns an IR whose tokenizer
    /// can encode (GGUF's vocabulary comes with a rebuilt sentencepiece ModelProto), so a GGUF read
    /// back encodes like the checkpoint it was converted from.
    /// </summary>
    /// <exception cref="ModelUsageException">The model carries no tokenizer (a checkpoint without tokenizer files).</exception>
    public static ModelTokenizer For(ModelIr ir)
    {
        ArgumentNullException.ThrowIfNull(ir);
        var tokenizer = ir.Tokenizer ?? throw new ModelUsageException(
            $"{ir.SourcePath ?? ir.Config.Architecture}: the model has no tokenizer (no tokenizer.model or tokenizer.json was read)");
        return new ModelTokenizer(new TextTokenizer(tokenizer));
    }
}

/// <summary>A model's tokenizer: ids equal google/sentencepiece's (or the HF fast tokenizer's for byte-level BPE).</summary>
public sealed class ModelTokenizer(TextTokenizer inner)
{
    /// <summary>The runtime tokenizer underneath (streaming decoding, ids without BOS/EOS).</summary>
    public TextTokenizer Inner { get; } = inner;

    /// <summary>Id of the beginning-of-sequence token.</summary>
    public int BosId => Inner.BosId;
    /// <summary>Id of the end-of-sequence token (generation stops there).</summary>
    public int EosId => Inner.EosId;

    /// <summary>Token ids of <paramref name="text"/>, with BOS/EOS as the model's tokenizer config asks.</summary>
    public int[] Encode(string text) => [.. Inner.Encode(text)];

    /// <summary>Text of <paramref name="ids"/>; control tokens are left out.</summary>
    public string Decode(IEnumerable<int> ids) => Inner.Decode(ids);
}
