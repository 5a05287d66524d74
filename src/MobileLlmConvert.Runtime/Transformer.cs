using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Runtime;

/// <summary>
/// The reference executor: runs any <see cref="ModelIr"/> (Hugging Face, GGUF, mobile: it does not
/// know the file). Llama math (transformers models/llama/modeling_llama.py): RMSNorm, rotate_half RoPE, grouped-query causal
/// attention, SwiGLU, final norm and output head (the embedding when tied). Each executed step has
/// its own KV-cache slot even when its weights are shared with another step.
/// Feed tokens in batches; positions continue from the cache until <see cref="Reset"/>.
/// The IR (and the files it maps) must outlive this object. Not thread-safe: one caller at a time.
/// </summary>
public sealed unsafe class Transformer : ILogitModel
{
    private readonly ModelWeights _w;
    private readonly RunState _s;
    private readonly Rope _rope;
    private readonly WorkerPool _pool;
    private readonly MatMulJob _matmul;
    private readonly AttentionJob _attention;
    private readonly RowJob _rows;
    private readonly int _maxBatch;
    private int _position;
    private IResidualObserver? _observer;
    private IMatMulInputObserver? _matMulInputObserver;

    /// <summary>The configuration of the model being run.</summary>
    public ModelConfig Config { get; }
    /// <summary>The executor options (threads, quantized path, context).</summary>
    public ExecutorOptions Options { get; }
    /// <summary>Longest sequence the KV cache holds.</summary>
    public int MaxContext { get; }
    /// <summary>Number of logits per position.</summary>
    public int VocabSize => Config.VocabSize;
    /// <summary>Tokens in the KV cache: the position the next token gets.</summary>
    public int Position => _position;
    /// <summary>Stored matrices the executor holds (each once, however many steps use it).</summary>
    public int DistinctMatrices => _w.DistinctMatrices;
    /// <summary>Bytes the executor allocated for itself (KV cache, activations, scratch); weights are not copied.</summary>
    public long StateBytes => _s.Bytes;

    /// <summary>An executor over <paramref name="ir"/>: allocates the run state once and reads weights where they lie (mapped, not copied).</summary>
    public Transformer(ModelIr ir, ExecutorOptions? options = null)
    {
        options ??= new ExecutorOptions();
        if (options.Threads < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Threads, "Threads must be at least 1");
        if (options.MaxBatch < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxBatch, "MaxBatch must be at least 1");
        if (options.MaxContext is < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxContext, "MaxContext must be at least 1");
        IrValidator.Validate(ir, ir.SourcePath ?? "(ir)");
        Config = ir.Config;
        Options = options;
        MaxContext = options.MaxContext ?? Math.Min(Config.ContextLength > 0 ? Config.ContextLength : ExecutorOptions.DefaultContextCap, ExecutorOptions.DefaultContextCap);
        // A batch never holds more tokens than the cache: no buffer is sized for tokens that cannot fit.
        _maxBatch = Math.Min(options.MaxBatch, MaxContext);
        _w = ModelWeights.Load(ir);
        var matrices = _w.Steps.SelectMany(l => new[] { l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down }).Append(_w.Output).Distinct();
        _s = new RunState(Config, matrices, _maxBatch, MaxContext, options.Threads);
        _rope = new Rope(Config.HeadDim, Config.RopeTheta, MaxContext);
        _pool = new WorkerPool(options.Threads);
        _matmul = new MatMulJob(_pool, options.QuantPath, _s.Scratch, _s.XqBuffers);
        _rows = new RowJob(_pool, _rope, Config.RmsNormEps);
        _attention = new AttentionJob(_pool, _s.Scores, Config.NumHeads, Config.NumKvHeads, Config.HeadDim);
    }

    /// <summary>
    /// Sees the residual stream after the embedding and after every executed step (mlconvert diff
    /// --per-layer). Null, the default, costs one null check per step.
    /// </summary>
    public IResidualObserver? Observer { get => _observer; set => _observer = value; }

    /// <summary>
    /// Sees every matrix-multiply input (calibration). Null, the default, costs one null check per
    /// multiply group.
    /// </summary>
    public IMatMulInputObserver? MatMulInputObserver { get => _matMulInputObserver; set => _matMulInputObserver = value; }

    /// <summary>Empties the KV cache: the next token is position 0.</summary>
    public void Reset() => _position = 0;

