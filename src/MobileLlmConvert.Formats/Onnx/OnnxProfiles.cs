using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Onnx;

/// <summary>The ONNX profiles by name (`--onnx-profile`, <see cref="FormatWriteOptions.OnnxProfile"/>, `mlconvert.profile`).</summary>
internal static class OnnxProfiles
{
    /// <summary>The profile used when none is asked for.</summary>
    public const string Default = GenAiProfile.ProfileName;

    /// <summary>Every profile, one line each.</summary>
    public static IReadOnlyList<IOnnxProfile> All { get; } =
    [
        new GenAiProfile(),
    ];

    /// <summary>The names, joined for messages.</summary>
    public static string Names => string.Join(", ", All.Select(p => p.Name));

    /// <summary>The profile called <paramref name="name"/>; an unknown name is a usage error listing the known ones.</summary>
    public static IOnnxProfile Get(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ModelUsageException($"--onnx-profile: unknown ONNX profile '{name}': expected one of {Names}");
}
