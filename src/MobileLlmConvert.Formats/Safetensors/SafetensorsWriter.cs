using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using MobileLlmConvert.Core.IO;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Safetensors;

/// <summary>
/// Writes safetensors files deterministically: tensors in the order given (the IR order), the header
/// compact JSON with <c>__metadata__</c> first, padded with spaces so the data buffer starts on an
/// 8-byte boundary as the reference writer does. Tensor bytes stream one tensor at a time.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>The metadata transformers' save_pretrained writes for PyTorch weights.</summary>
    public static readonly IReadOnlyDictionary<string, string> PyTorchMetadata = new Dictionary<string, string> { ["format"] = "pt" };

    private const int HeaderAlignment = 8;

    /// <summary>Writes the file atomically (temporary file, then rename).</summary>
    public static void Write(string path, IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        AtomicFile.Write(path, stream => Write(stream, tensors, metadata));

    /// <summary>Writes the tensors and metadata as one safetensors file to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        stream.Write(BuildHeader(tensors, metadata ?? PyTorchMetadata));
        // Computed sources (dtype conversions, synthetic weights) are filled on every core one chunk
        // ahead of this thread's writes (TensorPipeline), into two reused buffers.
        TensorPipeline.RunChunks(tensors.Select(t => t.Source).ToList(), (_, bytes, _) => stream.Write(bytes));
    }

    /// <summary>The 8-byte length prefix and the padded JSON header for these tensors.</summary>
    public static byte[] BuildHeader(IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var json = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (var t in tensors)
            {
                if (!names.Add(t.Name)) throw new ArgumentException($"tensor {t.Name} given twice");
                long end = checked(offset + t.ByteLength);
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", SafetensorsDTypes.NameOf(t.Type));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(end);
                w.WriteEndArray();
                w.WriteEndObject();
                offset = end;
            }
            w.WriteEndObject();
        }
        int n = json.WrittenCount;
        int padded = checked((n + HeaderAlignment - 1) / HeaderAlignment * HeaderAlignment);
        var header = new byte[checked(8 + padded)];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.WrittenSpan.CopyTo(header.AsSpan(8));
        header.AsSpan(8 + n).Fill((byte)' ');
        return header;
    }
}