    /// <summary>
    /// Feeds <paramref name="tokens"/> and writes the logits of every new position into
    /// <paramref name="logits"/> ([tokens.Length, vocab], row-major).
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        long need = (long)tokens.Length * VocabSize;
        if (logits.Length < need) throw new ArgumentException($"logits needs {need} floats for {tokens.Length} tokens, got {logits.Length}", nameof(logits));
        Check(tokens);
        fixed (float* out0 = logits)
        {
            for (int c = 0; c < tokens.Length; c += _maxBatch)
            {
                int n = Math.Min(_maxBatch, tokens.Length - c);
                ForwardChunk(tokens.Slice(c, n), default, 0, n, out0 + (long)c * VocabSize, allLogits: true);
            }
        }
    }

    /// <summary>
    /// Resumes a forward pass at executed step <paramref name="firstStep"/>: <paramref name="residual"/>
    /// ([n, hidden]) is the residual stream entering that step for n new positions, as an observer saw
    /// it after <paramref name="firstStep"/> steps. Steps before it are not run and their KV-cache slots
    /// are not written; <paramref name="firstStep"/> = the step count runs only the final norm and head.
    /// Writes the logits of every position ([n, vocab]). Used by `diff --per-tensor` to re-run only the
    /// steps a replaced tensor can change.
    /// </summary>
    public void ForwardFrom(int firstStep, ReadOnlySpan<float> residual, Span<float> logits)
    {
        if ((uint)firstStep > (uint)_w.Steps.Length) throw new ArgumentOutOfRangeException(nameof(firstStep), firstStep, $"not in [0, {_w.Steps.Length}]");
        int hidden = Config.HiddenSize;
        if (residual.Length % hidden != 0) throw new ArgumentException($"residual of {residual.Length} floats is not whole rows of {hidden}", nameof(residual));
        int count = residual.Length / hidden;
        long need = (long)count * VocabSize;
        if (logits.Length < need) throw new ArgumentException($"logits needs {need} floats for {count} positions, got {logits.Length}", nameof(logits));
        if (count > MaxContext - _position)
            throw new InvalidOperationException($"context overflow: {_position} cached positions + {count} new positions exceed the maximum context of {MaxContext}");
        fixed (float* out0 = logits)
        {
            for (int c = 0; c < count; c += _maxBatch)
            {
                int n = Math.Min(_maxBatch, count - c);
                ForwardChunk(default, residual.Slice(c * hidden, n * hidden), firstStep, n, out0 + (long)c * VocabSize, allLogits: true);
            }
        }
    }

    /// <summary>Every new position's logits as a new array [tokens.Length * vocab] (tests, the logits verb).</summary>
    public float[] Forward(ReadOnlySpan<int> tokens)
    {
        var logits = new float[checked(tokens.Length * VocabSize)];
        Forward(tokens, logits);
        return logits;
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> (at least one) and returns the logits of the last position only:
    /// the output head runs for one row. The span is the run state's and is valid until the next call.
    /// </summary>
    public ReadOnlySpan<float> ForwardLast(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) throw new ArgumentException("at least one token is needed", nameof(tokens));
        Check(tokens);
        for (int c = 0; c < tokens.Length; c += _maxBatch)
        {
            int n = Math.Min(_maxBatch, tokens.Length - c);
            bool last = c + n == tokens.Length;
            ForwardChunk(tokens.Slice(c, n), default, 0, n, last ? RunState.Ptr(_s.Logits) : null, allLogits: false);
        }
        return _s.Logits;
    }

    private void Check(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length > MaxContext - _position)
            throw new InvalidOperationException(
                $"context overflow: {_position} cached positions + {tokens.Length} new tokens exceed the maximum context of {MaxContext}; call Reset() or raise ExecutorOptions.MaxContext");
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id outside the vocabulary [0, {VocabSize})");
        }
    }

    /// <summary>
    /// One batch of n &lt;= MaxBatch positions through the executed steps from <paramref name="firstStep"/> on,
    /// starting from <paramref name="residualIn"/> when given ([n, hidden]), else from the tokens' embeddings. Null logits = no head
    /// (a prefill chunk before the last).
    /// </summary>
    private void ForwardChunk(ReadOnlySpan<int> tokens, ReadOnlySpan<float> residualIn, int firstStep, int n, float* logits, bool allLogits)
    {
        var c = Config;
        int hidden = c.HiddenSize, qw = c.QueryWidth, kvw = c.KvWidth, inter = c.IntermediateSize;
        int pos0 = _position;
        float* x = RunState.Ptr(_s.X), xb = RunState.Ptr(_s.Xb), xb2 = RunState.Ptr(_s.Xb2);
        float* q = RunState.Ptr(_s.Q), att = RunState.Ptr(_s.Att), hb = RunState.Ptr(_s.Hb), hb2 = RunState.Ptr(_s.Hb2);

        if (residualIn.IsEmpty)
        {
            for (int i = 0; i < n; i++) _w.Embedding.ReadRow(tokens[i], _s.X.AsSpan(i * hidden, hidden));
            _observer?.OnResidual(0, pos0, _s.X.AsSpan(0, n * hidden));
        }
        else
        {
            residualIn.CopyTo(_s.X);
        }

        for (int l = firstStep; l < _w.Steps.Length; l++)
        {
            var layer = _w.Steps[l];
            // This step's own cache slot; K and V are written straight into it at the new positions.
            long slot = (long)l * MaxContext * kvw;
            float* kSlot = RunState.Ptr(_s.KeyCache) + slot, vSlot = RunState.Ptr(_s.ValueCache) + slot;
            float* kNew = kSlot + (long)pos0 * kvw;

            _matmul.Begin(xb, hidden, n);
            _matmul.Add(layer.Q, q, qw);
            _matmul.Add(layer.K, kNew, kvw);
            _matmul.Add(layer.V, vSlot + (long)pos0 * kvw, kvw);
            _matmul.Plan();
            _rows.Norm(x, 0, xb, layer.AttnNorm, hidden, n, _matmul);
            _matMulInputObserver?.OnMatMulInput(l, TensorRole.Q, _s.Xb.AsSpan(0, n * hidden), n);
            _matmul.Run();
            _rows.ApplyRope(q, qw, kNew, kvw, pos0, n);
            _attention.Run(q, kSlot, vSlot, att, pos0, n);

            _matmul.Begin(att, qw, n);
            _matmul.Add(layer.O, xb2, hidden, residual: x);
            _matmul.Plan();
            _rows.Quantize(_matmul, n);
            _matMulInputObserver?.OnMatMulInput(l, TensorRole.O, _s.Att.AsSpan(0, n * qw), n);
            _matmul.Run();

            _matmul.Begin(xb, hidden, n);
            _matmul.Add(layer.Gate, hb, inter);
            _matmul.Add(layer.Up, hb2, inter);
            _matmul.Plan();
            _rows.Norm(x, 0, xb, layer.FfnNorm, hidden, n, _matmul);
            _matMulInputObserver?.OnMatMulInput(l, TensorRole.Gate, _s.Xb.AsSpan(0, n * hidden), n);
            _matmul.Run();

            _matmul.Begin(hb, inter, n);
            _matmul.Add(layer.Down, xb2, hidden, residual: x);
            _matmul.Plan();
            _rows.SwiGlu(hb, hb2, inter, n, _matmul);
            _matMulInputObserver?.OnMatMulInput(l, TensorRole.Down, _s.Hb.AsSpan(0, n * inter), n);
            _matmul.Run();
            _observer?.OnResidual(l + 1, pos0, _s.X.AsSpan(0, n * hidden));
        }
        _position += n;

        if (logits == null) return;
        // Generation only needs the last position: norm and head for one row.
        int headRows = allLogits ? n : 1;
        _matmul.Begin(xb, hidden, headRows);
        _matmul.Add(_w.Output, logits, VocabSize);
        _matmul.Plan();
        _rows.Norm(x, n - headRows, xb, _w.FinalNorm, hidden, headRows, _matmul);
        _matMulInputObserver?.OnMatMulInput(_w.Steps.Length, TensorRole.Output, _s.Xb.AsSpan(0, headRows * hidden), headRows);
        _matmul.Run();
    }

    /// <summary>Stops the worker pool; the IR (and the files it maps) stays the caller's to dispose.</summary>
    public void Dispose() => _pool.Dispose();
}

/// <summary>Sees the residual stream of a <see cref="Transformer"/> as it runs (a diagnostic hook).</summary>
public interface IResidualObserver
{
    /// <summary>
    /// Called after the embedding (<paramref name="stepsDone"/> = 0) and after each executed step l
    /// (<paramref name="stepsDone"/> = l + 1) with the residual stream of the batch being run:
    /// [n, hidden] for positions <paramref name="position0"/> .. position0 + n - 1. The span is the
    /// executor's buffer: read or copy it, never keep it.
    /// </summary>
    void OnResidual(int stepsDone, int position0, ReadOnlySpan<float> residual);
}
