namespace MobileLlmConvert.Core.Ir;

/// <summary>
/// A stored tensor. <see cref="Shape"/> is outermost-first, as Hugging Face and numpy write it: a
/// linear layer is [out, in] and quantized blocks run along the last (input) dimension.
/// Immutable: passes make new tensors, they never edit one.
/// </summary>
public sealed record Tensor
{
    public string Name { get; }
    public long[] Shape { get; }
    public ElementType Type { get; }
    public TensorSource Source { get; }

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

    public long ElementCount => Shapes.ElementCount(Shape);
    public long ByteLength => Source.Length;
    public int Rows => Shape.Length == 1 ? 1 : checked((int)(ElementCount / Shape[^1]));
    public int Columns => checked((int)Shape[^1]);

    public Tensor WithName(string name) => new(name, Shape, Type, Source);

    public override string ToString() => $"{Name} {Type.Info().Name} {Shapes.Format(Shape)}";
}
