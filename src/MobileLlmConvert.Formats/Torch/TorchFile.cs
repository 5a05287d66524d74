using System.Globalization;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Torch;

/// <summary>One state-dict entry: its name and the view of a storage it pickled to.</summary>
internal sealed record TorchEntry(string Name, TorchView View);

/// <summary>Names whose views are the same bytes of one storage (a tied head, MobiLlama-05B-Chat's FFN).</summary>
internal sealed record TorchAlias(string StorageKey, IReadOnlyList<string> Names);

/// <summary>
/// A torch.save (>= 1.6) checkpoint: a state dict of name -> tensor over memory-mapped storage
/// records. Contiguous views are zero-copy slices; a strided view is gathered when read. Names whose
/// views cover the same storage bytes are aliases: <see cref="CanonicalName"/> maps each to the first.
/// </summary>
/// <remarks>Spec: formats/torch.md (after pytorch's torch/serialization.py and torch/_weights_only_unpickler.py).</remarks>
internal sealed class TorchFile : IDisposable
{
    /// <summary>The pickle record; the root folder before it may have any name.</summary>
    public const string PickleRecord = "data.pkl";
    public const string StoragePrefix = "data/";
    /// <summary>caffe2/serialize/inline_container.h: kMinSupportedFileFormatVersion = 1, kMaxSupportedFileFormatVersion = 10.</summary>
    public const int MinVersion = 1, MaxVersion = 10;
    /// <summary>torch/serialization.py's _LEGACY_MAGIC_NUMBER 0x1950a86a20f9469cfc6c, pickled as PROTO 2, LONG1 10 bytes.</summary>
    private static readonly byte[] LegacyMagic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    private static readonly byte[] ZipMagic = [0x50, 0x4b, 0x03, 0x04];
    /// <summary>Metadata records newer torch writes beside data.pkl; their contents carry nothing we need.</summary>
    private static readonly HashSet<string> MetadataRecords = new(StringComparer.Ordinal) { "version", "byteorder", ".format_version", ".storage_alignment" };

    private readonly MappedFile _file;
    private readonly Dictionary<string, TorchEntry> _byName;
    private readonly Dictionary<string, TorchZipRecord> _records;
    private readonly Dictionary<string, string> _canonical;

    public string Path { get; }
    /// <summary>The archive's root folder name (torch uses the file's stem; any name is accepted).</summary>
    public string ArchiveName { get; }
    /// <summary>State-dict entries in pickle order.</summary>
    public IReadOnlyList<TorchEntry> Entries { get; }
    /// <summary>Groups of two or more names over the same storage bytes, in first-name order.</summary>
    public IReadOnlyList<TorchAlias> Aliases { get; }

    private TorchFile(string path, MappedFile file, string root, Dictionary<string, TorchZipRecord> records, List<TorchEntry> entries)
    {
        Path = path;
        _file = file;
        ArchiveName = root;
        _records = records;
        Entries = entries;
        _byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        _canonical = new Dictionary<string, string>(StringComparer.Ordinal);
        // Keyed by (storage, offset, size, stride): identical views are the same bytes under two names.
        var firstOfView = new Dictionary<string, string>(StringComparer.Ordinal);
        var groups = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var order = new List<TorchEntry>();
        foreach (var e in entries)
        {
            var v = e.View;
            string viewKey = $"{v.Storage.Key}|{v.Offset}|{string.Join(',', v.Size)}|{string.Join(',', v.Stride)}";
            if (!firstOfView.TryGetValue(viewKey, out var first))
            {
                firstOfView.Add(viewKey, e.Name);
                _canonical[e.Name] = e.Name;
                order.Add(e);
                continue;
            }
            _canonical[e.Name] = first;
            if (!groups.TryGetValue(first, out var g)) groups[first] = g = [first];
            g.Add(e.Name);
        }
        var aliases = new List<TorchAlias>();
        foreach (var f in order)
        {
            if (groups.TryGetValue(f.Name, out var g)) aliases.Add(new TorchAlias(f.View.Storage.Key, g));
        }
        Aliases = aliases;
    }

