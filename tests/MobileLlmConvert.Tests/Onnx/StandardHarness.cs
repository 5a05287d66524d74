using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Onnx;
using MobileLlmConvert.Formats.Onnx.Standard;
using Onnx;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>
/// Runs a standard-profile graph through ONNX Runtime: builds the decoder graph of an IR (the layer
/// loop and GenAI's I/O names around <see cref="StandardProfile"/>) in memory, and feeds it tokens with
/// or without a KV cache.
/// </summary>
internal static class StandardHarness
{
    /// <summary>
    /// The decoder ModelProto of <paramref name="ir"/> as the shared layer loop builds it with the standard
    /// profile, initializers inline (the writer moves them to model.onnx.data; ORT reads both the same).
    /// </summary>
    public static ModelProto Build(ModelIr ir)
    {
        var g = OnnxGraph.Build(ir, StandardProfile.Instance);
        var graph = new GraphProto { Name = "mlconvert" };
        graph.Node.AddRange(g.Nodes);
        graph.Input.AddRange(g.Inputs);
        graph.Output.AddRange(g.Outputs);
        foreach (var init in g.Initializers)
        {
            var bytes = new byte[init.ByteLength];
            init.Fill(bytes);
            var t = new TensorProto { Name = init.Name, DataType = (int)init.Type, RawData = ByteString.CopyFrom(bytes) };
            t.Dims.AddRange(init.Dims);
            graph.Initializer.Add(t);
        }
        var model = new ModelProto { IrVersion = 10, ProducerName = "mlconvert", Graph = graph };
        foreach (var domain in g.Domains) model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = domain == OnnxGraphBuilder.StandardDomain ? OnnxWriter.StandardOpset : OnnxWriter.MicrosoftOpset });
        return model;
    }

    /// <summary>An ORT session over the model's bytes (one thread: tests run in parallel).</summary>
    public static InferenceSession Session(ModelProto model)
    {
        using var options = ExactOptions();
        return new InferenceSession(model.ToByteArray(), options);
    }

    /// <summary>
    /// One thread, and f32 activations in the MatMulNBits kernel ORT fuses DequantizeLinear + MatMul into
    /// (its default accuracy level 4 rounds activations to int8, about 2% of the logits' scale).
    /// </summary>
    public static SessionOptions ExactOptions()
    {
        var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        options.AddSessionConfigEntry("session.qdq_matmulnbits_accuracy_level", "0");
        return options;
    }

    /// <summary>A run's logits [S, V] (batch 1) and the present K/V per step.</summary>
    public sealed record Result(float[][] Logits, List<(float[] Data, int[] Dims)> Present);

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions past..past+S-1 after the cache <paramref name="past"/>
    /// (null = empty), batch 1, attention mask all ones.
    /// </summary>
    public static Result Run(InferenceSession session, ModelIr ir, int[] tokens, List<(float[] Data, int[] Dims)>? past = null)
    {
        var c = ir.Config;
        int pastLen = past is null ? 0 : past[0].Dims[2];
        int s = tokens.Length, total = pastLen + s;
        var feeds = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(tokens.Select(t => (long)t).ToArray(), [1, s])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, total).ToArray(), [1, total])),
        };
        feeds.Add(NamedOnnxValue.CreateFromTensor("position_ids", new DenseTensor<long>(Enumerable.Range(pastLen, s).Select(i => (long)i).ToArray(), [1, s])));
        for (int i = 0; i < ir.Steps.Count; i++)
        {
            for (int kv = 0; kv < 2; kv++)
            {
                var (data, dims) = past is null ? ([], [1, c.NumKvHeads, 0, c.HeadDim]) : past[2 * i + kv];
                feeds.Add(NamedOnnxValue.CreateFromTensor($"past_key_values.{i}.{(kv == 0 ? "key" : "value")}", new DenseTensor<float>(data, dims)));
            }
        }
        using var results = session.Run(feeds);
        var byName = results.ToDictionary(r => r.Name, r => r.AsTensor<float>());
        var logits = byName["logits"];
        var rows = new float[s][];
        for (int t = 0; t < s; t++)
        {
            rows[t] = new float[c.VocabSize];
            for (int v = 0; v < c.VocabSize; v++) rows[t][v] = logits[0, t, v];
        }
        var present = new List<(float[], int[])>();
        for (int i = 0; i < ir.Steps.Count; i++)
        {
            foreach (var kind in new[] { "key", "value" })
            {
                var tensor = byName[$"present.{i}.{kind}"];
                present.Add((tensor.ToArray(), tensor.Dimensions.ToArray()));
            }
        }
        return new Result(rows, present);
    }

    /// <summary>Largest |a - b| over the row divided by the largest |b|: the relative error of a logits row.</summary>
    public static double RelativeError(float[] actual, float[] expected)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }
        return diff / scale;
    }
}
