using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>One kind per way config.json can be bad or disagree with the checkpoint.</summary>
public enum HfConfigError
{
    /// <summary>config.json (or the checkpoint directory) does not exist.</summary>
    FileMissing,
    /// <summary>config.json above <see cref="HfConfigJson.MaxConfigBytes"/>.</summary>
    FileTooLarge,
    /// <summary>Not UTF-8 JSON (or a duplicate key).</summary>
    InvalidJson,
    /// <summary>The top-level JSON value is not an object.</summary>
    NotObject,
    /// <summary>architectures names none of the supported families (the message lists them).</summary>
    UnknownArchitecture,
    /// <summary>model_type disagrees with the architecture's family.</summary>
    ModelTypeMismatch,
    /// <summary>A required field is absent.</summary>
    MissingField,
    /// <summary>A field has the wrong JSON type.</summary>
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
    /// <inheritdoc/>
    public override string Format => "config.json";
}

/// <summary>One kind per way a sharded checkpoint's index can be bad.</summary>
public enum HfIndexError
{
    /// <summary>The index file is above its size cap.</summary>
    FileTooLarge,
    /// <summary>Not UTF-8 JSON (or a duplicate key).</summary>
    InvalidJson,
    /// <summary>The top-level JSON value is not an object.</summary>
    NotObject,
    /// <summary>weight_map (or another required field) is absent.</summary>
    MissingField,
    /// <summary>A field has the wrong JSON type.</summary>
    WrongType,
    /// <summary>A shard name with "..", a path separator, a drive or an absolute path.</summary>
    BadShardName,
    /// <summary>A shard that resolves (through a symlink) outside the checkpoint directory.</summary>
    ShardOutsideDirectory,
    /// <summary>A shard the index names does not exist.</summary>
    ShardMissing,
    /// <summary>More distinct shards than the cap.</summary>
    TooManyShards,
    /// <summary>weight_map lists no tensor.</summary>
    EmptyWeightMap,
    /// <summary>weight_map sends a name to a shard that does not hold it.</summary>
    TensorNotInShard,
    /// <summary>A shard holds a tensor the weight_map does not list.</summary>
    TensorNotInMap,
    /// <summary>A tensor stored in two shards.</summary>
    TensorInTwoShards,
    /// <summary>A tensor name listed twice.</summary>
    DuplicateName,
}

/// <summary>model.safetensors.index.json is bad or disagrees with its shards.</summary>
public sealed class HfIndexException(HfIndexError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<HfIndexError>(kind, file, field, value, reason, inner)
{
    /// <inheritdoc/>
    public override string Format => "safetensors index";
}

/// <summary>One kind per way a checkpoint directory (plain or Hugging Face cache) can be unusable.</summary>
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
    /// <inheritdoc/>
    public override string Format => "Hugging Face checkpoint";
}
