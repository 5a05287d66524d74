using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>One kind per way tokenizer.json or tokenizer_config.json can be bad.</summary>
public enum HfTokenizerError
{
    /// <summary>The file is above its size cap.</summary>
    FileTooLarge,
    /// <summary>Not UTF-8, not JSON, or a string with a lone surrogate escape.</summary>
    InvalidJson,
    /// <summary>The top-level JSON value is not an object.</summary>
    NotObject,
    /// <summary>A required field is absent.</summary>
    MissingField,
    /// <summary>A field has the wrong JSON type.</summary>
    WrongType,
    /// <summary>A count or a length above its named cap (<see cref="HfTokenizerJson"/>).</summary>
    OutOfRange,
    /// <summary>A model, normalizer, pre-tokenizer, post-processor or decoder we cannot reproduce exactly.</summary>
    Unsupported,
    /// <summary>Two entries for one id or one piece, an added token disagreeing with the vocabulary, or an id missing from 0..n-1.</summary>
    BadVocabulary,
    /// <summary>A merge naming a piece outside the vocabulary, whose result is outside it, or that is not two pieces.</summary>
    BadMerge,
    /// <summary>tokenizer_config.json: a special token that is not in the vocabulary, or a flag that is not a boolean.</summary>
    BadTokenizerConfig,
}

/// <summary>tokenizer.json (Hugging Face tokenizers format) or its tokenizer_config.json is bad or unsupported.</summary>
public sealed class HfTokenizerException(HfTokenizerError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<HfTokenizerError>(kind, file, field, value, reason, inner)
{
    /// <inheritdoc/>
    public override string Format => "tokenizer.json";
}
