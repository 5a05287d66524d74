namespace MobileLlmConvert.Formats.Torch;

/// <summary>A GLOBAL that passed the allowlist: a name, never an imported object.</summary>
internal sealed record PyGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>A dict (EMPTY_DICT or collections.OrderedDict()), in insertion order. Keys are strings or ints only.</summary>
internal sealed class PyDict
{
    private readonly Dictionary<object, int> _index = [];
    public List<KeyValuePair<object, object?>> Items { get; } = [];

    /// <summary>Built by collections.OrderedDict() (not EMPTY_DICT): the only object that takes BUILD state.</summary>
    public bool Ordered { get; init; }

    /// <summary>False when the key is already present (a state dict never repeats a name).</summary>
    public bool TryAdd(object key, object? value)
    {
        if (!_index.TryAdd(key, Items.Count)) return false;
        Items.Add(new(key, value));
        return true;
    }
}

internal sealed class PyList
{
    public List<object?> Items { get; } = [];
}

/// <summary>The MARK opcode's stack entry.</summary>
internal sealed class PyMark
{
    public static readonly PyMark Instance = new();
    private PyMark() { }
}

/// <summary>A persistent id <c>('storage', torch.XStorage, key, location, numel)</c>: one storage record.</summary>
internal sealed record TorchStorage(TorchStorageType Type, string Key, string Location, long Numel)
{
    public long ByteLength => checked(Numel * Type.ElementSize);
}

/// <summary>The result of <c>_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)</c>: a view of a storage, in elements.</summary>
internal sealed record TorchView(TorchStorage Storage, long Offset, long[] Size, long[] Stride)
{
    /// <summary>Row-major strides for the size (torch's contiguous layout); dims of size 1 may have any stride.</summary>
    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (int i = Size.Length - 1; i >= 0; i--)
            {
                if (Size[i] != 1 && Stride[i] != expected) return false;
                expected = checked(expected * Size[i]);
            }
            return true;
        }
    }

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Size) n = checked(n * d);
            return n;
        }
    }
}
