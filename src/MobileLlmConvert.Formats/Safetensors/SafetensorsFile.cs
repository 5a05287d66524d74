using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Safetensors;

/// <summary>
/// A memory-mapped safetensors file whose header passed every rule of formats/safetensors.md.
/// Tensors are zero-copy <see cref="MappedSource"/> slices: nothing is read until a consumer asks.
/// </summary>
/// <remarks>Spec: formats/safetensors.md (after huggingface/safetensors' README and its MUST rules).</remarks>
internal sealed class SafetensorsFile : IDisposable
{
    /// <summary>The reference implementation's cap: a header larger than this is an attack, not a model.</summary>
    public const long MaxHeaderBytes = 100_000_000;
    /// <summary>No model tensor has more dimensions; a longer shape array is garbage or an attack.</summary>
    public const int MaxRank = 8;

    private readonly MappedFile _file;
    private readonly Dictionary<string, SafetensorsEntry> _byName;

    public string Path { get; }
    /// <summary>Entries in data order (ascending offsets).</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Absolute file offset of the data buffer (8 + header length).</summary>
    public long DataStart { get; }

    private SafetensorsFile(string path, MappedFile file, SafetensorsHeader header)
    {
        Path = path;
        _file = file;
        Entries = header.Entries;
        Metadata = header.Metadata;
        DataStart = header.DataStart;
        _byName = header.Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    public static SafetensorsFile Open(string path)
    {
        var file = new MappedFile(path);
        try
        {
            var header = SafetensorsHeaderParser.Parse((o, l) => file.Span(o, l), file.Length, path);
            return new SafetensorsFile(path, file, header);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public bool TryGetEntry(string name, out SafetensorsEntry entry) => _byName.TryGetValue(name, out entry!);

    /// <summary>The tensor as an IR tensor over the mapped bytes; its dtype must be F32, F16 or BF16.</summary>
    public Tensor GetTensor(string name) => GetTensor(name, name);

    /// <summary>As <see cref="GetTensor(string)"/>, naming the IR tensor <paramref name="irName"/>.</summary>
    public Tensor GetTensor(string name, string irName)
    {
        if (!_byName.TryGetValue(name, out var e))
            throw new SafetensorsException(SafetensorsError.NoSuchTensor, Path, name, "(absent)", "no tensor of this name in the file");
        var type = SafetensorsDTypes.Find(e.DType)!.ElementType
            ?? throw new SafetensorsException(SafetensorsError.UnsupportedDType, Path, $"{name}.dtype", e.DType, "only F32, F16 and BF16 tensors can be converted");
        if (e.ByteLength > Array.MaxLength)
            throw new SafetensorsException(SafetensorsError.TensorTooLarge, Path, name, $"{e.ByteLength} bytes", $"a single tensor may hold at most {Array.MaxLength} bytes");
        var source = _file.Slice(checked(DataStart + e.Begin), e.ByteLength);
        return new Tensor(irName, e.Shape, type, source);
    }

    /// <summary>The raw bytes of a tensor of any dtype (a view of the mapping).</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        if (!_byName.TryGetValue(name, out var e))
            throw new SafetensorsException(SafetensorsError.NoSuchTensor, Path, name, "(absent)", "no tensor of this name in the file");
        if (e.ByteLength > Array.MaxLength)
            throw new SafetensorsException(SafetensorsError.TensorTooLarge, Path, name, $"{e.ByteLength} bytes", $"a single tensor may hold at most {Array.MaxLength} bytes");
        return _file.Span(checked(DataStart + e.Begin), e.ByteLength);
    }

    public void Dispose() => _file.Dispose();
}
