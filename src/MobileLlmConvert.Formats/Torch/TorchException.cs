using MobileLlmConvert.Core.Errors;

namespace MobileLlmConvert.Formats.Torch;

/// <summary>One kind per refusal of formats/torch.md: the zip container, the pickle, the storages.</summary>
public enum TorchError
{
    // --- the zip container (PKWARE APPNOTE 6.3.x) ---
    /// <summary>Not a zip at all (no local header signature at offset 0).</summary>
    NotZip,
    /// <summary>The pre-1.6 torch.save format (a bare pickle stream starting with the legacy magic number).</summary>
    LegacyFormat,
    /// <summary>No end-of-central-directory record in the last 64 KiB + 22 bytes.</summary>
    NoEndOfCentralDirectory,
    /// <summary>A ZIP64 record that is malformed or disagrees with the plain end record.</summary>
    BadZip64,
    /// <summary>A multi-disk (split) archive.</summary>
    MultiDisk,
    /// <summary>The central directory is truncated, past its bounds, or its entry count is wrong.</summary>
    BadCentralDirectory,
    /// <summary>A local file header is missing, truncated, or its data runs past the central directory.</summary>
    BadLocalHeader,
    /// <summary>A local header disagrees with its central-directory entry (name, flags, method or sizes).</summary>
    HeaderMismatch,
    /// <summary>Flag bits other than "sizes in a data descriptor" (3) and "UTF-8 name" (11), e.g. encryption.</summary>
    BadFlags,
    /// <summary>A record that is not STORED (torch.save never compresses; compressed bytes cannot be mapped).</summary>
    Compressed,
    /// <summary>A record name with "..", a leading "/", a backslash, an empty segment, or outside the one root folder.</summary>
    BadRecordName,
    /// <summary>Two records with the same name.</summary>
    DuplicateRecord,
    /// <summary>Two records whose bytes overlap.</summary>
    RecordOverlap,
    /// <summary>More records than the cap.</summary>
    TooManyRecords,
    /// <summary>data.pkl, version, or a storage record the pickle names is absent.</summary>
    MissingRecord,
    /// <summary>A record a state dict never has (e.g. a TorchScript archive's code/).</summary>
    UnknownRecord,
    /// <summary>The version record is not a supported serialization version.</summary>
    BadVersion,
    /// <summary>byteorder is not "little".</summary>
    BigEndian,
    /// <summary>A record (data.pkl) above its size cap.</summary>
    RecordTooLarge,

    // --- the pickle (Python's pickletools.py, PEP 307) ---
    /// <summary>A pickle protocol other than the ones torch.save writes.</summary>
    BadProtocol,
    /// <summary>An opcode this restricted unpickler does not execute.</summary>
    UnknownOpcode,
    /// <summary>The pickle ends before STOP, or an opcode's argument runs past the end.</summary>
    Truncated,
    /// <summary>Bytes after STOP.</summary>
    TrailingBytes,
    /// <summary>An opcode needs more values than the stack holds.</summary>
    StackUnderflow,
    /// <summary>An opcode that needs a MARK found none (or found a mark where a value was needed).</summary>
    MarkMissing,
    /// <summary>BINGET of a memo slot never written, or a memo index above the cap.</summary>
    MemoMissing,
    /// <summary>A count, length, stack or memo size above its named cap.</summary>
    TooLarge,
    /// <summary>Containers nested deeper than <see cref="PickleMachine.MaxNesting"/>.</summary>
    NestingTooDeep,
    /// <summary>GLOBAL / STACK_GLOBAL naming anything outside the allowlist (os.system, builtins.eval, ...).</summary>
    DisallowedGlobal,
    /// <summary>REDUCE, BUILD or NEWOBJ on something that is not an allowed callable with allowed arguments.</summary>
    DisallowedCall,
    /// <summary>SETITEM(S) on something that is not a dict.</summary>
    SetItemOnNonDict,
    /// <summary>APPEND(S) on something that is not a list.</summary>
    AppendOnNonList,
    /// <summary>A persistent id that is not ('storage', storage type, key, location, numel).</summary>
    BadPersistentId,
    /// <summary>Arguments of _rebuild_tensor_v2 (offset, size, stride, ...) of the wrong type or range.</summary>
    BadTensorArgs,
    /// <summary>The pickled object is not a dict of name -> tensor.</summary>
    NotAStateDict,
    /// <summary>A tensor name appears twice in the state dict.</summary>
    DuplicateName,

    // --- storages and views ---
    /// <summary>A storage record whose length is not numel x element size.</summary>
    StorageSizeMismatch,
    /// <summary>One storage key used with two storage types or two element counts.</summary>
    StorageConflict,
    /// <summary>A view (offset, size, stride) that reaches past its storage.</summary>
    ViewOutOfBounds,
    /// <summary>A storage type with no IR element type (Double, Long, Int, Byte, Bool, ...), reported when the tensor is needed.</summary>
    NoElementType,
    /// <summary>A single tensor above Array.MaxLength bytes: IR tensors are addressed with spans.</summary>
    TensorTooLarge,
    /// <summary>The name asked for is not in the state dict.</summary>
    NoSuchTensor,
}

/// <summary>A torch.save checkpoint (zip or pickle) that is malformed, hostile or not a plain state dict.</summary>
public sealed class TorchFormatException(TorchError kind, string file, string field, string value, string reason, Exception? inner = null)
    : ModelFormatException<TorchError>(kind, file, field, value, reason, inner)
{
    /// <inheritdoc/>
    public override string Format => "torch";
}
