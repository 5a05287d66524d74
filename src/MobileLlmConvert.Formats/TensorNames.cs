using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats;

/// <summary>
/// One row of the naming table: a tensor role and its name template in each format. "{bid}" stands
/// for the block index, as in gguf-py's TENSOR_NAMES ("blk.{bid}.attn_q").
/// </summary>
/// <param name="Role">The role named by this row.</param>
/// <param name="HuggingFace">transformers' LlamaForCausalLM state-dict key (modeling_llama.py).</param>
/// <param name="Gguf">llama.cpp's name for the llama architecture (gguf-py/gguf/constants.py, MODEL_TENSOR).</param>
/// <param name="Onnx">
/// The base initializer name in our ONNX folders, spelled as onnxruntime-genai's model builder names
/// its weights (src/python/py/models/builder.py: "model.layers.{i}.attn.q_proj.MatMul.weight"); a
/// quantized weight adds ".scales" / ".zero_points" companions. "{bid}" is the STORED block (formats/onnx.md).
/// </param>
public sealed record TensorNameRow(TensorRole Role, string HuggingFace, string Gguf, string Onnx);

/// <summary>
/// The one naming table: every format's tensor names by role, and parsing names back to (role,
/// block) from the same rows. A new format adds a column (a row property and a
/// <see cref="TensorNameColumn"/>), never a switch.
/// </summary>
public static class TensorNames
{
    /// <summary>The placeholder for the block index in a per-step template.</summary>
    public const string Block = "{bid}";

    /// <summary>Every row of the naming table, one per role.</summary>
    public static readonly IReadOnlyList<TensorNameRow> Rows =
    [
        new(TensorRole.TokenEmbedding, "model.embed_tokens.weight", "token_embd.weight", "model.embed_tokens.weight"),
        new(TensorRole.AttnNorm, "model.layers.{bid}.input_layernorm.weight", "blk.{bid}.attn_norm.weight", "model.layers.{bid}.input_layernorm.weight"),
        new(TensorRole.Q, "model.layers.{bid}.self_attn.q_proj.weight", "blk.{bid}.attn_q.weight", "model.layers.{bid}.attn.q_proj.MatMul.weight"),
        new(TensorRole.K, "model.layers.{bid}.self_attn.k_proj.weight", "blk.{bid}.attn_k.weight", "model.layers.{bid}.attn.k_proj.MatMul.weight"),
        new(TensorRole.V, "model.layers.{bid}.self_attn.v_proj.weight", "blk.{bid}.attn_v.weight", "model.layers.{bid}.attn.v_proj.MatMul.weight"),
        new(TensorRole.O, "model.layers.{bid}.self_attn.o_proj.weight", "blk.{bid}.attn_output.weight", "model.layers.{bid}.attn.o_proj.MatMul.weight"),
        new(TensorRole.FfnNorm, "model.layers.{bid}.post_attention_layernorm.weight", "blk.{bid}.ffn_norm.weight", "model.layers.{bid}.post_attention_layernorm.weight"),
        new(TensorRole.Gate, "model.layers.{bid}.mlp.gate_proj.weight", "blk.{bid}.ffn_gate.weight", "model.layers.{bid}.mlp.gate_proj.MatMul.weight"),
        new(TensorRole.Up, "model.layers.{bid}.mlp.up_proj.weight", "blk.{bid}.ffn_up.weight", "model.layers.{bid}.mlp.up_proj.MatMul.weight"),
        new(TensorRole.Down, "model.layers.{bid}.mlp.down_proj.weight", "blk.{bid}.ffn_down.weight", "model.layers.{bid}.mlp.down_proj.MatMul.weight"),
        new(TensorRole.OutputNorm, "model.norm.weight", "output_norm.weight", "model.norm.weight"),
        new(TensorRole.Output, "lm_head.weight", "output.weight", "lm_head.MatMul.weight"),
    ];

    /// <summary>Hugging Face safetensors / pytorch_model.bin keys.</summary>
    public static readonly TensorNameColumn HuggingFace = new("Hugging Face", r => r.HuggingFace);

    /// <summary>GGUF tensor names of llama.cpp's llama architecture.</summary>
    public static readonly TensorNameColumn Gguf = new("GGUF", r => r.Gguf);

    /// <summary>Base initializer names of our ONNX folders (formats/onnx.md).</summary>
    public static readonly TensorNameColumn Onnx = new("ONNX", r => r.Onnx);
}

/// <summary>One format's names: role (+ block) to name and back, from the rows of <see cref="TensorNames"/>.</summary>
public sealed class TensorNameColumn : ITensorNaming
{
    /// <summary>Longest block index accepted when parsing: far above any real model, small enough for int.</summary>
    private const int MaxBlockDigits = 6;

    private readonly string[] _templates;
    private readonly Dictionary<string, TensorRole> _modelLevel = new(StringComparer.Ordinal);

    internal TensorNameColumn(string format, Func<TensorNameRow, string> template)
    {
        Format = format;
        _templates = new string[TensorRoles.All.Count];
        foreach (var row in TensorNames.Rows)
        {
            string t = template(row);
            bool perStep = row.Role.Info().PerStep;
            // A per-step template names the block exactly once; a model-level one never does.
            int at = t.IndexOf(TensorNames.Block, StringComparison.Ordinal);
            if (perStep != (at >= 0) || (at >= 0 && t.IndexOf(TensorNames.Block, at + 1, StringComparison.Ordinal) >= 0))
                throw new InvalidOperationException($"{format} template \"{t}\" for role {row.Role.Name()} must name the block {(perStep ? "once" : "never")}");
            _templates[(int)row.Role] = t;
            if (!perStep) _modelLevel.Add(t, row.Role);
        }
        if (_templates.Any(t => t is null)) throw new InvalidOperationException($"{format} names some roles twice and others never");
    }

    /// <summary>The format, for messages ("GGUF", "Hugging Face").</summary>
    public string Format { get; }

    /// <summary>The name of <paramref name="role"/>; <paramref name="block"/> is required for per-step roles and ignored otherwise.</summary>
    public string Name(TensorRole role, int block = -1)
    {
        string t = _templates[(int)role];
        if (!role.Info().PerStep) return t;
        ArgumentOutOfRangeException.ThrowIfNegative(block);
        return t.Replace(TensorNames.Block, block.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    /// <summary>
    /// The role and block a name stands for (block -1 for model-level roles), or false. Block indices
    /// are canonical decimal only, so "blk.01" cannot alias "blk.1".
    /// </summary>
    public bool TryParse(string name, out TensorRole role, out int block)
    {
        block = -1;
        if (_modelLevel.TryGetValue(name, out role)) return true;
        foreach (var r in TensorRoles.Step)
        {
            string t = _templates[(int)r];
            int at = t.IndexOf(TensorNames.Block, StringComparison.Ordinal);
            string prefix = t[..at], suffix = t[(at + TensorNames.Block.Length)..];
            if (name.Length <= prefix.Length + suffix.Length || !name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(suffix, StringComparison.Ordinal))
                continue;
            var digits = name.AsSpan(prefix.Length, name.Length - prefix.Length - suffix.Length);
            if (!IsCanonicalIndex(digits)) continue;
            role = r;
            block = int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
            return true;
        }
        role = default;
        return false;
    }

    private static bool IsCanonicalIndex(ReadOnlySpan<char> digits)
    {
        if (digits.Length == 0 || digits.Length > MaxBlockDigits || (digits.Length > 1 && digits[0] == '0')) return false;
        foreach (var ch in digits)
        {
            if (ch is < '0' or > '9') return false;
        }
        return true;
    }
}
