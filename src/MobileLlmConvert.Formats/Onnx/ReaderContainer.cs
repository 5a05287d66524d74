using System.Globalization;
using Google.Protobuf;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>One initializer as stored: header checked, bytes a lazy slice of the mapped data file (or of model.onnx's raw_data).</summary>
/// <param name="Name">The initializer's name.</param>
/// <param name="Type">Its ONNX element type.</param>
/// <param name="Dims">Dimensions, outermost first.</param>
/// <param name="Source">Exactly dims x the type's size bytes.</param>
internal sealed record OnnxStoredTensor(string Name, DataType Type, long[] Dims, TensorSource Source);

/// <summary>
/// The container layer of the ONNX reader: model.onnx parsed under a size cap and a recursion limit,
/// every initializer's header and bytes checked, external data confined to the model's folder and
/// memory-mapped rather than copied. What the graph means is the IR layer's business (OnnxReader).
/// </summary>
/// <remarks>
/// ModelProto, TensorProto and external data: https://github.com/onnx/onnx/blob/main/docs/IR.md and
/// docs/ExternalData.md. Locations are confined because ONNX and ONNX Runtime themselves once followed
/// `..`, absolute paths and symlinks out of the model's folder (CVE-2022-25882, CVE-2024-27318).
/// Every rule and its error kind: formats/onnx.md, "Reading".
/// </remarks>
internal sealed class OnnxContainer
{
    /// <summary>The graph file of a model folder.</summary>
    public const string ModelFileName = "model.onnx";
    /// <summary>model.onnx holds the graph only (weights live in the data file): a 64 MiB cap is ~100x the largest graph we write.</summary>
    public const int MaxModelBytes = 64 << 20;
    /// <summary>Nesting of our messages is 6 deep (model, graph, node, attribute, tensor, ...); a hostile file must not recurse the parser.</summary>
    public const int MaxRecursion = 16;
    /// <summary>Caps on counts; far above a 128-step model (about 20 nodes and 6 initializers a step).</summary>
    public const int MaxInitializers = 1 << 16, MaxNodes = 1 << 18, MaxMetadata = 256, MaxOpsets = 16, MaxDataFiles = 16;
    /// <summary>Longest name accepted (initializers, values, metadata keys).</summary>
    public const int MaxNameChars = 512;
    /// <summary>Most dimensions of an initializer.</summary>
    public const int MaxRank = 8;
    /// <summary>Every external tensor starts at a multiple of this in its data file (what our writer lays out, so ORT can map it).</summary>
    public const int DataAlignment = 64;
    /// <summary>IR versions accepted: external data needs 4+; 11 is the newest OnnxSharp knows.</summary>
    public const long MinIrVersion = 4, MaxIrVersion = 11;

    private static readonly string[] ExternalKeys = ["location", "offset", "length", "checksum"];

    /// <summary>The path the user named (a folder or a .onnx file).</summary>
    public required string Path { get; init; }
    /// <summary>The graph file read.</summary>
    public required string ModelFile { get; init; }
    /// <summary>The folder external data must lie in (the graph file's folder).</summary>
    public required string Folder { get; init; }
    /// <summary>The parsed message (its initializers' bytes are in <see cref="Initializers"/>).</summary>
    public required ModelProto Model { get; init; }
    /// <summary>Initializers in declaration order.</summary>
    public required IReadOnlyList<OnnxStoredTensor> Initializers { get; init; }
    /// <summary>metadata_props, keys unique.</summary>
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }

    /// <summary>The graph file of <paramref name="path"/>: model.onnx inside a folder, or the file itself.</summary>
    public static string ModelFileOf(string path) => Directory.Exists(path) ? System.IO.Path.Combine(path, ModelFileName) : path;

    /// <summary>Reads and checks the model at <paramref name="path"/>; mapped data files go to <paramref name="resources"/>.</summary>
    public static OnnxContainer Open(string path, ResourceBag resources)
    {
        string file = ModelFileOf(path);
        byte[] bytes;
        using (var s = InputFile.OpenRead(file))
        {
            if (s.Length > MaxModelBytes)
                throw new OnnxException(OnnxError.TooLarge, file, "size", Bytes(s.Length), $"model.onnx holds the graph only (weights in external data); at most {MaxModelBytes} bytes are read");
            bytes = new byte[s.Length];
            s.ReadExactly(bytes);
        }
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file))!;
        return Parse(bytes, path, file, folder, resources);
    }

    /// <summary>
    /// Parses model.onnx bytes held in memory (also the fuzzing entry point); external data is looked up in
    /// <paramref name="folder"/>, or refused when it is null.
    /// </summary>
    public static OnnxContainer Parse(byte[] bytes, string path, string file, string? folder, ResourceBag resources)
    {
        if (bytes.Length > MaxModelBytes)
            throw new OnnxException(OnnxError.TooLarge, file, "size", Bytes(bytes.Length), $"at most {MaxModelBytes} bytes are read");
        ModelProto model;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            model = ModelProto.Parser.ParseFrom(CodedInputStream.CreateWithLimits(stream, MaxModelBytes, MaxRecursion));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxException(OnnxError.Malformed, file, "ModelProto", Bytes(bytes.Length), "not a well-formed ONNX model: " + e.Message);
        }
        CheckModel(model, file);
        var metadata = ReadMetadata(model, file);
        var data = new DataFiles(file, folder, resources);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<OnnxStoredTensor>(model.Graph.Initializer.Count);
        foreach (var t in model.Graph.Initializer)
        {
            CheckName(file, "initializer", t.Name);
            if (!names.Add(t.Name))
                throw new OnnxException(OnnxError.DuplicateInitializer, file, "initializer", t.Name, "the name appears twice");
            list.Add(Initializer(t, file, data));
        }
        data.CheckTails();
        return new OnnxContainer { Path = path, ModelFile = file, Folder = folder ?? "", Model = model, Initializers = list, Metadata = metadata };
    }

    private static void CheckModel(ModelProto m, string file)
    {
        if (m.IrVersion < MinIrVersion || m.IrVersion > MaxIrVersion)
            throw new OnnxException(OnnxError.Unsupported, file, "ir_version", Num(m.IrVersion), $"supported versions are {MinIrVersion}..{MaxIrVersion}");
        if (m.Graph is null)
            throw new OnnxException(OnnxError.Unsupported, file, "graph", "(absent)", "a model needs a graph");
        if (m.Functions.Count > 0)
            throw new OnnxException(OnnxError.Unsupported, file, "functions", Num(m.Functions.Count), "model-local functions are not written by mlconvert");
        if (m.TrainingInfo.Count > 0)
            throw new OnnxException(OnnxError.Unsupported, file, "training_info", Num(m.TrainingInfo.Count), "training information is not written by mlconvert");
        if (m.OpsetImport.Count > MaxOpsets)
            throw new OnnxException(OnnxError.TooMany, file, "opset_import", Num(m.OpsetImport.Count), $"at most {MaxOpsets} operator sets");
        var g = m.Graph;
        if (g.SparseInitializer.Count > 0)
            throw new OnnxException(OnnxError.Unsupported, file, "graph.sparse_initializer", Num(g.SparseInitializer.Count), "sparse initializers are not written by mlconvert");
        if (g.Initializer.Count > MaxInitializers)
            throw new OnnxException(OnnxError.TooMany, file, "graph.initializer", Num(g.Initializer.Count), $"at most {MaxInitializers} initializers");
        if (g.Node.Count > MaxNodes)
            throw new OnnxException(OnnxError.TooMany, file, "graph.node", Num(g.Node.Count), $"at most {MaxNodes} nodes");
        foreach (var node in g.Node)
        {
            foreach (var a in node.Attribute)
            {
                if (a.G is not null || a.Graphs.Count > 0 || a.T is not null || a.Tensors.Count > 0 || a.SparseTensor is not null || a.SparseTensors.Count > 0)
                    throw new OnnxException(OnnxError.Unsupported, file, node.Name + "." + a.Name, a.Type.ToString(),
                        "graph and tensor attributes are not written by mlconvert (weights are initializers)");
            }
        }
    }

    private static Dictionary<string, string> ReadMetadata(ModelProto m, string file)
    {
        if (m.MetadataProps.Count > MaxMetadata)
            throw new OnnxException(OnnxError.TooMany, file, "metadata_props", Num(m.MetadataProps.Count), $"at most {MaxMetadata} entries");
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in m.MetadataProps)
        {
            CheckName(file, "metadata_props key", kv.Key);
            if (!d.TryAdd(kv.Key, kv.Value))
                throw new OnnxException(OnnxError.DuplicateMetadata, file, "metadata_props", kv.Key, "the key appears twice");
        }
        return d;
    }

    private static void CheckName(string file, string what, string name)
    {
        if (name.Length == 0)
            throw new OnnxException(OnnxError.BadName, file, what, "(empty)", "names must not be empty");
        if (name.Length > MaxNameChars)
            throw new OnnxException(OnnxError.BadName, file, what, name, $"longer than {MaxNameChars} characters");
    }

    private static OnnxStoredTensor Initializer(TensorProto t, string file, DataFiles data)
    {
        string field = "initializer " + t.Name;
        if (t.Dims.Count > MaxRank)
            throw new OnnxException(OnnxError.BadDims, file, field + ".dims", Num(t.Dims.Count) + " dims", $"at most {MaxRank}");
        long elements = 1;
        foreach (long d in t.Dims)
        {
            if (d < 0) throw new OnnxException(OnnxError.BadDims, file, field + ".dims", Shapes(t), "a dimension is negative");
            try { elements = checked(elements * d); }
            catch (OverflowException) { throw new OnnxException(OnnxError.BadDims, file, field + ".dims", Shapes(t), "the element count overflows"); }
        }
        var type = (DataType)t.DataType;
        if (OnnxTypes.Bits(type) is not int bits)
            throw new OnnxException(OnnxError.BadDataType, file, field + ".data_type", TypeName(t.DataType), $"mlconvert writes only {OnnxTypes.Names}");
        long length;
        try { length = checked(elements * bits + 7) / 8; }
        catch (OverflowException) { throw new OnnxException(OnnxError.BadDims, file, field + ".dims", Shapes(t), "the byte size overflows"); }
        // IR tensors are addressed with spans (Core TensorSource): one tensor is at most Array.MaxLength bytes.
        if (length > Array.MaxLength)
            throw new OnnxException(OnnxError.BadDims, file, field + ".dims", Shapes(t), $"{length} bytes: single tensors above {Array.MaxLength} bytes are not supported");
        if (t.FloatData.Count + t.Int32Data.Count + t.Int64Data.Count + t.DoubleData.Count + t.Uint64Data.Count + t.StringData.Count > 0)
            throw new OnnxException(OnnxError.TypedData, file, field, "typed value fields", "mlconvert writes raw little-endian bytes only (raw_data or external data)");
        if (t.Segment is not null)
            throw new OnnxException(OnnxError.Unsupported, file, field + ".segment", "present", "segmented tensors are not written by mlconvert");
        var dims = t.Dims.ToArray();
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            if (!t.RawData.IsEmpty)
                throw new OnnxException(OnnxError.TypedData, file, field + ".raw_data", Bytes(t.RawData.Length), "an external tensor must not carry raw_data too");
            return new OnnxStoredTensor(t.Name, type, dims, data.Slice(t, field, length));
        }
        if (t.ExternalData.Count > 0)
            throw new OnnxException(OnnxError.BadExternalData, file, field + ".data_location", "DEFAULT", "external_data entries need data_location EXTERNAL");
        if (t.RawData.Length != length)
            throw new OnnxException(OnnxError.BadDataLength, file, field + ".raw_data", Bytes(t.RawData.Length), $"dims {Shapes(t)} of {OnnxTypes.Name(type)} need {length} bytes");
        return new OnnxStoredTensor(t.Name, type, dims, new MemorySource(t.RawData.Memory));
    }

    /// <summary>
    /// The external data files of one model: each location checked once and mapped once; tensors in
    /// declaration order must follow each other at the next 64-byte boundary with zero padding, so a
    /// file holds no overlaps, holes or unclaimed trailing bytes.
    /// </summary>
    private sealed class DataFiles(string modelFile, string? folder, ResourceBag resources)
    {
        private readonly Dictionary<string, (MappedFile File, long End)> _files = new(StringComparer.Ordinal);

        public TensorSource Slice(TensorProto t, string field, long expected)
        {
            string? location = null;
            long? offset = null, length = null;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var kv in t.ExternalData)
            {
                if (!ExternalKeys.Contains(kv.Key))
                    throw new OnnxException(OnnxError.BadExternalData, modelFile, field + ".external_data", kv.Key, $"unknown key (the spec defines {string.Join(", ", ExternalKeys)})");
                if (!seen.Add(kv.Key))
                    throw new OnnxException(OnnxError.BadExternalData, modelFile, field + ".external_data", kv.Key, "the key appears twice");
                switch (kv.Key)
                {
                    case "location": location = kv.Value; break;
                    case "offset": offset = Decimal(field + ".external_data.offset", kv.Value); break;
                    case "length": length = Decimal(field + ".external_data.length", kv.Value); break;
                }
            }
            if (location is null)
                throw new OnnxException(OnnxError.BadExternalData, modelFile, field + ".external_data.location", "(absent)", "an external tensor needs a location");
            var (file, end) = Open(field, location);
            long at = offset ?? 0;
            if (length is long n && n != expected)
                throw new OnnxException(OnnxError.BadDataLength, modelFile, field + ".external_data.length", Num(n), $"dims {Shapes(t)} of {OnnxTypes.Name((DataType)t.DataType)} need {expected} bytes");
            if (at % DataAlignment != 0)
                throw new OnnxException(OnnxError.MisalignedOffset, modelFile, field + ".external_data.offset", Num(at), $"not a multiple of {DataAlignment}");
            if (at > file.Length || expected > file.Length - at)
                throw new OnnxException(OnnxError.OffsetOutOfRange, modelFile, field + ".external_data.offset", Num(at),
                    $"{expected} bytes from there run past the end of {location} ({file.Length} bytes)");
            long next = AlignUp(end);
            if (at < end)
                throw new OnnxException(OnnxError.OverlappingData, modelFile, field + ".external_data.offset", Num(at),
                    $"overlaps the previous tensor in {location}, which ends at {end}");
            if (at != next)
                throw new OnnxException(OnnxError.UnclaimedBytes, modelFile, field + ".external_data.offset", Num(at),
                    $"expected {next}: tensors follow each other at the next {DataAlignment}-byte boundary");
            RequireZero(file, end, at, location);
            _files[location] = (file, at + expected);
            return file.Slice(at, expected);
        }

        /// <summary>After the last tensor of each file only its alignment padding (zeros) may follow.</summary>
        public void CheckTails()
        {
            foreach (var (location, (file, end)) in _files)
            {
                if (file.Length > AlignUp(end))
                    throw new OnnxException(OnnxError.UnclaimedBytes, file.Path, "size", Bytes(file.Length),
                        $"the last tensor ends at {end}: only padding to {AlignUp(end)} may follow");
                RequireZero(file, end, file.Length, location);
            }
        }

        private void RequireZero(MappedFile file, long from, long to, string location)
        {
            if (to > from && file.Span(from, to - from).ContainsAnyExcept((byte)0))
                throw new OnnxException(OnnxError.UnclaimedBytes, file.Path, "padding", $"bytes {from}..{to}", $"alignment padding in {location} must be zeros");
        }

        private (MappedFile File, long End) Open(string field, string location)
        {
            if (_files.TryGetValue(location, out var known)) return known;
            string f = field + ".external_data.location";
            if (location.Length == 0 || location is "." or ".." || location.Contains('/') || location.Contains('\\') || location.Contains('\0')
                || System.IO.Path.IsPathRooted(location) || location.Any(char.IsControl))
                throw new OnnxException(OnnxError.BadLocation, modelFile, f, location, "must be a plain file name in the model's folder (no directories, `..` or absolute paths)");
            if (folder is null)
                throw new OnnxException(OnnxError.BadLocation, modelFile, f, location, "external data needs the model's folder");
            if (_files.Count == MaxDataFiles)
                throw new OnnxException(OnnxError.TooMany, modelFile, f, location, $"at most {MaxDataFiles} data files");
            string full = System.IO.Path.Combine(folder, location);
            var kind = PosixFile.Kind(full, followLinks: false);
            if (kind == FileKind.Missing)
                throw new OnnxException(OnnxError.BadLocation, modelFile, f, location, "no such file in the model's folder");
            if (kind == FileKind.Symlink && !PosixFile.IsSameOrBelow(PosixFile.RealPath(full), PosixFile.RealPath(folder)))
                throw new OnnxException(OnnxError.LocationOutsideFolder, modelFile, f, location, "a symlink that leads out of the model's folder");
            if (PosixFile.Kind(full) != FileKind.Regular)
                throw new OnnxException(OnnxError.LocationOutsideFolder, modelFile, f, location, "not a regular file");
            var file = resources.Add(new MappedFile(full));
            _files.Add(location, (file, 0));
            return (file, 0);
        }

        private long Decimal(string field, string text)
        {
            // A plain decimal as the spec's examples and onnx.external_data_helper write it: no sign, spaces or exponent.
            if (text.Length is 0 or > 18 || !text.All(char.IsAsciiDigit))
                throw new OnnxException(OnnxError.BadExternalData, modelFile, field, text, "must be a non-negative decimal integer");
            return long.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        }
    }

    private static long AlignUp(long x) => checked((x + DataAlignment - 1) / DataAlignment * DataAlignment);
    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);
    private static string Bytes(long n) => Num(n) + " bytes";
    private static string Shapes(TensorProto t) => "[" + string.Join(", ", t.Dims.Select(Num)) + "]";
    private static string TypeName(int type) => Enum.IsDefined((DataType)type) ? ((DataType)type).ToString().ToUpperInvariant() : Num(type);
}
