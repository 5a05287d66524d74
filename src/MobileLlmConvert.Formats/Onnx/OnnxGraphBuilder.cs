using Google.Protobuf;
using MobileLlmConvert.Core.Ir;
using Onnx;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// One initializer of the graph: its header (name, type, dims) and how to produce its bytes. The
/// bytes are produced only when the writer streams them into model.onnx.data, so building a graph
/// never holds the model in memory.
/// </summary>
/// <param name="Name">The initializer's name (a graph value name).</param>
/// <param name="Type">ONNX element type (TensorProto.DataType).</param>
/// <param name="Dims">Dimensions, outermost first.</param>
/// <param name="ByteLength">Exact number of raw bytes <paramref name="Fill"/> writes.</param>
/// <param name="Fill">Writes the raw little-endian bytes (TensorProto raw_data layout) into a span of <paramref name="ByteLength"/> bytes.</param>
/// <param name="Inline">
/// True for the small int64 shapes and axes that ONNX shape inference must read at load time: ORT
/// refuses external data there ("Cannot parse data from external tensors"), so these few bytes are
/// raw_data inside model.onnx; every weight and cache table stays in model.onnx.data.
/// </param>
internal sealed record OnnxInitializer(string Name, TensorProto.Types.DataType Type, long[] Dims, long ByteLength, ComputedSource.SpanAction Fill, bool Inline = false);

/// <summary>
/// The initializers that encode one stored IR tensor: <see cref="Name"/> is the base name (the ONNX
/// column of <see cref="TensorNames"/>), <see cref="Initializers"/> the base initializer and any
/// companions (suffixes <see cref="OnnxWeight.ScalesSuffix"/>, <see cref="OnnxWeight.ZeroPointsSuffix"/>).
/// </summary>
/// <param name="Tensor">The IR tensor encoded.</param>
/// <param name="Name">Base initializer name.</param>
/// <param name="Initializers">Every initializer of the encoding, base first.</param>
internal sealed record OnnxWeight(Tensor Tensor, string Name, IReadOnlyList<OnnxInitializer> Initializers)
{
    /// <summary>Suffix of a quantized weight's scales initializer.</summary>
    public const string ScalesSuffix = ".scales";
    /// <summary>Suffix of a quantized weight's zero-points initializer.</summary>
    public const string ZeroPointsSuffix = ".zero_points";

    /// <summary>The initializer called <see cref="Name"/> + <paramref name="suffix"/>, or null.</summary>
    public string? Companion(string suffix) =>
        Initializers.FirstOrDefault(i => i.Name == Name + suffix)?.Name;
}

