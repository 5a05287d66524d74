using Google.Protobuf;
using MobileLlmConvert.Core.Errors;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats;
using MobileLlmConvert.Formats.Onnx;
using Onnx;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>
/// Real folders written by our writer, edited with OnnxSharp into what a hostile or foreign file could
/// be: lying metadata, foreign graphs, edited nodes and constants. Each refusal is asserted through the
/// CLI (exit 2, one line naming file, field and value) and its exception kind.
/// </summary>
public sealed class HostileFolderTests
{
    private static string Written(TempDir dir, string fixture = "llama-gqa-hd16", string quant = "q4")
    {
        using var ir = WriterModels.Converted(fixture, quant);
        new OnnxFormat().Write(ir, dir["m"], FormatWriteOptions.Default);
        return dir["m"];
    }

    private static string Edit(string folder, Action<ModelProto> edit)
    {
        string file = Path.Combine(folder, OnnxWriter.ModelFile);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(file));
        edit(model);
        File.WriteAllBytes(file, model.ToByteArray());
        return file;
    }

    private static void SetMeta(ModelProto m, string key, string value) => m.MetadataProps.Single(p => p.Key == key).Value = value;

    private static void Fails<TException>(string folder, string expected) where TException : ModelFormatException
    {
        var e = Assert.Throws<TException>(() => ModelFormats.Read(folder).Dispose());
        Assert.Equal(expected, e.Message);
        CliAssert.RejectsWith(folder, expected);
    }

    [Fact]
    public void Steps_map_pointing_past_the_stored_blocks()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Edit(folder, m => SetMeta(m, OnnxMetadata.StepsKey, "[[0,0,0,0,0,0,0,0,0],[1,1,1,1,1,1,1,1,7]]"));
        Fails<OnnxException>(folder, $"{file}: mlconvert.steps[1] = 7: names a block past the 2 stored blocks");
    }

    [Fact]
    public void Steps_map_naming_another_stored_tensor_than_the_graph_uses()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        // Both steps claim block 0's down projection: the names are consistent, but block 1's down is then used by nothing.
        string file = Edit(folder, m => SetMeta(m, OnnxMetadata.StepsKey, "[[0,0,0,0,0,0,0,0,0],[1,1,1,1,1,1,1,1,0]]"));
        Fails<OnnxException>(folder, $"{file}: mlconvert.tensors.model.layers.1.mlp.down_proj.MatMul.weight = model.layers.1.mlp.down_proj.weight: recorded but used by no step, embedding, norm or head");
    }

    [Fact]
    public void Missing_metadata()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Edit(folder, m => m.MetadataProps.Remove(m.MetadataProps.Single(p => p.Key == OnnxMetadata.ConfigKey)));
        Fails<OnnxException>(folder, $"{file}: metadata_props.mlconvert.config = (absent): required to rebuild the model");
    }

    [Fact]
    public void Lying_tensor_type()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Edit(folder, m => SetMeta(m, OnnxMetadata.TensorTypesKey,
            m.MetadataProps.Single(p => p.Key == OnnxMetadata.TensorTypesKey).Value.Replace("\"model.layers.0.attn.q_proj.MatMul.weight\":\"q4_0\"", "\"model.layers.0.attn.q_proj.MatMul.weight\":\"q8_0\"")));
        Fails<OnnxException>(folder, $"{file}: mlconvert.tensor_types.model.layers.0.attn.q_proj.MatMul.weight = q8_0: mlconvert.tensors records q4_0");
    }

    [Fact]
    public void Unknown_op_in_the_graph()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string name = "";
        string file = Edit(folder, m =>
        {
            var node = m.Graph.Node[3];
            name = (node.Domain.Length == 0 ? "" : node.Domain + ".") + "EvilOp " + node.Name;
            node.OpType = "EvilOp";
        });
        var e = Assert.Throws<OnnxException>(() => ModelFormats.Read(folder).Dispose());
        Assert.Equal(OnnxError.NotOurGraph, e.Kind);
        Assert.StartsWith($"{file}: graph.node[3] = {name}: expected ", e.Message);
        Assert.EndsWith(" (not a graph mlconvert writes)", e.Message);
        CliAssert.RejectsWith(folder, e.Message);
    }

    [Fact]
    public void Edited_node_input()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Edit(folder, m => m.Graph.Node[5].Input[0] = m.Graph.Input[0].Name);
        var e = Assert.Throws<OnnxException>(() => ModelFormats.Read(folder).Dispose());
        Assert.Equal(OnnxError.NotOurGraph, e.Kind);
        Assert.Contains("graph.node[5]", e.Message);
        Assert.Contains(": inputs differ (not a graph mlconvert writes)", e.Message);
        CliAssert.RejectsWith(folder, e.Message);
    }

    [Fact]
    public void Foreign_producer()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Edit(folder, m => m.ProducerName = "pytorch");
        Fails<OnnxException>(folder, $"{file}: producer_name = pytorch: only models written by mlconvert are read");
    }

    [Fact]
    public void Edited_rotary_cache_constant()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Path.Combine(folder, OnnxWriter.ModelFile);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(file));
        var cache = model.Graph.Initializer.First(t => t.Name.StartsWith("const/", StringComparison.Ordinal) && t.DataLocation == TensorProto.Types.DataLocation.External);
        long offset = long.Parse(cache.ExternalData.Single(e => e.Key == "offset").Value);
        using (var data = new FileStream(Path.Combine(folder, OnnxWriter.DataFile), FileMode.Open))
        {
            data.Position = offset + 4;
            int b = data.ReadByte();
            data.Position = offset + 4;
            data.WriteByte((byte)(b ^ 0x40));
        }
        Fails<OnnxException>(folder, $"{file}: initializer {cache.Name} = its bytes: differ from the constant mlconvert writes for the recorded config");
    }

    [Fact]
    public void Initializer_the_graph_does_not_use()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Edit(folder, m =>
        {
            var extra = new TensorProto { Name = "const/extra", DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(new byte[8]) };
            extra.Dims.Add(1);
            m.Graph.Initializer.Add(extra);
        });
        Fails<OnnxException>(folder, $"{file}: initializer = const/extra: not used by the graph mlconvert writes for the recorded model");
    }

    [Fact]
    public void Duplicate_initializer_in_a_real_folder()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Edit(folder, m => m.Graph.Initializer.Add(m.Graph.Initializer.First(t => t.RawData.Length > 0).Clone()));
        var e = Assert.Throws<OnnxException>(() => ModelFormats.Read(folder).Dispose());
        Assert.Equal(OnnxError.DuplicateInitializer, e.Kind);
        CliAssert.RejectsWith(folder, e.Message);
    }

    [Fact]
    public void Lying_config_width()
    {
        using var dir = new TempDir();
        string folder = Written(dir);
        string file = Edit(folder, m => SetMeta(m, OnnxMetadata.ConfigKey, System.Text.RegularExpressions.Regex.Replace(
            m.MetadataProps.Single(p => p.Key == OnnxMetadata.ConfigKey).Value, "\"intermediate_size\":(\\d+)", "\"intermediate_size\":80")));
        var e = Assert.Throws<IrException>(() => ModelFormats.Read(folder).Dispose());
        Assert.StartsWith($"{file}: ", e.Message);
        CliAssert.RejectsWith(folder, e.Message);
    }
}
