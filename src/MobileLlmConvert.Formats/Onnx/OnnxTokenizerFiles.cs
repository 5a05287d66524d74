using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.HuggingFace;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>The tokenizer files of an ONNX folder, in the Hugging Face shapes ONNX Runtime GenAI loads.</summary>
internal static class OnnxTokenizerFiles
{
    /// <summary>True when a tokenizer.json can be written for <paramref name="tok"/>.</summary>
    public static bool CanWriteJson(TokenizerIr tok) =>
        tok.Kind == TokenizerKind.ByteLevelBpe ? tok.Merges is not null && BpePreTokenizers.IsKnown(tok.PreTokenizer) : HfTokenizerJson.CanBuildSentencePiece(tok);

    /// <summary>tokenizer.json: byte-level BPE as the Hugging Face exporter writes it, sentencepiece BPE with byte fallback otherwise.</summary>
    public static byte[] TokenizerJson(TokenizerIr tok) =>
        tok.Kind == TokenizerKind.ByteLevelBpe ? HfTokenizerJson.Build(tok) : HfTokenizerJson.BuildSentencePiece(tok);

    /// <summary>tokenizer_config.json: the checkpoint's own when the IR kept it, else one made from the vocabulary.</summary>
    public static byte[] TokenizerConfig(TokenizerIr tok, int contextLength) =>
        tok.TokenizerConfigJson is { } raw ? System.Text.Encoding.UTF8.GetBytes(raw) : HfConfigWriter.TokenizerConfig(tok, contextLength);
}
