using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MobileLlmConvert.Formats.Torch;

/// <summary>
/// A pickle PARSER for the state dicts torch.save writes (protocol 2; the protocol 4/5 FRAME and
/// MEMOIZE opcodes are accepted too). It builds only inert values: ints, floats, strings, None,
/// bools, tuples, lists, dicts, and the few torch constructors a state dict needs, recognised by name.
/// Nothing is imported or called: a GLOBAL outside the allowlist is refused when it is read, and
/// REDUCE is a table lookup, never an invocation.
/// </summary>
/// <remarks>
/// Opcodes: Python's Lib/pickletools.py and PEP 307 (protocol 2). The allowlist follows what
/// torch/_weights_only_unpickler.py permits for a state dict, minus everything a plain checkpoint
/// does not use; torch/_utils.py defines _rebuild_tensor_v2 and _rebuild_parameter, torch/_tensor.py
/// _rebuild_from_type_v2, torch/serialization.py the persistent id ('storage', type, key, location, numel).
/// </remarks>
internal sealed class PickleMachine
{
    /// <summary>A 10k-tensor state dict pickles to about 1 MB; 64 MB of pickle is not a checkpoint.</summary>
    public const int MaxPickleBytes = 64 << 20;
    /// <summary>SETITEMS of a whole state dict puts two entries per tensor on the stack.</summary>
    public const int MaxStackItems = 1 << 22;
    public const int MaxMemo = 1 << 22;
    /// <summary>Items put into lists and dicts in total: DUP + APPEND could otherwise grow a list by one slot per pickle byte.</summary>
    public const int MaxContainerItems = 1 << 22;
    /// <summary>A state dict nests MARKs three deep (dict, tensor args, persistent id).</summary>
    public const int MaxNesting = 32;
    /// <summary>Tensor names and module paths are short; a megabyte string is an attack.</summary>
    public const int MaxStringBytes = 1 << 16;
    /// <summary>GLOBAL's "module\nname\n" lines.</summary>
    public const int MaxLineBytes = 256;
    public const int MaxRank = 8;

