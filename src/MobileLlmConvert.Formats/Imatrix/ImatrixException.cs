using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Imatrix;

/// <summary>One kind per rule the imatrix reader enforces (formats/imatrix.md).</summary>
public enum ImatrixError
{
    /// <summary>The file is larger than <see cref="ImatrixFile.MaxFileBytes"/>.</summary>
    TooLarge,
    /// <summary>A GGUF file whose general.type is not "imatrix".</summary>
    NotImatrix,
    /// <summary>A read ran past the end of the file.</summary>
    Truncated,
    /// <summary>An entry count of 0 or above the cap.</summary>
    BadEntryCount,
    /// <summary>A name that is empty, too long or not UTF-8.</summary>
    BadName,
    /// <summary>A call or row count that is negative, not finite or not an integer.</summary>
    BadCount,
    /// <summary>A value count of 0, above the cap, or not what the tensor's width needs.</summary>
    BadValueCount,
    /// <summary>A sum of squares that is negative or not finite.</summary>
    BadValue,
    /// <summary>A tensor that is not F32, or an in_sum2 without its counts (or the reverse), or several experts.</summary>
    BadTensor,
    /// <summary>A name the GGUF naming table does not know, or one that names no matrix of this model.</summary>
    UnknownTensor,
    /// <summary>The same name twice.</summary>
    DuplicateEntry,
    /// <summary>Bytes after the optional trailer of a legacy file.</summary>
    TrailingBytes,
}

/// <summary>A bad llama.cpp importance-matrix file. The message names file, field and value.</summary>
public sealed class ImatrixException(ImatrixError kind, string file, string field, string value, string reason)
    : ModelFormatException<ImatrixError>(kind, file, field, value, reason)
{
    /// <inheritdoc/>
    public override string Format => "imatrix";
}