/// <summary>
/// Builds one ONNX graph: nodes in order with deterministic names, graph inputs and outputs, and
/// initializers memoized by IR tensor key so a tensor every step shares (an LS block, MobiLlama's
/// FFN, a tied head) is ONE initializer that every node names (ONNX IR spec: initializers are graph
/// values, https://github.com/onnx/onnx/blob/main/docs/IR.md#graphs). Profiles append nodes through
/// <c>Node</c>; the shared layer loop (<see cref="OnnxGraph"/>) decides what is built.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>The standard operator domain (ai.onnx).</summary>
    public const string StandardDomain = "";
    /// <summary>ONNX Runtime's contrib operator domain.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    private readonly List<NodeProto> _nodes = [];
    private readonly List<ValueInfoProto> _inputs = [];
    private readonly List<ValueInfoProto> _outputs = [];
    private readonly List<OnnxInitializer> _initializers = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OnnxWeight> _weights = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _weightNames;
    private readonly Dictionary<string, string> _shared = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _domains = new(StringComparer.Ordinal);
    private readonly Stack<string> _scopes = new();
    private int _counter;

    /// <param name="weightNames">IR tensor key to base initializer name (from <see cref="OnnxGraph.WeightNames"/>).</param>
    public OnnxGraphBuilder(IReadOnlyDictionary<string, string> weightNames)
    {
        _weightNames = new Dictionary<string, string>(weightNames, StringComparer.Ordinal);
    }

    /// <summary>Nodes in the order they were appended (a topological order: inputs always exist first).</summary>
    public IReadOnlyList<NodeProto> Nodes => _nodes;
    /// <summary>Graph inputs in declaration order.</summary>
    public IReadOnlyList<ValueInfoProto> Inputs => _inputs;
    /// <summary>Graph outputs in declaration order.</summary>
    public IReadOnlyList<ValueInfoProto> Outputs => _outputs;
    /// <summary>Initializers in creation order (the order the writer lays them out in model.onnx.data).</summary>
    public IReadOnlyList<OnnxInitializer> Initializers => _initializers;
    /// <summary>Weights by IR tensor key, each encoded once.</summary>
    public IReadOnlyDictionary<string, OnnxWeight> Weights => _weights;
    /// <summary>Operator domains the nodes use (for the model's opset_import).</summary>
    public IReadOnlyCollection<string> Domains => _domains;

    /// <summary>Names nodes appended until the returned handle is disposed "scope/Op_N" (e.g. "model.layers.3.attn").</summary>
    public IDisposable Scope(string scope)
    {
        _scopes.Push(_scopes.Count == 0 ? scope : _scopes.Peek() + "/" + scope);
        return new ScopeHandle(_scopes);
    }

    /// <summary>Declares a graph input; a string dimension is symbolic ("batch_size"), a long one fixed.</summary>
    public string Input(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        Claim(name);
        _inputs.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>
    /// Declares <paramref name="value"/> (a node output) as the graph output <paramref name="name"/>:
    /// the value is renamed in its producer and every consumer so far, so no Identity node is needed.
    /// The old name must not be used afterwards.
    /// </summary>
    public string Output(string name, string value, TensorProto.Types.DataType type, params object[] dims)
    {
        var producer = _nodes.LastOrDefault(n => n.Output.Contains(value))
            ?? throw new InvalidOperationException($"graph output {name}: {value} is not a node output");
        Claim(name);
        producer.Output[producer.Output.IndexOf(value)] = name;
        foreach (var node in _nodes)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == value) node.Input[i] = name;
            }
        }
        _outputs.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>
    /// Appends a node and returns its output names ("scope/Op_N/output_i"). An empty input string is an
    /// omitted optional input, as the ONNX IR spec allows.
    /// </summary>
    public string[] Node(string opType, string domain, IReadOnlyList<string> inputs, int outputs, params AttributeProto[] attributes) =>
        Node(opType, domain, inputs, Enumerable.Repeat(true, outputs).ToArray(), attributes);

    /// <summary>
    /// Appends a node whose optional outputs are asked for only where <paramref name="used"/> is true;
    /// an output not asked for is the empty name (ONNX IR spec: omitted optional output).
    /// </summary>
    public string[] Node(string opType, string domain, IReadOnlyList<string> inputs, IReadOnlyList<bool> used, params AttributeProto[] attributes)
    {
        int outputs = used.Count;
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        string name = (_scopes.Count == 0 ? "" : _scopes.Peek() + "/") + opType + "_" + _counter++.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var node = new NodeProto { Name = name, OpType = opType, Domain = domain };
        node.Input.AddRange(inputs);
        var names = new string[outputs];
        for (int i = 0; i < outputs; i++)
        {
            if (!used[i]) { names[i] = ""; continue; }
            names[i] = name + "/output_" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Claim(names[i]);
        }
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _domains.Add(domain);
        _nodes.Add(node);
        return names;
    }

    /// <summary>A standard-domain node with one output.</summary>
    public string Op(string opType, IReadOnlyList<string> inputs, params AttributeProto[] attributes) =>
        Node(opType, StandardDomain, inputs, 1, attributes)[0];

    /// <summary>
    /// The encoding of <paramref name="tensor"/>, made by <paramref name="encode"/>(tensor, base name) the
    /// first time the tensor's key is asked for and reused afterwards: one set of initializers per stored tensor.
    /// </summary>
    public OnnxWeight Weight(Tensor tensor, Func<Tensor, string, IReadOnlyList<OnnxInitializer>> encode)
    {
        if (_weights.TryGetValue(tensor.Name, out var known)) return known;
        if (!_weightNames.TryGetValue(tensor.Name, out var name)) throw new InvalidOperationException($"no ONNX name for IR tensor {tensor.Name}");
        var inits = encode(tensor, name);
        if (inits.Count == 0 || inits[0].Name != name) throw new InvalidOperationException($"encoding of {tensor.Name} must start with the initializer {name}");
        foreach (var init in inits) AddInitializer(init);
        var weight = new OnnxWeight(tensor, name, inits);
        _weights.Add(tensor.Name, weight);
        return weight;
    }

    /// <summary>A small constant initializer (axes, shapes, scalars, rotary caches), named "const/KEY" and made once per key.</summary>
    public string Constant(string key, TensorProto.Types.DataType type, long[] dims, byte[] bytes, bool inline = false) =>
        Shared("const/" + key, () =>
        {
            string name = "const/" + key;
            AddInitializer(new OnnxInitializer(name, type, dims, bytes.Length, d => bytes.CopyTo(d), inline));
            return name;
        });

    /// <summary>An int64 constant (a shape, axes, a scalar when <paramref name="dims"/> is empty), stored inline (<see cref="OnnxInitializer.Inline"/>).</summary>
    public string Int64s(string key, long[] dims, params long[] values)
    {
        var bytes = new byte[checked(values.Length * sizeof(long))];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        return Constant(key, TensorProto.Types.DataType.Int64, dims, bytes, inline: true);
    }

    /// <summary>A float constant.</summary>
    public string Floats(string key, long[] dims, params float[] values)
    {
        var bytes = new byte[checked(values.Length * sizeof(float))];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return Constant(key, TensorProto.Types.DataType.Float, dims, bytes);
    }

    /// <summary>
    /// A value computed once per graph and reused (the attention mask's sequence lengths, a rotary
    /// cache): <paramref name="make"/> runs the first time <paramref name="key"/> is asked for.
    /// </summary>
    public string Shared(string key, Func<string> make)
    {
        if (_shared.TryGetValue(key, out var value)) return value;
        value = make();
        _shared.Add(key, value);
        return value;
    }

    /// <summary>An int attribute.</summary>
    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
    /// <summary>A string attribute (UTF-8).</summary>
    public static AttributeProto String(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };
    /// <summary>An ints attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>A value-info record with a tensor type; dims are strings (symbolic) or longs (fixed).</summary>
    public static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                _ => throw new ArgumentException($"dimension {d} of {name} is neither a name nor a number"),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    private void AddInitializer(OnnxInitializer init)
    {
        Claim(init.Name);
        _initializers.Add(init);
    }

    private void Claim(string name)
    {
        if (!_names.Add(name)) throw new InvalidOperationException($"ONNX value name {name} used twice");
    }

    private sealed class ScopeHandle(Stack<string> scopes) : IDisposable
    {
        public void Dispose() => scopes.Pop();
    }
}
