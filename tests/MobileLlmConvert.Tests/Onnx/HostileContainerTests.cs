using Google.Protobuf;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Onnx;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MobileLlmConvert.Tests.Onnx;

/// <summary>
/// The container layer of the ONNX reader on hand-built folders: one test per refusal kind of
/// model.onnx and its external data, each with its exact message. The folder is a ModelProto made
/// with OnnxSharp plus a data file laid out as our writer lays it out (64-byte aligned, zero padding).
/// </summary>
public class HostileContainerTests
{
    /// <summary>A folder with three external initializers (f32 [4], f16 [2, 3], uint8 [5]) and one inline int64 [2].</summary>
    private sealed class Folder : IDisposable
    {
        public readonly TempDir Dir = new();
        public readonly ModelProto Model;
        public byte[] Data;

        public Folder()
        {
            Model = new ModelProto { IrVersion = 10, ProducerName = "mlconvert", Graph = new GraphProto { Name = "main_graph" } };
            var data = new MemoryStream();
            Add("w.f32", DataType.Float, [4], 16, data);
            Add("w.f16", DataType.Float16, [2, 3], 12, data);
            Add("w.u8", DataType.Uint8, [5], 5, data);
            var inline = new TensorProto { Name = "const/shape", DataType = (int)DataType.Int64, RawData = ByteString.CopyFrom(new byte[16]) };
            inline.Dims.Add(2);
            Model.Graph.Initializer.Add(inline);
            Data = data.ToArray();
        }

