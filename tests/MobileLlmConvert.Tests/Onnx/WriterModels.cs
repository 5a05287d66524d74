using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Synthetic;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>Tiny models of every family for the ONNX writer tests, and ONNX Runtime driven as GenAI drives the graph.</summary>
internal static class WriterModels
{
    /// <summary>
    /// The fixtures by name: every family, GQA and not, tied and untied, head sizes 8 (RoPE in plain
    /// ops), 16 and 32 (GroupQueryAttention rotates).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, SyntheticSpec> Specs = new Dictionary<string, SyntheticSpec>
    {
        ["llama-gqa-hd16"] = new() { Family = ModelFamily.Llama, HiddenSize = 64, NumHeads = 4, NumKvHeads = 2, Seed = 11 },
        ["llama-mha-tied-hd8"] = new() { Family = ModelFamily.Llama, HiddenSize = 32, IntermediateSize = 96, NumHeads = 4, NumKvHeads = 4, Tied = true, Seed = 12 },
        ["mobilellm-hd32"] = new() { Family = ModelFamily.MobileLLM, HiddenSize = 64, NumHeads = 2, NumKvHeads = 1, Tied = true, Seed = 13 },
        ["mobilellm-ls-hd16"] = new() { Family = ModelFamily.MobileLLM, HiddenSize = 64, NumHeads = 4, NumKvHeads = 2, LayerSharing = true, Tied = true, Seed = 14 },
        ["mobillama-hd16"] = new() { Family = ModelFamily.MobiLlama, HiddenSize = 64, NumHeads = 4, NumKvHeads = 4, StoredLayers = 3, Seed = 15 },
    };

    /// <summary>Ids spread over the vocabulary (320 pieces).</summary>
    public static readonly int[] Tokens = [1, 17, 40, 263, 300, 5, 99, 260, 311, 42];

    /// <summary>The fixture's IR after the conversion passes with <paramref name="quant"/> (null keeps f32).</summary>
    public static ModelIr Converted(string fixture, string? quant)
    {
        var source = SyntheticModel.Create(Specs[fixture], TensorNames.HuggingFace);
        var conversion = Pipeline.Run(source, new ConvertOptions { Quant = quant });
        return conversion.Result;
    }

    /// <summary>Our executor's logits on <paramref name="ir"/> (the exact quantized path: f32 activations).</summary>
    public static float[] ExecutorLogits(ModelIr ir, int[] tokens)
    {
        using var t = new Transformer(ir, new ExecutorOptions { Threads = 1, QuantPath = QuantPath.Exact, MaxContext = tokens.Length });
        return t.Forward(tokens);
    }

    /// <summary>One ORT run: logits [seq, vocab] and the present caches, given the past (empty on the first call).</summary>
    public static (float[] Logits, List<(float[] Key, float[] Value)> Present) Run(InferenceSession session, ModelConfig c, int steps,
        int[] tokens, int pastLength, List<(float[] Key, float[] Value)>? past)
    {
        int n = tokens.Length, total = pastLength + n;
        var inputs = new Dictionary<string, OrtValue>
        {
            [OnnxGraph.InputIds] = OrtValue.CreateTensorValueFromMemory(tokens.Select(t => (long)t).ToArray(), [1, n]),
            [OnnxGraph.AttentionMask] = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, total).ToArray(), [1, total]),
            [OnnxGraph.PositionIds] = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(pastLength, n).Select(p => (long)p).ToArray(), [1, n]),
        };
        for (int i = 0; i < steps; i++)
        {
            long[] shape = [1, c.NumKvHeads, pastLength, c.HeadDim];
            inputs[OnnxGraph.PastKey(i)] = OrtValue.CreateTensorValueFromMemory(past?[i].Key ?? [], shape);
            inputs[OnnxGraph.PastValue(i)] = OrtValue.CreateTensorValueFromMemory(past?[i].Value ?? [], shape);
        }
        var outputNames = new List<string> { OnnxGraph.Logits };
        for (int i = 0; i < steps; i++) { outputNames.Add(OnnxGraph.PresentKey(i)); outputNames.Add(OnnxGraph.PresentValue(i)); }
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, inputs.Keys.ToList(), inputs.Values.ToList(), outputNames);
        foreach (var v in inputs.Values) v.Dispose();
        var logits = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        var present = new List<(float[], float[])>();
        for (int i = 0; i < steps; i++) present.Add((outputs[1 + 2 * i].GetTensorDataAsSpan<float>().ToArray(), outputs[2 + 2 * i].GetTensorDataAsSpan<float>().ToArray()));
        return (logits, present);
    }

    /// <summary>max |a - b| / max |b|.</summary>
    public static double Relative(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(b.Length, a.Length);
        double m = 0, s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
            s = Math.Max(s, Math.Abs((double)b[i]));
        }
        return m / s;
    }
}
