using System.Globalization;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats;

/// <summary>Descriptions built from a model as read, for formats whose header is the model itself (a checkpoint folder, a bundle).</summary>
public static class FormatDescriptions
{
    /// <summary>The resolved config as key/value pairs: what every format stores in some form.</summary>
    public static FormatDescription FromIr(string format, string? version, ModelIr ir, IEnumerable<KeyValuePair<string, string>>? more = null)
    {
        var c = ir.Config;
        var metadata = new List<KeyValuePair<string, string>>
        {
            new("family", c.Family.ToString()),
            new("architecture", c.Architecture),
            new("hidden_size", Text(c.HiddenSize)),
            new("layers_stored", Text(c.StoredLayers)),
            new("layers_executed", Text(c.ExecutedLayers)),
            new("vocab_size", Text(c.VocabSize)),
            new("tied_embedding", ir.IsTied ? "true" : "false"),
        };
        if (more is not null) metadata.AddRange(more);
        return new FormatDescription(format, version, ir.Tensors.Count, metadata);
    }

    private static string Text(long v) => v.ToString(CultureInfo.InvariantCulture);
}
