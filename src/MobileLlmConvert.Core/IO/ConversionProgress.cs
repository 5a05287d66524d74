namespace MobileLlmConvert.Core.IO;

/// <summary>Progress of a long job (a conversion writes tensors one by one): done/total in bytes or items.</summary>
public readonly record struct ConversionProgress(string Stage, long Done, long Total, string? Item = null);
