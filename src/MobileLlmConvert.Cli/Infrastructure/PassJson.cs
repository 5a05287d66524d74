using System.Text.Json;
using MobileLlmConvert.Core.Passes;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>The pass reports and totals as JSON, shared by inspect, convert and hf2mobile.</summary>
internal static class PassJson
{
    public static void Write(Utf8JsonWriter w, SharingResult result, IEnumerable<PassReport>? more = null)
    {
        var t = result.Totals;
        w.WriteStartObject();
        w.WriteStartObject("totals");
        w.WriteNumber("tensors_before", t.StoredTensorsBefore);
        w.WriteNumber("tensors_after", t.StoredTensorsAfter);
        w.WriteNumber("tensors_merged", t.TensorsMerged);
        w.WriteNumber("parameters_before", t.StoredParametersBefore);
        w.WriteNumber("parameters_after", t.StoredParametersAfter);
        w.WriteNumber("bytes_before", t.StoredBytesBefore);
        w.WriteNumber("bytes_after", t.StoredBytesAfter);
        w.WriteNumber("kv_heads_before", t.KvHeadsBefore);
        w.WriteNumber("kv_heads_after", t.KvHeadsAfter);
        w.WriteEndObject();
        w.WriteStartArray("reports");
        foreach (var r in result.Reports.Concat(more ?? [])) WriteReport(w, r);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    public static void WriteReport(Utf8JsonWriter w, PassReport r)
    {
        w.WriteStartObject();
        w.WriteString("pass", r.Pass);
        w.WriteBoolean("changed", r.Changed);
        w.WriteStrings("notes", r.Notes);
        w.WriteStrings("warnings", r.Warnings);
        w.WriteNumber("parameters_before", r.StoredParametersBefore);
        w.WriteNumber("parameters_after", r.StoredParametersAfter);
        w.WriteNumber("bytes_before", r.StoredBytesBefore);
        w.WriteNumber("bytes_after", r.StoredBytesAfter);
        w.WriteEndObject();
    }
}
