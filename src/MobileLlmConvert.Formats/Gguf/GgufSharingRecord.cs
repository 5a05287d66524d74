using MobileLlmConvert.Core.Ir;
using static MobileLlmConvert.Formats.Gguf.GgufMetadataAccess;

namespace MobileLlmConvert.Formats.Gguf;

/// <summary>
/// Our own mobilellmconvert.* keys: the family, HF architecture, stored layer count, tie claim and,
/// for every GGUF tensor, the IR key it was written from. Repeated IR keys are shared tensors.
/// </summary>
internal sealed record GgufSharingRecord(ModelFamily Family, string Architecture, int StoredLayers, string? TieClaimFlag,
    IReadOnlyDictionary<string, string> IrKeyOf)
{
    /// <summary>The record, or null when the file has none of our keys (e.g. made by llama.cpp's converter).</summary>
    public static GgufSharingRecord? Read(GgufMetadata m, int blockCount)
    {
        bool any = m.KeyValues.Any(kv => kv.Key.StartsWith(GgufKeys.OurPrefix, StringComparison.Ordinal));
        if (!any) return null;
        try
        {
            int version = m.RequireInt(GgufKeys.OurVersion, 0, int.MaxValue);
            if (version != GgufKeys.OurVersionValue)
                throw Bad(m, GgufKeys.OurVersion, Text(version), $"this reader knows version {GgufKeys.OurVersionValue}");
            string familyText = m.RequireString(GgufKeys.OurFamily);
            if (!Enum.TryParse<ModelFamily>(familyText, ignoreCase: false, out var family) || !Enum.IsDefined(family) || familyText != family.ToString())
                throw Bad(m, GgufKeys.OurFamily, familyText, $"families are {string.Join(", ", Enum.GetNames<ModelFamily>())}");
            string architecture = m.RequireString(GgufKeys.OurArchitecture);
            int stored = m.RequireInt(GgufKeys.OurStoredLayers, 1, blockCount);
            string? tieClaim = m.OptionalString(GgufKeys.OurTieClaimFlag);
            var names = m.OptionalArray<string>(GgufKeys.OurTensorNames, GgufValueType.String) ?? throw Missing(m, GgufKeys.OurTensorNames);
            var keys = m.OptionalArray<string>(GgufKeys.OurTensorKeys, GgufValueType.String) ?? throw Missing(m, GgufKeys.OurTensorKeys);
            if (names.Length != keys.Length)
                throw Bad(m, GgufKeys.OurTensorKeys, $"{keys.Length} keys", $"{GgufKeys.OurTensorNames} has {names.Length} names");
            if (names.Length != m.Tensors.Count)
                throw Bad(m, GgufKeys.OurTensorNames, $"{names.Length} names", $"the file has {m.Tensors.Count} tensors");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < names.Length; i++)
            {
                if (!m.TryGetTensor(names[i], out _))
                    throw Bad(m, $"{GgufKeys.OurTensorNames}[{i}]", names[i], "no tensor of that name");
                if (keys[i].Length == 0)
                    throw Bad(m, $"{GgufKeys.OurTensorKeys}[{i}]", "\"\"", "empty IR key");
                if (!map.TryAdd(names[i], keys[i]))
                    throw Bad(m, $"{GgufKeys.OurTensorNames}[{i}]", names[i], "tensor recorded twice");
            }
            return new GgufSharingRecord(family, architecture, stored, tieClaim, map);
        }
        catch (GgufException e) when (e.Kind is GgufError.MissingKey or GgufError.WrongKeyType or GgufError.BadKeyValue)
        {
            // Our keys are one record: any fault in them is a bad record, whatever the key-level cause.
            throw Bad(m, e.Field, e.Value, e.Reason);
        }
    }

    private static GgufException Bad(GgufMetadata m, string field, string value, string reason) =>
        new(GgufError.BadSharingRecord, m.Path, field, value, reason);
}
