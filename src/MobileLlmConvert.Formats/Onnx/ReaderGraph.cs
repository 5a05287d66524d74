using System.Buffers;
using System.Globalization;
using MobileLlmConvert.Core.Ir;
using Onnx;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>
/// "Only graphs of the shape we write": the expected graph is rebuilt from the recorded IR with the same
/// builder and profile the writer used (<see cref="OnnxGraph.Build"/>), and the file must match it node
/// for node (op, domain, name, inputs, outputs, attributes), input for input, output for output and
/// initializer for initializer (name, type, dims; constants byte for byte). The first difference is
/// reported, so a foreign or edited graph is one line naming the node.
/// </summary>
internal static class ReaderGraph
{
    public static void Check(OnnxContainer c, OnnxGraphBuilder expected)
    {
        string file = c.ModelFile;
        var m = c.Model;
        if (m.IrVersion != OnnxWriter.IrVersion)
            throw NotOurs(file, "ir_version", Num(m.IrVersion), $"mlconvert writes {OnnxWriter.IrVersion}");
        var opsets = expected.Domains.Select(d => (d, OnnxWriter.OpsetOf(d))).ToList();
        if (m.OpsetImport.Count != opsets.Count || !m.OpsetImport.Zip(opsets).All(p => p.First.Domain == p.Second.d && p.First.Version == p.Second.Item2))
            throw NotOurs(file, "opset_import", string.Join(", ", m.OpsetImport.Select(o => $"{(o.Domain.Length == 0 ? "ai.onnx" : o.Domain)}:{o.Version}")),
                "expected " + string.Join(", ", opsets.Select(o => $"{(o.d.Length == 0 ? "ai.onnx" : o.d)}:{o.Item2}")));
        var g = m.Graph;
        Values(file, "graph.input", g.Input, expected.Inputs);
        Values(file, "graph.output", g.Output, expected.Outputs);
        for (int i = 0; i < Math.Max(g.Node.Count, expected.Nodes.Count); i++)
        {
            var actual = i < g.Node.Count ? g.Node[i] : null;
            var want = i < expected.Nodes.Count ? expected.Nodes[i] : null;
            if (actual is not null && want is not null && actual.Equals(want)) continue;
            throw NotOurs(file, $"graph.node[{i}]", actual is null ? "(absent)" : $"{Op(actual)} {actual.Name}",
                want is null ? "no node expected here (not a graph mlconvert writes)" : $"expected {Op(want)} {want.Name}{Detail(actual, want)} (not a graph mlconvert writes)");
        }
        Initializers(c, expected);
    }

    private static void Values(string file, string field, IList<ValueInfoProto> actual, IReadOnlyList<ValueInfoProto> expected)
    {
        for (int i = 0; i < Math.Max(actual.Count, expected.Count); i++)
        {
            var a = i < actual.Count ? actual[i] : null;
            var e = i < expected.Count ? expected[i] : null;
            if (a is not null && e is not null && a.Equals(e)) continue;
            throw NotOurs(file, $"{field}[{i}]", a?.Name ?? "(absent)", e is null ? "not expected (not a graph mlconvert writes)" : $"expected {e.Name} with its type and shape (not a graph mlconvert writes)");
        }
    }

    /// <summary>Same initializers in the same order with the same headers; constants (rotary caches, axes) with the same bytes. Weights are decoded later.</summary>
    private static void Initializers(OnnxContainer c, OnnxGraphBuilder expected)
    {
        string file = c.ModelFile;
        var weights = expected.Weights.Values.SelectMany(w => w.Initializers).Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var byName = c.Initializers.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var wanted = expected.Initializers.ToDictionary(i => i.Name, StringComparer.Ordinal);
        foreach (var s in c.Initializers)
        {
            if (!wanted.ContainsKey(s.Name))
                throw new OnnxException(OnnxError.UnexpectedInitializer, file, "initializer", s.Name, "not used by the graph mlconvert writes for the recorded model");
        }
        foreach (var e in expected.Initializers)
        {
            if (!byName.TryGetValue(e.Name, out var s))
                throw new OnnxException(OnnxError.MissingInitializer, file, "initializer", e.Name, "required by the recorded model");
            if (s.Type != e.Type || !s.Dims.AsSpan().SequenceEqual(e.Dims))
                throw new OnnxException(OnnxError.InitializerMismatch, file, "initializer " + e.Name, $"{OnnxTypes.Name(s.Type)} {Dims(s.Dims)}",
                    $"the recorded model stores it as {OnnxTypes.Name(e.Type)} {Dims(e.Dims)}");
            if (weights.Contains(e.Name)) continue;
            if (s.Source.Length != e.ByteLength) // equal headers give equal lengths; kept as a guard before the buffer below
                throw new OnnxException(OnnxError.InitializerMismatch, file, "initializer " + e.Name, $"{s.Source.Length} bytes", $"expected {e.ByteLength}");
            var buffer = ArrayPool<byte>.Shared.Rent(checked((int)e.ByteLength));
            try
            {
                var want = buffer.AsSpan(0, (int)e.ByteLength);
                want.Clear();
                e.Fill(want);
                if (!s.Source.Read().SequenceEqual(want))
                    throw new OnnxException(OnnxError.InitializerMismatch, file, "initializer " + e.Name, "its bytes", "differ from the constant mlconvert writes for the recorded config");
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static string Detail(NodeProto? actual, NodeProto want)
    {
        if (actual is null) return "";
        if (actual.OpType != want.OpType || actual.Domain != want.Domain || actual.Name != want.Name) return "";
        if (!actual.Input.SequenceEqual(want.Input)) return ": inputs differ";
        if (!actual.Output.SequenceEqual(want.Output)) return ": outputs differ";
        return ": attributes differ";
    }

    private static string Op(NodeProto n) => (n.Domain.Length == 0 ? "" : n.Domain + ".") + n.OpType;
    private static string Dims(long[] d) => "[" + string.Join(", ", d.Select(Num)) + "]";
    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);
    private static OnnxException NotOurs(string file, string field, string value, string reason) => new(OnnxError.NotOurGraph, file, field, value, reason);
}
