using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Formats.Safetensors;
using MobileLlmConvert.Formats.Torch;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>How a checkpoint's weights are stored (inspect shows it).</summary>
internal enum HfWeightContainer
{
    Safetensors,
    ShardedSafetensors,
    TorchZip,
    ShardedTorchZip,
}

/// <summary>
/// One weight file of a checkpoint, whatever its format: the names it stores, their tensors, their
/// stored dtype, and which names alias one storage (only torch files can alias; safetensors cannot).
/// </summary>
internal abstract class HfWeightFile : IDisposable
{
    public abstract string Path { get; }
    /// <summary>Stored names in file order.</summary>
    public abstract IReadOnlyList<string> Names { get; }
    public abstract Tensor GetTensor(string name);
    /// <summary>The dtype as the file spells it (safetensors "F16", torch "float16").</summary>
    public abstract string StoredDType(string name);
    /// <summary>The first name over the same bytes as <paramref name="name"/> (itself unless aliased).</summary>
    public virtual string CanonicalName(string name) => name;
    public virtual IReadOnlyList<TorchAlias> Aliases => [];
    public abstract void Dispose();

    public static HfWeightFile OpenSafetensors(string path) => new SafetensorsWeights(SafetensorsFile.Open(path));
    public static HfWeightFile OpenTorch(string path) => new TorchWeights(TorchFile.Open(path));

    private sealed class SafetensorsWeights(SafetensorsFile file) : HfWeightFile
    {
        public override string Path => file.Path;
        public override IReadOnlyList<string> Names { get; } = file.Entries.Select(e => e.Name).ToList();
        public override Tensor GetTensor(string name) => file.GetTensor(name);
        public override string StoredDType(string name) => file.TryGetEntry(name, out var e) ? e.DType : "(absent)";
        public override void Dispose() => file.Dispose();
    }

    private sealed class TorchWeights(TorchFile file) : HfWeightFile
    {
        public override string Path => file.Path;
        public override IReadOnlyList<string> Names { get; } = file.Entries.Select(e => e.Name).ToList();
        public override Tensor GetTensor(string name) => file.GetTensor(name);
        public override string StoredDType(string name) => file.StorageTypeOf(name).DType;
        public override string CanonicalName(string name) => file.CanonicalName(name);
        public override IReadOnlyList<TorchAlias> Aliases => file.Aliases;
        public override void Dispose() => file.Dispose();
    }
}
