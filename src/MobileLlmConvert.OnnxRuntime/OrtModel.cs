using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MobileLlmConvert.Runtime;

namespace MobileLlmConvert.OnnxRuntime;

/// <summary>How an <see cref="OrtModel"/> runs.</summary>
public sealed record OrtModelOptions
{
    /// <summary>Intra-op threads of the session (ONNX Runtime's own pool); the CLI's `--threads`.</summary>
    public int Threads { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Longest sequence fed before <see cref="OrtModel.Reset"/> (past plus new tokens); the graph itself has no cap but the model's context.</summary>
    public required int MaxContext { get; init; }
}

/// <summary>
/// A decoder graph run by ONNX Runtime behind <see cref="ILogitModel"/>, fed the way ONNX Runtime
/// GenAI feeds it (onnxruntime-genai src/models/decoder_only.cpp, docs/config.md): input_ids [1, S],
/// attention_mask [1, past + S] of ones, position_ids [1, S] counting on from the cache, and one
/// past_key_values.{i}.key|value [1, kv_heads, past, head_dim] per executed step, empty on the first
/// call; every present.{i}.key|value output becomes the next call's past as it is (ORT's own buffer,
/// never copied). The graph's inputs and outputs are discovered by name, so any graph of this
/// contract runs; the caller should check the folder first (the ONNX reader does), since ONNX Runtime
/// loads whatever model.onnx names.
/// </summary>
public sealed class OrtModel : ILogitModel
{
    private const string InputIds = "input_ids", AttentionMask = "attention_mask", PositionIds = "position_ids", Logits = "logits";
    private static string PastKey(int i) => "past_key_values." + i.ToString(CultureInfo.InvariantCulture) + ".key";
    private static string PastValue(int i) => "past_key_values." + i.ToString(CultureInfo.InvariantCulture) + ".value";
    private static string PresentKey(int i) => "present." + i.ToString(CultureInfo.InvariantCulture) + ".key";
    private static string PresentValue(int i) => "present." + i.ToString(CultureInfo.InvariantCulture) + ".value";

    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private readonly TensorElementType _maskType;
    private readonly bool _hasPositions;
    private readonly long[] _kvShape;
    private readonly OrtValue[] _past;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly float[] _last;
    private int _position;

