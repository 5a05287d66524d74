namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// The byte-level BPE pre-tokenizers we reproduce exactly, by llama.cpp's tokenizer.ggml.pre name.
/// Each is a list of regexes applied in turn: the first splits the text, every later one splits
/// each piece the previous produced (llama.cpp src/llama-vocab.cpp, llm_tokenizer_bpe; Hugging Face
/// tokenizers' pre_tokenizers::Sequence does the same). Format knowledge as data: a new
/// pre-tokenizer is one row here plus the tokenizer.json shape that maps to it (HfTokenizerJson).
/// </summary>
internal static class BpePreTokenizers
{
    /// <summary>
    /// GPT-2's split regex (openai/gpt-2 src/encoder.py; Hugging Face tokenizers
    /// pre_tokenizers/byte_level.rs; llama.cpp LLAMA_VOCAB_PRE_TYPE_GPT2). The patterns are valid
    /// .NET regexes as written.
    /// </summary>
    public const string Gpt2Regex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Hugging Face pre_tokenizers::Digits with individual_digits = true: every digit alone.</summary>
    public const string IndividualDigitsRegex = @"\p{N}";

    /// <summary>
    /// tokenizer.ggml.pre of a plain GPT-2 byte-level pre-tokenizer: "gpt-2" with a hyphen (llama.cpp
    /// refuses "gpt2" as an unknown pre-tokenizer type; convert_hf_to_gguf.py names GPT-2's "gpt-2").
    /// </summary>
    public const string Gpt2 = "gpt-2";

    /// <summary>
    /// tokenizer.ggml.pre of SmolLM2/StarCoder's Sequence[Digits(individual_digits), ByteLevel]
    /// (llama.cpp convert_hf_to_gguf.py get_vocab_base_pre: "smollm"; llama-vocab.cpp
    /// LLAMA_VOCAB_PRE_TYPE_SMOLLM shares the STARCODER regexes "\p{N}" then GPT-2's).
    /// </summary>
    public const string SmolLm = "smollm";

    private static readonly Dictionary<string, string[]> Table = new(StringComparer.Ordinal)
    {
        [Gpt2] = [Gpt2Regex],
        [SmolLm] = [IndividualDigitsRegex, Gpt2Regex],
    };

    public static bool IsKnown(string? name) => name is not null && Table.ContainsKey(name);

    /// <summary>The split regexes of <paramref name="name"/>, in application order.</summary>
    public static IReadOnlyList<string> Regexes(string name) =>
        Table.TryGetValue(name, out var r) ? r : throw new ArgumentException($"unknown byte-level BPE pre-tokenizer '{name}'", nameof(name));
}
