namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// The one intermediate representation: a resolved config, a table of tensors stored once, and the
/// executed layer steps that refer to them by key. Immutable; passes return new instances that
/// share the same underlying resources (mapped files), released by <see cref="Dispose"/>.
/// </summary>
public sealed record ModelIr : IDisposable
{
    private readonly IReadOnlyList<Tensor> _tensors = [];
    // Replaced, never edited, by the Tensors init: `ir with { Tensors = ... }` copies this field, and
    // clearing a shared dictionary would corrupt the IR the copy was made from.
    private Dictionary<string, Tensor> _byName = new(StringComparer.Ordinal);

    /// <summary>The resolved configuration.</summary>
    public required ModelConfig Config { get; init; }

    /// <summary>Stored tensors in a stable order (the order writers emit them in).</summary>
    public required IReadOnlyList<Tensor> Tensors
    {
        get => _tensors;
        init
        {
            var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var t in value)
            {
                if (!byName.TryAdd(t.Name, t)) throw new ArgumentException($"duplicate tensor {t.Name} in IR");
            }
            _byName = byName;
            _tensors = value;
        }
    }

    /// <summary>Key of the token embedding [vocab, hidden].</summary>
    public required string Embedding { get; init; }
    /// <summary>Key of the final RMSNorm weight [hidden].</summary>
    public required string FinalNorm { get; init; }
    /// <summary>Key of the output head [vocab, hidden]; equal to <see cref="Embedding"/> when tied.</summary>
    public required string Output { get; init; }
    /// <summary>The executed layer steps in order; steps that share weights name the same tensor keys.</summary>
    public required IReadOnlyList<LayerStep> Steps { get; init; }
    /// <summary>The tokenizer, when the source carried one.</summary>
    public TokenizerIr? Tokenizer { get; init; }
    /// <summary>
    /// What the importer's family rules decided, one sentence each ("FFN shared by all 22 blocks",
    /// "the stored lm_head.weight is ignored"): shown by inspect and the conversion reports. Empty
    /// for formats that store the IR as is.
    /// </summary>
    public IReadOnlyList<string> ImportNotes { get; init; } = [];
    /// <summary>Where the IR came from (a path), for messages and manifests.</summary>
    public string? SourcePath { get; init; }
    /// <summary>
    /// Every file the importer read to build this IR (config, tokenizer, index, weight files), as
    /// opened; empty when the IR did not come from a checkpoint directory. A bundle's source hash
    /// covers exactly these (CheckpointHash), so unrelated files beside a checkpoint are never read.
    /// </summary>
    public IReadOnlyList<string> SourceFiles { get; init; } = [];
    /// <summary>Mapped files and other resources the tensor sources depend on; shared by derived IRs.</summary>
    public ResourceBag Resources { get; init; } = new();

    /// <summary>True when the output head is the embedding tensor itself (stored once).</summary>
    public bool IsTied => Embedding == Output;

    /// <summary>The stored tensor with this key; throws <see cref="KeyNotFoundException"/> when there is none.</summary>
    public Tensor this[string key] => _byName.TryGetValue(key, out var t) ? t : throw new KeyNotFoundException($"no tensor {key} in IR");
    /// <summary>Looks up a stored tensor by key.</summary>
    public bool TryGetTensor(string key, out Tensor tensor) => _byName.TryGetValue(key, out tensor!);

    /// <summary>Every tensor element stored, each stored tensor counted once.</summary>
    public long StoredParameters => _tensors.Sum(t => t.ElementCount);

    /// <summary>Every tensor element used per forward pass, counted at each use (a tied head counts twice).</summary>
    public long ExecutedParameters
    {
        get
        {
            long n = this[Embedding].ElementCount + this[FinalNorm].ElementCount + this[Output].ElementCount;
            foreach (var step in Steps)
            {
                foreach (var key in step.Keys) n += this[key].ElementCount;
            }
            return n;
        }
    }

    /// <summary>Bytes of all stored tensors, each counted once.</summary>
    public long StoredBytes => _tensors.Sum(t => t.ByteLength);

    /// <summary>Every key the model uses: embedding, each step's keys, final norm and head, in execution order.</summary>
    public IEnumerable<string> UsedKeys()
    {
        yield return Embedding;
        foreach (var step in Steps)
        {
            foreach (var key in step.Keys) yield return key;
        }
        yield return FinalNorm;
        yield return Output;
    }

    /// <summary>Releases the resources (mapped files) the tensors read from; derived IRs share them.</summary>
    public void Dispose() => Resources.Dispose();
}

/// <summary>
/// Resources (mapped files) that tensors of an IR and all IRs derived from it depend on. Released
/// when the owner disposes it (any IR sharing the bag: the first Dispose counts) and every
/// <see cref="Lease"/> is released: a conversion leases its source's bag, so its result stays readable
/// whichever of the two is disposed first.
/// </summary>
public sealed class ResourceBag : IDisposable
{
    private readonly List<IDisposable> _items = [];
    private bool _ownerReleased;
    private bool _disposed;
    private int _leases;

    /// <summary>Takes ownership of <paramref name="item"/>, disposed with the bag, and returns it.</summary>
    public T Add<T>(T item) where T : IDisposable
    {
        lock (_items)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _items.Add(item);
        }
        return item;
    }

    /// <summary>Keeps the resources alive until the returned handle is disposed too (each handle releases once).</summary>
    public IDisposable Lease()
    {
        lock (_items)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _leases++;
        }
        return new LeaseHandle(this);
    }

    /// <summary>Releases the owner's hold; the resources are disposed, in reverse order, once every lease is released too.</summary>
    public void Dispose()
    {
        lock (_items)
        {
            _ownerReleased = true;
            ReleaseIfUnused();
        }
    }

    private void EndLease()
    {
        lock (_items)
        {
            _leases--;
            ReleaseIfUnused();
        }
    }

    private void ReleaseIfUnused()
    {
        if (_disposed || !_ownerReleased || _leases > 0) return;
        _disposed = true;
        for (int i = _items.Count - 1; i >= 0; i--) _items[i].Dispose();
        _items.Clear();
    }

    private sealed class LeaseHandle(ResourceBag bag) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) bag.EndLease();
        }
    }
}
