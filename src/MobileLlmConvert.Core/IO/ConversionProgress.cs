namespace MobileLlmConvert.Core.IO;

/// <summary>What <see cref="ConversionProgress.Done"/> and <see cref="ConversionProgress.Total"/> count.</summary>
public enum ProgressUnit
{
    /// <summary>Done and total are bytes.</summary>
    Bytes,
    /// <summary>Done and total are items (tensors, passes).</summary>
    Items,
}

/// <summary>
/// Progress of one stage of a long job (hash the inputs, run the passes, write the output):
/// done/total in bytes or items, and the item being worked on. A consumer derives rate and ETA
/// from successive reports of one stage.
/// </summary>
public readonly record struct ConversionProgress(string Stage, long Done, long Total, string? Item = null, ProgressUnit Unit = ProgressUnit.Bytes);