    private const string Utils = "torch._utils", TensorModule = "torch._tensor";
    private static readonly PyGlobal OrderedDict = new("collections", "OrderedDict");
    private static readonly PyGlobal RebuildTensorV2 = new(Utils, "_rebuild_tensor_v2");
    private static readonly PyGlobal RebuildParameter = new(Utils, "_rebuild_parameter");
    private static readonly PyGlobal RebuildFromTypeV2 = new(TensorModule, "_rebuild_from_type_v2");
    private static readonly PyGlobal TorchTensor = new("torch", "Tensor");
    private static readonly HashSet<PyGlobal> Callables = [OrderedDict, RebuildTensorV2, RebuildParameter, RebuildFromTypeV2, TorchTensor];

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly byte[] _data;
    private readonly string _path;
    private readonly string _record;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];
    private readonly Dictionary<string, TorchStorage> _storages = new(StringComparer.Ordinal);
    private int _pos;
    private int _opStart;
    private long _containerItems;

    private PickleMachine(byte[] data, string path, string record)
    {
        _data = data;
        _path = path;
        _record = record;
    }

    /// <summary>Runs the pickle to STOP and returns the one object it built, plus every storage it named.</summary>
    public static (object? Root, IReadOnlyDictionary<string, TorchStorage> Storages) Run(byte[] data, string path, string record)
    {
        var vm = new PickleMachine(data, path, record);
        var root = vm.Execute();
        return (root, vm._storages);
    }

    private object? Execute()
    {
        if (_data.Length < 2 || _data[0] != 0x80)
            throw Err(TorchError.BadProtocol, _data.Length == 0 ? "(empty)" : $"0x{_data[0]:x2}", "must start with PROTO 2..5 (torch.save writes protocol 2)");
        while (true)
        {
            _opStart = _pos;
            byte op = Byte();
            switch (op)
            {
                case 0x80: // PROTO
                    int proto = Byte();
                    if (proto < 2 || proto > 5) throw Err(TorchError.BadProtocol, proto.ToString(CultureInfo.InvariantCulture), "only protocols 2 to 5 are read");
                    break;
                case 0x95: // FRAME: a length hint only; the frame must fit in what is left
                    ulong frame = BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
                    if (frame > (ulong)(_data.Length - _pos)) throw Err(TorchError.Truncated, $"frame of {frame} bytes", "runs past the end of the pickle");
                    break;
                case (byte)'.': // STOP
                    if (_pos != _data.Length) throw Err(TorchError.TrailingBytes, $"{_data.Length - _pos} bytes", "after STOP");
                    if (_marks.Count != 0) throw Err(TorchError.MarkMissing, "STOP", "a MARK is still open");
                    if (_stack.Count != 1) throw Err(TorchError.StackUnderflow, $"{_stack.Count} items", "STOP needs exactly one object on the stack");
                    return _stack[0];
                case (byte)'(': // MARK
                    if (_marks.Count >= MaxNesting) throw Err(TorchError.NestingTooDeep, $"{_marks.Count + 1} marks", $"more than {MaxNesting} nested");
                    _marks.Add(_stack.Count);
                    Push(PyMark.Instance);
                    break;
                case (byte)'0': Pop(); break; // POP
                case (byte)'1': PopMark(); break; // POP_MARK
                case (byte)'2': Push(Peek()); break; // DUP
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;
                case (byte)'K': Push((long)Byte()); break;
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;
                case 0x8a: Push(Long1()); break;
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case (byte)'X': Push(Utf8(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                case 0x8c: Push(Utf8(Byte())); break;
                case 0x8d: Push(Utf8(BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))); break;
                case (byte)')': Push(Array.Empty<object?>()); break;
                case (byte)'t': Push(PopMark().ToArray()); break;
                case 0x85: { var a = Pop(); Push(new[] { a }); break; }
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; }
                case (byte)']': Push(new PyList()); break;
                case (byte)'a': { var v = Pop(); Grow(1); ListAt(_stack.Count - 1).Items.Add(v); break; }
                case (byte)'e': { var items = PopMark(); Grow(items.Count); ListAt(_stack.Count - 1).Items.AddRange(items); break; }
                case (byte)'}': Push(new PyDict()); break;
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItem(DictAt(_stack.Count - 1), k, v); break; }
                case (byte)'u':
                    {
                        var items = PopMark();
                        if (items.Count % 2 != 0) throw Err(TorchError.StackUnderflow, $"{items.Count} items", "SETITEMS needs key/value pairs");
                        var d = DictAt(_stack.Count - 1);
                        for (int i = 0; i < items.Count; i += 2) SetItem(d, items[i], items[i + 1]);
                        break;
                    }
                case (byte)'c': Push(Allow(Line(), Line())); break; // GLOBAL
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop();
                        var module = Pop();
                        if (module is not string m || name is not string n) throw Err(TorchError.DisallowedGlobal, "STACK_GLOBAL", "module and name must be strings");
                        Push(Allow(m, n));
                        break;
                    }
                case (byte)'R': { var args = Pop(); var f = Pop(); Push(Reduce(f, args)); break; }
                case (byte)'Q': Push(PersistentId(Pop())); break;
                case (byte)'q': Put(Byte()); break;
                case (byte)'r': Put(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))); break;
                case 0x94: Put(_memo.Count); break; // MEMOIZE
                case (byte)'h': Push(Get(Byte())); break;
                case (byte)'j': Push(Get(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                case (byte)'b': Build(); break;
                case 0x81: case 0x92: throw Err(TorchError.DisallowedCall, op == 0x81 ? "NEWOBJ" : "NEWOBJ_EX", "creating class instances is not allowed");
                case (byte)'i': case (byte)'o': throw Err(TorchError.DisallowedCall, op == (byte)'i' ? "INST" : "OBJ", "creating class instances is not allowed");
                default:
                    throw Err(TorchError.UnknownOpcode, $"0x{op:x2}", "opcode not used by torch.save state dicts (protocol 2 binary opcodes only)");
            }
        }
    }

    /// <summary>
    /// BUILD: <c>module.state_dict()</c> is an OrderedDict carrying a <c>_metadata</c> attribute (each
    /// submodule's version), which torch.save pickles as BUILD with an attribute dict; torch's own
    /// weights_only unpickler (torch/_weights_only_unpickler.py) allows BUILD on OrderedDict only, and
    /// updates its __dict__. The attributes never hold tensors we use, so the state is dropped; every
    /// other target of BUILD is refused (it would set attributes on an arbitrary object).
    /// </summary>
    private void Build()
    {
        var state = Pop();
        if (_stack.Count == 0 || _stack[^1] is not PyDict { Ordered: true })
            throw Err(TorchError.DisallowedCall, "BUILD", "only an OrderedDict (a state dict's _metadata) takes state through BUILD");
        if (state is not PyDict)
            throw Err(TorchError.DisallowedCall, "BUILD", "an OrderedDict's BUILD state must be an attribute dict");
    }

    private object? Reduce(object? callable, object? args)
    {
        if (callable is not PyGlobal f || !Callables.Contains(f) || f == TorchTensor)
            throw Err(TorchError.DisallowedCall, $"REDUCE {Describe(callable)}", "only OrderedDict and torch's tensor rebuild functions may be called");
        if (args is not object?[] a) throw Err(TorchError.DisallowedCall, $"REDUCE {f}", "arguments must be a tuple");
        if (f == OrderedDict)
        {
            if (a.Length != 0) throw Err(TorchError.DisallowedCall, $"REDUCE {f}", "OrderedDict is only built empty (items come by SETITEMS)");
            return new PyDict { Ordered = true };
        }
        if (f == RebuildTensorV2) return RebuildTensor(a);
        if (f == RebuildParameter)
        {
            // _rebuild_parameter(data, requires_grad, backward_hooks): a Parameter is its tensor for us.
            if (a.Length != 3 || a[0] is not TorchView v || a[1] is not bool || a[2] is not PyDict)
                throw Err(TorchError.BadTensorArgs, $"REDUCE {f}", "expects (tensor, requires_grad, backward_hooks)");
            return v;
        }
        // _rebuild_from_type_v2(func, new_type, args, state): the plain torch.Tensor type only; its
        // state (Python attributes) is parsed like any value and then ignored.
        if (a.Length != 4 || !Equals(a[0], RebuildTensorV2) || !Equals(a[1], TorchTensor) || a[2] is not object?[] inner)
            throw Err(TorchError.DisallowedCall, $"REDUCE {f}", $"only ({RebuildTensorV2}, {TorchTensor}, args, state) is allowed, not {Describe(a)}");
        return RebuildTensor(inner);
    }

    /// <summary>_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).</summary>
    private TorchView RebuildTensor(object?[] a)
    {
        string field = $"REDUCE {RebuildTensorV2}";
        if (a.Length is < 6 or > 7 || a[0] is not TorchStorage storage || a[1] is not long offset || a[2] is not object?[] size
            || a[3] is not object?[] stride || a[4] is not bool || a[5] is not PyDict || (a.Length == 7 && a[6] is not (null or PyDict)))
            throw Err(TorchError.BadTensorArgs, field, $"expects (storage, offset, size, stride, requires_grad, hooks[, metadata]), not {Describe(a)}");
        if (size.Length != stride.Length || size.Length > MaxRank)
            throw Err(TorchError.BadTensorArgs, field, $"size {Describe(size)}, stride {Describe(stride)}", $"size and stride must have the same rank, at most {MaxRank}");
        var sz = new long[size.Length];
        var st = new long[size.Length];
        for (int i = 0; i < sz.Length; i++)
        {
            if (size[i] is not long d || d < 0 || stride[i] is not long s || s < 0)
                throw Err(TorchError.BadTensorArgs, field, $"size {Describe(size)}, stride {Describe(stride)}", "dimensions and strides must be non-negative integers");
            sz[i] = d;
            st[i] = s;
        }
        if (offset < 0) throw Err(TorchError.BadTensorArgs, field, $"storage_offset {offset}", "must be non-negative");
        return new TorchView(storage, offset, sz, st);
    }

    /// <summary>('storage', torch.XStorage, key, location, numel); one key always means one storage.</summary>
    private TorchStorage PersistentId(object? pid)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage" || t[1] is not PyGlobal { Module: "torch" } g
            || t[2] is not string key || t[3] is not string location || t[4] is not long numel || numel < 0)
            throw Err(TorchError.BadPersistentId, Describe(pid), "expects ('storage', torch.<Type>Storage, key, location, numel)");
        var type = TorchStorageTypes.Find(g.Name)
            ?? throw Err(TorchError.BadPersistentId, Describe(pid), $"{g} is not a storage type");
        if (key.Length == 0 || key.Length > 64 || !key.All(char.IsAsciiLetterOrDigit))
            throw Err(TorchError.BadPersistentId, key, "a storage key is a short alphanumeric record name");
        if (numel > long.MaxValue / 16) throw Err(TorchError.BadPersistentId, Describe(pid), "numel overflows a byte length");
        if (_storages.TryGetValue(key, out var seen))
        {
            if (seen.Type != type || seen.Numel != numel)
                throw Err(TorchError.StorageConflict, $"key {key}", $"used as {seen.Type.Name}[{seen.Numel}] and as {type.Name}[{numel}]");
            return seen;
        }
        var storage = new TorchStorage(type, key, location, numel);
        _storages.Add(key, storage);
        return storage;
    }

    private PyGlobal Allow(string module, string name)
    {
        var g = new PyGlobal(module, name);
        if (Callables.Contains(g) || (module == "torch" && TorchStorageTypes.Find(name) is not null)) return g;
        throw Err(TorchError.DisallowedGlobal, g.ToString(), "only collections.OrderedDict, torch's tensor rebuild functions, torch.Tensor and torch storage types are allowed");
    }

    private void Grow(int items)
    {
        _containerItems += items;
        if (_containerItems > MaxContainerItems) throw Err(TorchError.TooLarge, $"{_containerItems} container items", $"above {MaxContainerItems}");
    }

    private void SetItem(PyDict d, object? key, object? value)
    {
        Grow(1);
        if (key is not (string or long)) throw Err(TorchError.NotAStateDict, Describe(key), "dict keys must be strings or integers");
        if (!d.TryAdd(key, value)) throw Err(TorchError.DuplicateName, Describe(key), "key set twice in one dict");
    }

    private PyDict DictAt(int index) =>
        index >= 0 && _stack[index] is PyDict d ? d
        : throw Err(index < 0 ? TorchError.StackUnderflow : TorchError.SetItemOnNonDict, index < 0 ? "(empty stack)" : Describe(_stack[index]), "SETITEM(S) target must be a dict");

    private PyList ListAt(int index) =>
        index >= 0 && _stack[index] is PyList l ? l
        : throw Err(index < 0 ? TorchError.StackUnderflow : TorchError.AppendOnNonList, index < 0 ? "(empty stack)" : Describe(_stack[index]), "APPEND(S) target must be a list");

    private void Put(long index)
    {
        if (index >= MaxMemo) throw Err(TorchError.TooLarge, $"memo index {index}", $"above {MaxMemo}");
        if (_stack.Count == 0 || _stack[^1] is PyMark) throw Err(TorchError.StackUnderflow, "PUT", "nothing to memoize");
        _memo[index] = _stack[^1];
        if (_memo.Count > MaxMemo) throw Err(TorchError.TooLarge, $"{_memo.Count} memo entries", $"above {MaxMemo}");
    }

    private object? Get(long index) =>
        _memo.TryGetValue(index, out var v) ? v : throw Err(TorchError.MemoMissing, $"memo {index}", "GET of a memo slot never PUT");

    private void Push(object? v)
    {
        if (_stack.Count >= MaxStackItems) throw Err(TorchError.TooLarge, $"{_stack.Count} stack items", $"above {MaxStackItems}");
        _stack.Add(v);
    }

    private object? Peek()
    {
        if (_stack.Count == 0 || _stack[^1] is PyMark) throw Err(TorchError.StackUnderflow, "(empty stack)", "opcode needs a value on the stack");
        return _stack[^1];
    }

    private object? Pop()
    {
        var v = Peek();
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw Err(TorchError.MarkMissing, "(no mark)", "opcode needs a MARK");
        int at = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(at + 1, _stack.Count - at - 1);
        _stack.RemoveRange(at, _stack.Count - at);
        return items;
    }

    private long Long1()
    {
        int n = Byte();
        if (n > 8) throw Err(TorchError.TooLarge, $"LONG1 of {n} bytes", "integers above 64 bits are not part of a state dict");
        var b = Take(n);
        if (n == 0) return 0;
        long v = (b[n - 1] & 0x80) != 0 ? -1 : 0; // two's complement, little-endian, sign-extended
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
        return v;
    }

    private string Utf8(ulong length)
    {
        if (length > MaxStringBytes) throw Err(TorchError.TooLarge, $"string of {length} bytes", $"above {MaxStringBytes}");
        var bytes = Take((int)length);
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException ex) { throw Err(TorchError.BadTensorArgs, "string", "not valid UTF-8", ex); }
    }

    private string Line()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos, Math.Min(MaxLineBytes, _data.Length - _pos));
        if (end < 0) throw Err(TorchError.Truncated, "GLOBAL", $"no newline within {MaxLineBytes} bytes");
        string s = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private byte Byte() => Take(1)[0];

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n > _data.Length - _pos) throw Err(TorchError.Truncated, $"{n} bytes at {_pos}", "pickle ends inside an opcode");
        var s = _data.AsSpan(_pos, n);
        _pos += n;
        return s;
    }

    /// <summary>A short, depth-limited rendering of a value for error messages (values may be cyclic or huge).</summary>
    internal static string Describe(object? v, int depth = 0) => v switch
    {
        null => "None",
        string s => $"'{ModelFormatExceptionText(s)}'",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        PyGlobal g => g.ToString(),
        TorchStorage st => $"{st.Type.Name}({st.Key})",
        TorchView => "tensor",
        PyDict d => $"dict of {d.Items.Count}",
        PyList l => $"list of {l.Items.Count}",
        PyMark => "MARK",
        object?[] t when depth < 3 => "(" + string.Join(", ", t.Take(8).Select(x => Describe(x, depth + 1))) + (t.Length > 8 ? ", ...)" : ")"),
        object?[] t => $"tuple of {t.Length}",
        _ => v.GetType().Name,
    };

    private static string ModelFormatExceptionText(string s) => s.Length <= 60 ? s : s[..60] + "…";

    private TorchFormatException Err(TorchError kind, string value, string reason, Exception? inner = null) =>
        new(kind, _path, $"{_record}@{_opStart}", value, reason, inner);

    /// <summary>As above, naming what was being built (e.g. "REDUCE torch._utils._rebuild_tensor_v2") in the field.</summary>
    private TorchFormatException Err(TorchError kind, string what, string value, string reason) =>
        new(kind, _path, $"{_record}@{_opStart} {what}", value, reason);
}