    /// <summary>Opens <paramref name="modelFile"/> (a model.onnx) in a CPU session.</summary>
    public OrtModel(string modelFile, OrtModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Threads < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Threads, "Threads must be at least 1");
        if (options.MaxContext < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxContext, "MaxContext must be at least 1");
        MaxContext = options.MaxContext;
        using var so = new SessionOptions
        {
            IntraOpNumThreads = options.Threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            // Warnings (e.g. about unused initializers) would be a second line on stderr; errors surface as exceptions.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        _session = new InferenceSession(modelFile, so);
        try
        {
            var inputs = _session.InputMetadata;
            var outputs = _session.OutputMetadata;
            Require(inputs, InputIds, TensorElementType.Int64, TensorElementType.Int32);
            _maskType = Require(inputs, AttentionMask, TensorElementType.Int64, TensorElementType.Int32);
            _hasPositions = inputs.ContainsKey(PositionIds);
            if (_hasPositions && Require(inputs, PositionIds, _maskType) != _maskType)
                throw Contract($"{PositionIds} must have the type of {AttentionMask}");
            Require(outputs, Logits, TensorElementType.Float);
            var logitDims = outputs[Logits].Dimensions;
            if (logitDims.Length != 3 || logitDims[2] < 1) throw Contract($"{Logits} must be [batch, seq, vocab] with a fixed vocab");
            VocabSize = logitDims[2];
            int steps = 0;
            while (inputs.ContainsKey(PastKey(steps))) steps++;
            if (steps == 0) throw Contract($"no {PastKey(0)} input");
            var pastDims = inputs[PastKey(0)].Dimensions;
            if (pastDims.Length != 4 || pastDims[1] < 1 || pastDims[3] < 1) throw Contract($"{PastKey(0)} must be [batch, kv_heads, past, head_dim] with fixed heads and head size");
            _kvShape = [1, pastDims[1], 0, pastDims[3]];
            for (int i = 0; i < steps; i++)
            {
                Require(inputs, PastKey(i), TensorElementType.Float);
                Require(inputs, PastValue(i), TensorElementType.Float);
                Require(outputs, PresentKey(i), TensorElementType.Float);
                Require(outputs, PresentValue(i), TensorElementType.Float);
            }
            if (inputs.Count != 2 + (_hasPositions ? 1 : 0) + 2 * steps) throw Contract($"unexpected inputs besides the decoder contract ({inputs.Count})");
            var names = new List<string> { InputIds, AttentionMask };
            if (_hasPositions) names.Add(PositionIds);
            var outNames = new List<string> { Logits };
            for (int i = 0; i < steps; i++)
            {
                names.Add(PastKey(i));
                names.Add(PastValue(i));
                outNames.Add(PresentKey(i));
                outNames.Add(PresentValue(i));
            }
            _inputNames = [.. names];
            _outputNames = [.. outNames];
            _past = new OrtValue[2 * steps];
            _last = new float[VocabSize];
            Reset();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public int VocabSize { get; }
    /// <inheritdoc />
    public int MaxContext { get; }
    /// <inheritdoc />
    public int Position => _position;
    /// <summary>Executed steps (cache entries) of the graph.</summary>
    public int Steps => _past.Length / 2;

    /// <inheritdoc />
    public void Reset()
    {
        for (int i = 0; i < _past.Length; i++)
        {
            _past[i]?.Dispose();
            _past[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, _kvShape);
        }
        _position = 0;
    }

    /// <inheritdoc />
    public void Forward(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        long need = (long)tokens.Length * VocabSize;
        if (logits.Length < need) throw new ArgumentException($"logits needs {need} floats for {tokens.Length} tokens, got {logits.Length}", nameof(logits));
        if (tokens.IsEmpty) return;
        using var result = Run(tokens);
        result.GetTensorDataAsSpan<float>()[..(int)need].CopyTo(logits);
    }

    /// <inheritdoc />
    public ReadOnlySpan<float> ForwardLast(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) throw new ArgumentException("at least one token is needed", nameof(tokens));
        using var result = Run(tokens);
        result.GetTensorDataAsSpan<float>().Slice((tokens.Length - 1) * VocabSize, VocabSize).CopyTo(_last);
        return _last;
    }

    /// <summary>One session run over the new tokens; returns the logits value (the caller disposes it) and keeps the presents as the next past.</summary>
    private OrtValue Run(ReadOnlySpan<int> tokens)
    {
        int n = tokens.Length;
        if (n > MaxContext - _position)
            throw new InvalidOperationException($"context overflow: {_position} cached positions + {n} new tokens exceed the maximum context of {MaxContext}");
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id outside the vocabulary of {VocabSize}");
        }
        int total = _position + n;
        var ids = new long[n];
        for (int i = 0; i < n; i++) ids[i] = tokens[i];
        var mask = new long[total];
        Array.Fill(mask, 1L);
        var positions = new long[n];
        for (int i = 0; i < n; i++) positions[i] = _position + i;
        var fed = new List<OrtValue>(3);
        try
        {
            fed.Add(Ints(_session.InputMetadata[InputIds].ElementDataType, ids, [1, n]));
            fed.Add(Ints(_maskType, mask, [1, total]));
            if (_hasPositions) fed.Add(Ints(_maskType, positions, [1, n]));
            var outputs = _session.Run(_run, _inputNames, [.. fed, .. _past], _outputNames);
            // The presents become the next past as they are; the run's collection is not disposed as a
            // whole (that would release them too), each value is released when it is replaced.
            for (int i = 0; i < _past.Length; i++)
            {
                _past[i].Dispose();
                _past[i] = outputs[1 + i];
            }
            _position = total;
            return outputs[0];
        }
        finally
        {
            foreach (var v in fed) v.Dispose();
        }
    }

    /// <summary>An int64 tensor, or int32 when the graph declares that type (GenAI allows either, the same for mask and positions).</summary>
    private static OrtValue Ints(TensorElementType type, long[] values, long[] shape)
    {
        if (type == TensorElementType.Int64) return OrtValue.CreateTensorValueFromMemory(values, shape);
        var narrow = new int[values.Length];
        for (int i = 0; i < values.Length; i++) narrow[i] = checked((int)values[i]);
        return OrtValue.CreateTensorValueFromMemory(narrow, shape);
    }

    private static TensorElementType Require(IReadOnlyDictionary<string, NodeMetadata> values, string name, params TensorElementType[] types)
    {
        if (!values.TryGetValue(name, out var meta)) throw Contract($"no {name}");
        if (!meta.IsTensor || !types.Contains(meta.ElementDataType)) throw Contract($"{name} is {meta.ElementDataType}, expected {string.Join(" or ", types)}");
        return meta.ElementDataType;
    }

    private static InvalidOperationException Contract(string what) =>
        new($"not a decoder graph of the ONNX Runtime GenAI contract: {what}");

    /// <summary>Releases the session and the cache values.</summary>
    public void Dispose()
    {
        if (_past is not null)
        {
            foreach (var v in _past) v?.Dispose();
        }
        _run.Dispose();
        _session.Dispose();
    }
}