    public static TorchFile Open(string path)
    {
        var file = new MappedFile(path);
        try
        {
            CheckMagic(file, path);
            var (root, records) = TorchZip.Read(file, path);
            CheckMetadata(file, path, records);
            var entries = ReadStateDict(file, path, records);
            return new TorchFile(path, file, root, records, entries);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The first name in pickle order whose view is the same bytes as <paramref name="name"/>'s (itself when unaliased).</summary>
    public string CanonicalName(string name) => _canonical.TryGetValue(name, out var c) ? c
        : throw new TorchFormatException(TorchError.NoSuchTensor, Path, name, "(absent)", "no tensor of this name in the state dict");

    /// <summary>The tensor's storage type (for inspect and error messages).</summary>
    public TorchStorageType StorageTypeOf(string name) => Entry(name).View.Storage.Type;

    public Tensor GetTensor(string name) => GetTensor(name, name);

    /// <summary>The tensor as an IR tensor named <paramref name="irName"/>: a mapped slice when contiguous, a gather otherwise.</summary>
    public Tensor GetTensor(string name, string irName)
    {
        var e = Entry(name);
        var v = e.View;
        var type = v.Storage.Type;
        var elementType = type.ElementType
            ?? throw new TorchFormatException(TorchError.NoElementType, Path, name, $"torch.{type.Name} ({type.DType})", "no element type: only float32, float16 and bfloat16 tensors can be converted");
        long bytes = checked(v.ElementCount * type.ElementSize);
        if (bytes > Array.MaxLength)
            throw new TorchFormatException(TorchError.TensorTooLarge, Path, name, $"{bytes} bytes", $"a single tensor may hold at most {Array.MaxLength} bytes");
        var record = _records[StoragePrefix + v.Storage.Key];
        if (!v.IsContiguous && record.Length > Array.MaxLength)
            throw new TorchFormatException(TorchError.TensorTooLarge, Path, name, $"storage {v.Storage.Key} of {record.Length} bytes",
                $"a strided view is gathered from a span of its storage, which may hold at most {Array.MaxLength} bytes");
        TensorSource source = v.IsContiguous
            ? _file.Slice(checked(record.DataOffset + v.Offset * type.ElementSize), bytes)
            : new ComputedSource(bytes, dst => Gather(_file.Span(record.DataOffset, record.Length), v, type.ElementSize, dst));
        return new Tensor(irName, (long[])v.Size.Clone(), elementType, source);
    }

    private TorchEntry Entry(string name) => _byName.TryGetValue(name, out var e) ? e
        : throw new TorchFormatException(TorchError.NoSuchTensor, Path, name, "(absent)", "no tensor of this name in the state dict");

    /// <summary>Copies a strided view into row-major order, one element at a time (strided views are rare: a slice saved by hand).</summary>
    private static void Gather(ReadOnlySpan<byte> storage, TorchView v, int elementSize, Span<byte> dst)
    {
        int rank = v.Size.Length;
        var index = new long[rank];
        long count = v.ElementCount;
        for (long n = 0; n < count; n++)
        {
            long src = v.Offset;
            for (int d = 0; d < rank; d++) src += index[d] * v.Stride[d];
            storage.Slice((int)(src * elementSize), elementSize).CopyTo(dst.Slice((int)(n * elementSize), elementSize));
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++index[d] < v.Size[d]) break;
                index[d] = 0;
            }
        }
    }

    private static void CheckMagic(MappedFile file, string path)
    {
        var head = file.Span(0, Math.Min(file.Length, LegacyMagic.Length));
        if (head.StartsWith(ZipMagic)) return;
        if (head.SequenceEqual(LegacyMagic))
            throw new TorchFormatException(TorchError.LegacyFormat, path, "magic", "0x1950a86a20f9469cfc6c",
                "legacy (pre-1.6) torch.save format is not read; re-save it with torch >= 1.6 (torch.save(torch.load(f), f)) or convert it to safetensors");
        string shown = Convert.ToHexString(head[..Math.Min(head.Length, 4)]).ToLowerInvariant();
        throw new TorchFormatException(TorchError.NotZip, path, "magic", shown.Length == 0 ? "(empty)" : shown, "not a torch.save zip (expected PK\\x03\\x04)");
    }