        private void Add(string name, DataType type, long[] dims, int bytes, MemoryStream data)
        {
            while (data.Length % 64 != 0) data.WriteByte(0);
            long offset = data.Length;
            for (int i = 0; i < bytes; i++) data.WriteByte((byte)(i + 1));
            var t = new TensorProto { Name = name, DataType = (int)type, DataLocation = TensorProto.Types.DataLocation.External };
            t.Dims.AddRange(dims);
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "model.onnx.data" });
            t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString() });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.ToString() });
            Model.Graph.Initializer.Add(t);
        }

        public TensorProto this[string name] => Model.Graph.Initializer.Single(t => t.Name == name);

        public static void Set(TensorProto t, string key, string value) => t.ExternalData.Single(e => e.Key == key).Value = value;

        public string Write()
        {
            File.WriteAllBytes(Dir.File("model.onnx"), Model.ToByteArray());
            File.WriteAllBytes(Dir.File("model.onnx.data"), Data);
            return Dir.Path;
        }

        public void Dispose() => Dir.Dispose();
    }

    private static OnnxException Fails(Folder f, OnnxError kind, string expectedAfterFile, string? file = null)
    {
        string dir = f.Write();
        using var bag = new ResourceBag();
        var e = Assert.Throws<OnnxException>(() => OnnxContainer.Open(dir, bag));
        Assert.Equal(kind, e.Kind);
        Assert.Equal($"{file ?? Path.Combine(dir, "model.onnx")}: {expectedAfterFile}", e.Message);
        // The same line through the CLI: the folder is detected as ONNX and refused before anything else is read.
        CliAssert.RejectsWith(dir, e.Message);
        return e;
    }

    [Fact]
    public void A_well_formed_folder_maps_its_initializers_in_place()
    {
        using var f = new Folder();
        string dir = f.Write();
        using var bag = new ResourceBag();
        var c = OnnxContainer.Open(dir, bag);
        Assert.Equal(["w.f32", "w.f16", "w.u8", "const/shape"], c.Initializers.Select(i => i.Name));
        Assert.Equal(Enumerable.Range(1, 12).Select(i => (byte)i), c.Initializers[1].Source.Read().ToArray());
        Assert.True(c.Initializers[0].Source.TryGetSpan(out _), "external bytes are a view of the mapped file, not a copy");
    }

    [Fact]
    public void Truncated_protobuf()
    {
        using var f = new Folder();
        string dir = f.Write();
        var bytes = File.ReadAllBytes(Path.Combine(dir, "model.onnx"));
        File.WriteAllBytes(Path.Combine(dir, "model.onnx"), bytes[..(bytes.Length - 7)]);
        using var bag = new ResourceBag();
        var e = Assert.Throws<OnnxException>(() => OnnxContainer.Open(dir, bag));
        Assert.Equal(OnnxError.Malformed, e.Kind);
        Assert.StartsWith($"{Path.Combine(dir, "model.onnx")}: ModelProto = {bytes.Length - 7} bytes: not a well-formed ONNX model: ", e.Message);
        // Models.Describe (header only) goes through the same container layer, and so does inspect: one line, exit 2.
        var d = Assert.Throws<OnnxException>(() => Models.Describe(dir));
        Assert.Equal(e.Message, d.Message);
        CliAssert.RejectsWith(dir, e.Message);
    }

    [Fact]
    public void Garbage_model_file_through_describe_and_inspect()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["m"]);
        string file = Path.Combine(dir["m"], "model.onnx");
        // Field 1 (ir_version) as a length-delimited record whose length runs past the end: wire-type garbage.
        File.WriteAllBytes(file, [0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
        foreach (string path in new[] { dir["m"], file })
        {
            var e = Assert.Throws<OnnxException>(() => Models.Describe(path));
            Assert.Equal(OnnxError.Malformed, e.Kind);
            Assert.StartsWith($"{file}: ModelProto = 7 bytes: not a well-formed ONNX model: ", e.Message);
            CliAssert.RejectsWith(path, e.Message);
        }
    }

    [Fact]
    public void Oversized_model_file_is_refused_before_it_is_read()
    {
        using var f = new Folder();
        string dir = f.Write();
        using (var s = new FileStream(Path.Combine(dir, "model.onnx"), FileMode.Open)) s.SetLength(OnnxContainer.MaxModelBytes + 1L); // sparse: no 64 MB written
        using var bag = new ResourceBag();
        var e = Assert.Throws<OnnxException>(() => OnnxContainer.Open(dir, bag));
        Assert.Equal(OnnxError.TooLarge, e.Kind);
        Assert.Equal($"{Path.Combine(dir, "model.onnx")}: size = 67108865 bytes: model.onnx holds the graph only (weights in external data); at most 67108864 bytes are read", e.Message);
    }

    [Fact]
    public void Dot_dot_location()
    {
        using var f = new Folder();
        Folder.Set(f["w.f16"], "location", "../model.onnx.data");
        Fails(f, OnnxError.BadLocation, "initializer w.f16.external_data.location = ../model.onnx.data: must be a plain file name in the model's folder (no directories, `..` or absolute paths)");
    }

    [Fact]
    public void Absolute_location()
    {
        using var f = new Folder();
        Folder.Set(f["w.f32"], "location", "/etc/passwd");
        Fails(f, OnnxError.BadLocation, "initializer w.f32.external_data.location = /etc/passwd: must be a plain file name in the model's folder (no directories, `..` or absolute paths)");
    }

    [Fact]
    public void Symlink_out_of_the_folder()
    {
        using var f = new Folder();
        using var outside = new TempDir();
        File.WriteAllBytes(outside.File("secret"), f.Data);
        foreach (var t in f.Model.Graph.Initializer.Where(t => t.ExternalData.Count > 0)) Folder.Set(t, "location", "link.data");
        string dir = f.Write();
        File.CreateSymbolicLink(Path.Combine(dir, "link.data"), outside.File("secret"));
        using var bag = new ResourceBag();
        var e = Assert.Throws<OnnxException>(() => OnnxContainer.Open(dir, bag));
        Assert.Equal(OnnxError.LocationOutsideFolder, e.Kind);
        Assert.Equal($"{Path.Combine(dir, "model.onnx")}: initializer w.f32.external_data.location = link.data: a symlink that leads out of the model's folder", e.Message);
    }

    [Fact]
    public void A_symlink_inside_the_folder_is_followed()
    {
        using var f = new Folder();
        foreach (var t in f.Model.Graph.Initializer.Where(t => t.ExternalData.Count > 0)) Folder.Set(t, "location", "link.data");
        string dir = f.Write();
        File.CreateSymbolicLink(Path.Combine(dir, "link.data"), "model.onnx.data");
        using var bag = new ResourceBag();
        Assert.Equal(4, OnnxContainer.Open(dir, bag).Initializers.Count);
    }

    [Fact]
    public void Offset_and_length_past_the_end()
    {
        using var f = new Folder();
        f.Data = f.Data[..100];
        Fails(f, OnnxError.OffsetOutOfRange, "initializer w.u8.external_data.offset = 128: 5 bytes from there run past the end of model.onnx.data (100 bytes)");
    }

    [Fact]
    public void Length_that_is_not_dims_times_type_size()
    {
        using var f = new Folder();
        Folder.Set(f["w.f16"], "length", "16");
        Fails(f, OnnxError.BadDataLength, "initializer w.f16.external_data.length = 16: dims [2, 3] of FLOAT16 need 12 bytes");
    }

    [Fact]
    public void Inline_bytes_that_are_not_dims_times_type_size()
    {
        using var f = new Folder();
        f["const/shape"].RawData = ByteString.CopyFrom(new byte[12]);
        Fails(f, OnnxError.BadDataLength, "initializer const/shape.raw_data = 12 bytes: dims [2] of INT64 need 16 bytes");
    }

    [Fact]
    public void Duplicate_initializer()
    {
        using var f = new Folder();
        f.Model.Graph.Initializer.Add(f["const/shape"].Clone());
        Fails(f, OnnxError.DuplicateInitializer, "initializer = const/shape: the name appears twice");
    }

    [Fact]
    public void Misaligned_offset()
    {
        using var f = new Folder();
        Folder.Set(f["w.f16"], "offset", "32");
        Fails(f, OnnxError.MisalignedOffset, "initializer w.f16.external_data.offset = 32: not a multiple of 64");
    }

    [Fact]
    public void Overlapping_data()
    {
        using var f = new Folder();
        Folder.Set(f["w.f16"], "offset", "0");
        Fails(f, OnnxError.OverlappingData, "initializer w.f16.external_data.offset = 0: overlaps the previous tensor in model.onnx.data, which ends at 16");
    }

    [Fact]
    public void Hole_between_tensors()
    {
        using var f = new Folder();
        Folder.Set(f["w.u8"], "offset", "192");
        f.Data = [.. f.Data, .. new byte[64]];
        Fails(f, OnnxError.UnclaimedBytes, "initializer w.u8.external_data.offset = 192: expected 128: tensors follow each other at the next 64-byte boundary");
    }

    [Fact]
    public void Trailing_bytes_after_the_last_tensor()
    {
        using var f = new Folder();
        f.Data = [.. f.Data, .. new byte[64]];
        Fails(f, OnnxError.UnclaimedBytes, "size = 197 bytes: the last tensor ends at 133: only padding to 192 may follow", file: f.Dir.File("model.onnx.data"));
    }

    [Fact]
    public void Nonzero_padding()
    {
        using var f = new Folder();
        f.Data[20] = 0xAA;
        Fails(f, OnnxError.UnclaimedBytes, "padding = bytes 16..64: alignment padding in model.onnx.data must be zeros", file: f.Dir.File("model.onnx.data"));
    }

    [Fact]
    public void Typed_value_fields()
    {
        using var f = new Folder();
        f["w.f32"].FloatData.Add(1f);
        Fails(f, OnnxError.TypedData, "initializer w.f32 = typed value fields: mlconvert writes raw little-endian bytes only (raw_data or external data)");
    }

    [Fact]
    public void A_data_type_we_never_write()
    {
        using var f = new Folder();
        f["w.f32"].DataType = (int)DataType.Double;
        Fails(f, OnnxError.BadDataType, "initializer w.f32.data_type = DOUBLE: mlconvert writes only FLOAT, FLOAT16, BFLOAT16, INT64, INT32, UINT8, INT8, UINT4, INT4");
    }

    [Fact]
    public void Element_count_that_overflows()
    {
        using var f = new Folder();
        f["w.f32"].Dims.Clear();
        f["w.f32"].Dims.AddRange([1L << 40, 1L << 40]);
        Fails(f, OnnxError.BadDims, "initializer w.f32.dims = [1099511627776, 1099511627776]: the element count overflows");
    }

    [Fact]
    public void Unknown_external_data_key()
    {
        using var f = new Folder();
        f["w.f32"].ExternalData.Add(new StringStringEntryProto { Key = "basepath", Value = "/" });
        Fails(f, OnnxError.BadExternalData, "initializer w.f32.external_data = basepath: unknown key (the spec defines location, offset, length, checksum)");
    }

    [Fact]
    public void Control_characters_in_names_are_escaped()
    {
        using var f = new Folder();
        var t = f["w.f32"];
        t.Name = "w\u001b[31m\nforged";
        t.DataType = (int)DataType.Double;
        var e = Fails(f, OnnxError.BadDataType, "initializer w\\x1b[31m\\nforged.data_type = DOUBLE: mlconvert writes only FLOAT, FLOAT16, BFLOAT16, INT64, INT32, UINT8, INT8, UINT4, INT4");
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Graph_attributes_are_refused()
    {
        using var f = new Folder();
        var node = new NodeProto { Name = "if", OpType = "If" };
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = new GraphProto() });
        f.Model.Graph.Node.Add(node);
        Fails(f, OnnxError.Unsupported, "if.then_branch = Graph: graph and tensor attributes are not written by mlconvert (weights are initializers)");
    }
}
