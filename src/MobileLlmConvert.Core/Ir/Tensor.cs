namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// A stored tensor. <see cref="Shape"/> is outermost-first, as Hugging Face and numpy write it: a
/// linear layer is [out, in] and quantized blocks run along the last (input) dimension.
/// Immutable: passes make new tensors, they never edit one.
/// </summary>
public sealed record Tensor
{
    /// <summary>The tensor's key: its Hugging Face name.</summary>
    public string Name { get; }
    /// <summary>Dimensions, outermost first ([out, in] for a linear layer).</summary>
    public long[] Shape { get; }
    /// <summary>Element type (float or quantized block type).</summary>
    public ElementType Type { get; }
    /// <summary>Where the bytes come from; nothing is read until asked.</summary>
    public TensorSource Source { get; }

    /// <summary>A tensor whose source holds exactly the bytes the shape and type need (checked here).</summary>
    public Tensor(string name, long[] shape, ElementType type, TensorSource source)
    {
        long? expected = type.ByteSize(shape);
        if (expected is null)
            throw new ArgumentException($"tensor {name}: innermost dimension {shape[^1]} is not a multiple of {type.Info().Name} block size {type.Info().BlockValues}");
        if (expected != source.Length)
            throw new ArgumentException($"tensor {name}: {type.Info().Name} {Shapes.Format(shape)} needs {expected} bytes, source has {source.Length}");
        Name = name;
        Shape = shape;
        Type = type;
        Source = source;
    }

    /// <summary>Number of values.</summary>
    public long ElementCount => Shapes.ElementCount(Shape);
    /// <summary>Number of stored bytes.</summary>
    public long ByteLength => Source.Length;
    /// <summary>Rows of the tensor seen as a matrix (1 for a vector).</summary>
    public int Rows => Shape.Length == 1 ? 1 : checked((int)(ElementCount / Shape[^1]));
    /// <summary>Length of the innermost dimension.</summary>
    public int Columns => checked((int)Shape[^1]);

    /// <summary>The same tensor (same bytes) under another key.</summary>
    public Tensor WithName(string name) => new(name, Shape, Type, Source);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {Type.Info().Name} {Shapes.Format(Shape)}";
}