    /// <summary>version (1..10, as caffe2's reader accepts), byteorder (little when present); nothing but torch's own record names.</summary>
    private static void CheckMetadata(MappedFile file, string path, Dictionary<string, TorchZipRecord> records)
    {
        foreach (var name in records.Keys.Order(StringComparer.Ordinal))
        {
            bool known = name == PickleRecord || MetadataRecords.Contains(name) || name.StartsWith(".data/", StringComparison.Ordinal)
                || (name.StartsWith(StoragePrefix, StringComparison.Ordinal) && name.Length > StoragePrefix.Length && name[StoragePrefix.Length..].All(char.IsAsciiLetterOrDigit));
            if (!known) throw new TorchFormatException(TorchError.UnknownRecord, path, "record", name, "not a record of a torch.save state dict (a TorchScript archive or something else)");
        }
        if (!records.TryGetValue("version", out var version))
            throw new TorchFormatException(TorchError.MissingRecord, path, "version", "(absent)", "torch.save always writes a version record");
        string text = SmallText(file, version, path, "version").TrimEnd('\n');
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < MinVersion || v > MaxVersion)
            throw new TorchFormatException(TorchError.BadVersion, path, "version", text, $"supported serialization versions are {MinVersion} to {MaxVersion}");
        if (records.TryGetValue("byteorder", out var order))
        {
            string bo = SmallText(file, order, path, "byteorder");
            if (bo != "little") throw new TorchFormatException(TorchError.BigEndian, path, "byteorder", bo, "only little-endian storages are read");
        }
    }

    private static string SmallText(MappedFile file, TorchZipRecord r, string path, string field)
    {
        if (r.Length > 64) throw new TorchFormatException(TorchError.RecordTooLarge, path, field, $"{r.Length} bytes", "a metadata record is a few bytes");
        return System.Text.Encoding.ASCII.GetString(file.Span(r.DataOffset, r.Length));
    }

    private static List<TorchEntry> ReadStateDict(MappedFile file, string path, Dictionary<string, TorchZipRecord> records)
    {
        if (!records.TryGetValue(PickleRecord, out var pkl))
            throw new TorchFormatException(TorchError.MissingRecord, path, PickleRecord, "(absent)", "the state dict pickle is missing");
        if (pkl.Length > PickleMachine.MaxPickleBytes)
            throw new TorchFormatException(TorchError.RecordTooLarge, path, PickleRecord, $"{pkl.Length} bytes", $"above the cap of {PickleMachine.MaxPickleBytes} bytes");
        var (root, storages) = PickleMachine.Run(file.Span(pkl.DataOffset, pkl.Length).ToArray(), path, PickleRecord);
        foreach (var s in storages.Values.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            if (!records.TryGetValue(StoragePrefix + s.Key, out var r))
                throw new TorchFormatException(TorchError.MissingRecord, path, StoragePrefix + s.Key, "(absent)", $"the pickle names storage {s.Key} but the archive has no record for it");
            if (r.Length != s.ByteLength)
                throw new TorchFormatException(TorchError.StorageSizeMismatch, path, StoragePrefix + s.Key, $"{r.Length} bytes",
                    $"torch.{s.Type.Name} of {s.Numel} elements needs {s.ByteLength} bytes");
        }
        if (root is not PyDict dict)
            throw new TorchFormatException(TorchError.NotAStateDict, path, PickleRecord, PickleMachine.Describe(root), "the pickled object must be a dict of name -> tensor");
        var entries = new List<TorchEntry>(dict.Items.Count);
        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name || value is not TorchView view)
                throw new TorchFormatException(TorchError.NotAStateDict, path, $"{PickleRecord}[{PickleMachine.Describe(key)}]", PickleMachine.Describe(value), "every entry must be a string name -> tensor");
            CheckBounds(view, path, name);
            entries.Add(new TorchEntry(name, view));
        }
        return entries;
    }

    /// <summary>The last element the view touches must lie inside its storage (checked: every number came from the pickle).</summary>
    private static void CheckBounds(TorchView v, string path, string name)
    {
        string shown = $"offset {v.Offset}, size ({string.Join(", ", v.Size)}), stride ({string.Join(", ", v.Stride)})";
        try
        {
            long elements = v.ElementCount;
            long last = v.Offset;
            if (elements > 0)
            {
                for (int d = 0; d < v.Size.Length; d++) last = checked(last + (v.Size[d] - 1) * v.Stride[d]);
            }
            bool inside = elements == 0 ? v.Offset <= v.Storage.Numel : last < v.Storage.Numel;
            if (!inside)
                throw new TorchFormatException(TorchError.ViewOutOfBounds, path, name, shown, $"reaches past storage {v.Storage.Key} of {v.Storage.Numel} elements");
        }
        catch (OverflowException ex)
        {
            throw new TorchFormatException(TorchError.ViewOutOfBounds, path, name, shown, "view extent overflows", ex);
        }
    }

    public void Dispose() => _file.Dispose();
}
