using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.HuggingFace;

public enum HfConfigError
{
    /// <summary>config.json (or the checkpoint directory) does not exist.</summary>
    FileMissing,
    FileTooLarge,
    InvalidJson,
    NotObject,
    /// <summary>architectures names none of the supported families (the message lists them).</summary>
    UnknownArchitecture,
    /// <summary>model_type disagrees with the architecture's family.</summary>
    ModelTypeMismatch,
    MissingField,
    WrongType,
    /// <summary>A value outside its sane cap or domain (see HfConfigReader's named caps).</summary>
    OutOfRange,
    /// <summary>A feature that would silently change the math (biases, rope_scaling, an activation other than silu).</summary>
    Unsupported,
    /// <summary>A tensor in the checkpoint that no executed step uses (only rotary inv_freq buffers may be skipped).</summary>
    UnknownTensor,
    /// <summary>No lm_head.weight and no config flag claiming a tied head.</summary>
    MissingHead,
    /// <summary>MobiLlama FFN weights stored for some layers but not others: neither one shared FFN nor per-layer FFNs.</summary>
    SharedFfnMismatch,
    /// <summary>A LlamaForCausalLM config that looks like another family (MobileLLM keys, MobiLlama's MHA k/v): `--family` decides.</summary>
    AmbiguousFamily,
    /// <summary>None of model.safetensors, its index, pytorch_model.bin, or its index.</summary>
    NoWeights,
}

/// <summary>config.json (and tokenizer/weights consistency with it) is bad; names config.json, field and value.</summary>
public sealed class HfConfigException(HfConfigError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<HfConfigError>(kind, file, field, value, reason, inner)
{
    public override string Format => "config.json";
}

public enum HfIndexError
{
    FileTooLarge,
    InvalidJson,
    NotObject,
    MissingField,
    WrongType,
    /// <summary>A shard name with "..", a path separator, a drive or an absolute path.</summary>
    BadShardName,
    /// <summary>A shard that resolves (through a symlink) outside the checkpoint directory.</summary>
    ShardOutsideDirectory,
    ShardMissing,
    TooManyShards,
    EmptyWeightMap,
    /// <summary>weight_map sends a name to a shard that does not hold it.</summary>
    TensorNotInShard,
    /// <summary>A shard holds a tensor the weight_map does not list.</summary>
    TensorNotInMap,
    /// <summary>A tensor stored in two shards.</summary>
    TensorInTwoShards,
    DuplicateName,
}

/// <summary>model.safetensors.index.json is bad or disagrees with its shards.</summary>
public sealed class HfIndexException(HfIndexError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<HfIndexError>(kind, file, field, value, reason, inner)
{
    public override string Format => "safetensors index";
}

public enum HfCheckpointError
{
    /// <summary>A required file (e.g. a cache repo folder's refs/main) is absent.</summary>
    FileMissing,
    /// <summary>A file name that is not a plain relative name (rooted, "..", empty parts).</summary>
    BadName,
    /// <summary>A symlink whose final target lies outside the checkpoint (or its models--ORG--NAME cache root).</summary>
    OutsideRoot,
    /// <summary>A symlink whose target does not exist (an interrupted download leaves these).</summary>
    DanglingLink,
    /// <summary>A name that is a directory (or other non-file) where a file is expected.</summary>
    NotAFile,
    /// <summary>Symlinks chained or looping past the resolution cap.</summary>
    LinkLoop,
    /// <summary>refs/main holds something other than a commit hash or a plain revision name.</summary>
    BadRef,
    /// <summary>refs/main names a snapshot folder that is absent.</summary>
    SnapshotMissing,
}

/// <summary>The checkpoint folder's layout is bad: a symlink leading out, a dangling link, a hostile ref.</summary>
public sealed class HfCheckpointException(HfCheckpointError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<HfCheckpointError>(kind, file, field, value, reason, inner)
{
    public override string Format => "Hugging Face checkpoint";
}
