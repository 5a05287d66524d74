using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Formats.Torch;

/// <summary>One STORED record of a torch.save zip: its name below the root folder and where its bytes lie in the file.</summary>
internal sealed record TorchZipRecord(string Name, long DataOffset, long Length);

/// <summary>
/// The central directory of the zip torch.save (>= 1.6) writes, read by hand and trusted for nothing.
/// System.IO.Compression's ZipArchive is not used: it hides the file offset of a stored entry's data,
/// which is what lets a storage record be memory-mapped in place instead of copied.
/// </summary>
/// <remarks>
/// PKWARE APPNOTE.TXT 6.3.10: 4.3.7 local file header, 4.3.12 central directory header, 4.3.14-16
/// ZIP64 end records, 4.4.4 general purpose flags, 4.5.3 ZIP64 extra field. torch writes through
/// miniz (caffe2/serialize/inline_container.cc): every record STORED, flags 0x0808 (data descriptor,
/// UTF-8), local sizes zero, ZIP64 end records always present. picklescan's CVE-2025-1944/1945 showed
/// scanners and loaders disagreeing on names and flags; here local and central headers must agree.
/// </remarks>
internal static class TorchZip
{
    /// <summary>One record per storage plus a handful of metadata records; a million is far past any model.</summary>
    public const int MaxRecords = 1 << 20;
    /// <summary>Record names are "archive/data/123"; anything longer is not torch's.</summary>
    public const int MaxNameBytes = 4096;

    private const uint LocalSig = 0x04034b50, CentralSig = 0x02014b50, EndSig = 0x06054b50;
    private const uint Zip64EndSig = 0x06064b50, Zip64LocatorSig = 0x07064b50;
    private const int LocalSize = 30, CentralSize = 46, EndSize = 22, Zip64LocatorSize = 20, Zip64EndSize = 56;
    private const int MaxComment = 0xFFFF;
    /// <summary>Bit 3: sizes and CRC in a data descriptor after the data; bit 11: UTF-8 names. Nothing else is torch's.</summary>
    private const ushort AllowedFlags = (1 << 3) | (1 << 11);
    private const ushort DataDescriptorFlag = 1 << 3;

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>The records, keyed by name below the root folder, and the root folder's name.</summary>
    public static (string Root, Dictionary<string, TorchZipRecord> Records) Read(MappedFile file, string path)
    {
        long length = file.Length;
        var (cdOffset, cdSize, count) = ReadEnd(file, path, length);
        var records = new Dictionary<string, TorchZipRecord>(StringComparer.Ordinal);
        var spans = new List<(long Start, long End, string Name)>();
        string? root = null;
        long pos = cdOffset;
        long cdEnd = checked(cdOffset + cdSize);
        for (long i = 0; i < count; i++)
        {
            if (cdEnd - pos < CentralSize)
                throw Err(TorchError.BadCentralDirectory, path, "central directory", $"entry {i} at {pos}", "entry runs past the central directory");
            var h = file.Span(pos, CentralSize);
            if (U32(h, 0) != CentralSig)
                throw Err(TorchError.BadCentralDirectory, path, "central directory", $"entry {i} at {pos}", "bad central header signature");
            ushort flags = U16(h, 8), method = U16(h, 10);
            long csize = U32(h, 20), usize = U32(h, 24), offset = U32(h, 42);
            int nameLen = U16(h, 28), extraLen = U16(h, 30), commentLen = U16(h, 32);
            int disk = U16(h, 34);
            long varLen = (long)nameLen + extraLen + commentLen;
            if (cdEnd - pos - CentralSize < varLen)
                throw Err(TorchError.BadCentralDirectory, path, "central directory", $"entry {i} at {pos}", "name/extra/comment run past the central directory");
            string full = DecodeName(file.Span(pos + CentralSize, nameLen), path, pos);
            var extra = file.Span(pos + CentralSize + nameLen, extraLen);
            ApplyZip64Extra(extra, ref usize, ref csize, ref offset, ref disk, path, full);
            if (disk != 0) throw Err(TorchError.MultiDisk, path, full, $"disk {disk}", "split archives are not torch.save output");
            if ((flags & ~AllowedFlags) != 0)
                throw Err(TorchError.BadFlags, path, $"{full}.flags", $"0x{flags:x4}", "only bits 3 (data descriptor) and 11 (UTF-8) are allowed; encryption and other bits are refused");
            if (method != 0)
                throw Err(TorchError.Compressed, path, $"{full}.method", method.ToString(CultureInfo.InvariantCulture), "records must be STORED (method 0), as torch.save writes them");
            if (csize != usize)
                throw Err(TorchError.BadCentralDirectory, path, $"{full}.size", $"{csize} compressed, {usize} uncompressed", "a STORED record has equal sizes");
            string name = SplitRoot(full, ref root, path);
            long dataStart = CheckLocal(file, path, full, file.Span(pos + CentralSize, nameLen), offset, flags, usize, cdOffset);
            if (!records.TryAdd(name, new TorchZipRecord(name, dataStart, usize)))
                throw Err(TorchError.DuplicateRecord, path, full, "(twice)", "record name appears twice in the central directory");
            spans.Add((offset, checked(dataStart + usize), full));
            pos = checked(pos + CentralSize + varLen);
        }
        if (pos != cdEnd)
            throw Err(TorchError.BadCentralDirectory, path, "central directory size", cdSize.ToString(CultureInfo.InvariantCulture), $"entries end at {pos - cdOffset}");
        spans.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (int i = 1; i < spans.Count; i++)
        {
            if (spans[i].Start < spans[i - 1].End)
                throw Err(TorchError.RecordOverlap, path, spans[i].Name, $"at {spans[i].Start}", $"overlaps {spans[i - 1].Name} (ends at {spans[i - 1].End})");
        }
        return (root ?? "", records);
    }

    /// <summary>Finds the end record (searching at most the 64 KiB comment back) and its ZIP64 twin when present.</summary>
    private static (long Offset, long Size, long Count) ReadEnd(MappedFile file, string path, long length)
    {
        long lowest = Math.Max(0, length - EndSize - MaxComment);
        long at = -1;
        for (long p = length - EndSize; p >= lowest; p--)
        {
            var s = file.Span(p, EndSize);
            // The comment length must reach exactly the end of the file, so a signature inside a comment does not match.
            if (U32(s, 0) == EndSig && p + EndSize + U16(s, 20) == length) { at = p; break; }
        }
        if (at < 0) throw Err(TorchError.NoEndOfCentralDirectory, path, "end of central directory", $"{length} bytes", "no end record in the last 64 KiB; not a complete zip");
        var e = file.Span(at, EndSize);
        int disk = U16(e, 4), cdDisk = U16(e, 6);
        long onDisk = U16(e, 8), count = U16(e, 10), size = U32(e, 12), offset = U32(e, 16);
        if (at >= Zip64LocatorSize && U32(file.Span(at - Zip64LocatorSize, 4), 0) == Zip64LocatorSig)
        {
            var loc = file.Span(at - Zip64LocatorSize, Zip64LocatorSize);
            long z = (long)Math.Min(U64(loc, 8), (ulong)long.MaxValue);
            if (U32(loc, 4) != 0 || U32(loc, 16) > 1) throw Err(TorchError.MultiDisk, path, "zip64 locator", $"{U32(loc, 16)} disks", "split archives are not torch.save output");
            if (z > at - Zip64LocatorSize - Zip64EndSize || U32(file.Span(z, 4), 0) != Zip64EndSig)
                throw Err(TorchError.BadZip64, path, "zip64 end of central directory", $"offset {z}", "the locator points at no ZIP64 end record");
            var r = file.Span(z, Zip64EndSize);
            long on64 = I64(r, 24, path), count64 = I64(r, 32, path), size64 = I64(r, 40, path), offset64 = I64(r, 48, path);
            if (U32(r, 16) != 0 || U32(r, 20) != 0) throw Err(TorchError.MultiDisk, path, "zip64 end of central directory", "disk != 0", "split archives are not torch.save output");
            // A plain field that is not the 0xFFFF(FFFF) escape must agree with its ZIP64 value.
            if ((count != 0xFFFF && count != count64) || (onDisk != 0xFFFF && onDisk != on64)
                || (size != 0xFFFFFFFF && size != size64) || (offset != 0xFFFFFFFF && offset != offset64))
                throw Err(TorchError.BadZip64, path, "zip64 end of central directory", $"{count64} entries at {offset64}", $"disagrees with the end record ({count} entries at {offset})");
            (onDisk, count, size, offset, disk, cdDisk) = (on64, count64, size64, offset64, 0, 0);
            at = z;
        }
        else if (count == 0xFFFF || size == 0xFFFFFFFF || offset == 0xFFFFFFFF)
            throw Err(TorchError.BadZip64, path, "end of central directory", $"{count} entries at {offset}", "ZIP64 escape values without a ZIP64 end record");
        if (disk != 0 || cdDisk != 0 || onDisk != count)
            throw Err(TorchError.MultiDisk, path, "end of central directory", $"disk {disk}", "split archives are not torch.save output");
        if (count > MaxRecords)
            throw Err(TorchError.TooManyRecords, path, "end of central directory", count.ToString(CultureInfo.InvariantCulture), $"more than {MaxRecords} records");
        if (offset > at || size > at - offset || count > size / CentralSize)
            throw Err(TorchError.BadCentralDirectory, path, "end of central directory", $"{count} entries, {size} bytes at {offset}", $"does not fit before the end record at {at}");
        return (offset, size, count);
    }

    /// <summary>APPNOTE 4.5.3: the ZIP64 extra field carries, in order, only the fields escaped as 0xFFFFFFFF (0xFFFF for the disk).</summary>
    private static void ApplyZip64Extra(ReadOnlySpan<byte> extra, ref long usize, ref long csize, ref long offset, ref int disk, string path, string name)
    {
        bool needed = usize == 0xFFFFFFFF || csize == 0xFFFFFFFF || offset == 0xFFFFFFFF || disk == 0xFFFF;
        while (extra.Length >= 4)
        {
            int id = U16(extra, 0), len = U16(extra, 2);
            if (len > extra.Length - 4) throw Err(TorchError.BadCentralDirectory, path, $"{name}.extra", $"field 0x{id:x4} of {len} bytes", "runs past the extra area");
            var body = extra.Slice(4, len);
            if (id == 0x0001)
            {
                int p = 0;
                if (usize == 0xFFFFFFFF) usize = Take64(body, ref p, path, name);
                if (csize == 0xFFFFFFFF) csize = Take64(body, ref p, path, name);
                if (offset == 0xFFFFFFFF) offset = Take64(body, ref p, path, name);
                if (disk == 0xFFFF)
                {
                    if (body.Length - p < 4) throw Err(TorchError.BadZip64, path, $"{name}.extra", "zip64", "disk number missing");
                    disk = checked((int)Math.Min(U32(body, p), int.MaxValue));
                }
                needed = false;
            }
            extra = extra[(4 + len)..];
        }
        if (needed) throw Err(TorchError.BadZip64, path, $"{name}.extra", "(no zip64 field)", "sizes escaped as 0xFFFFFFFF without a ZIP64 extra field");
    }

    private static long Take64(ReadOnlySpan<byte> body, ref int p, string path, string name)
    {
        if (body.Length - p < 8) throw Err(TorchError.BadZip64, path, $"{name}.extra", "zip64", "field too short for its escaped values");
        long v = I64(body, p, path);
        p += 8;
        return v;
    }

    /// <summary>The local header must exist, agree with the central entry, and its data must end before the central directory.</summary>
    private static long CheckLocal(MappedFile file, string path, string name, ReadOnlySpan<byte> centralName, long offset, ushort flags, long size, long cdOffset)
    {
        if (offset > cdOffset - LocalSize)
            throw Err(TorchError.BadLocalHeader, path, $"{name}.offset", offset.ToString(CultureInfo.InvariantCulture), "local header lies past the central directory");
        var h = file.Span(offset, LocalSize);
        if (U32(h, 0) != LocalSig)
            throw Err(TorchError.BadLocalHeader, path, $"{name}.offset", offset.ToString(CultureInfo.InvariantCulture), "no local header signature there");
        ushort lflags = U16(h, 6), lmethod = U16(h, 8);
        long lcsize = U32(h, 18), lusize = U32(h, 22);
        int nameLen = U16(h, 26), extraLen = U16(h, 28);
        long dataStart = checked(offset + LocalSize + nameLen + extraLen);
        if (dataStart > cdOffset || size > cdOffset - dataStart)
            throw Err(TorchError.BadLocalHeader, path, name, $"{size} bytes at {dataStart}", "record data runs past the central directory");
        var lname = file.Span(offset + LocalSize, nameLen);
        if (!lname.SequenceEqual(centralName))
            throw Err(TorchError.HeaderMismatch, path, $"{name}.name", Encoding.UTF8.GetString(lname), "local header names a different record than the central directory");
        if (lflags != flags)
            throw Err(TorchError.HeaderMismatch, path, $"{name}.flags", $"local 0x{lflags:x4}, central 0x{flags:x4}", "local and central flags differ");
        if (lmethod != 0)
            throw Err(TorchError.HeaderMismatch, path, $"{name}.method", lmethod.ToString(CultureInfo.InvariantCulture), "local header says compressed");
        // With a data descriptor the local sizes may be zero; otherwise they must be the central ones
        // (or the ZIP64 escape when the real size does not fit in 32 bits).
        bool ok(long v) => v == size || (v == 0xFFFFFFFF && size >= 0xFFFFFFFF) || (v == 0 && (flags & DataDescriptorFlag) != 0);
        if (!ok(lcsize) || !ok(lusize))
            throw Err(TorchError.HeaderMismatch, path, $"{name}.size", $"local {lcsize}/{lusize}, central {size}", "local and central sizes differ");
        return dataStart;
    }

    /// <summary>Names are "root/rest" with one shared root folder; no traversal, no absolute paths, no backslashes.</summary>
    private static string SplitRoot(string full, ref string? root, string path)
    {
        int slash = full.IndexOf('/');
        bool bad = slash <= 0 || slash == full.Length - 1 || full.Contains('\\') || full.Contains('\0') || full.Contains(':');
        if (!bad)
        {
            foreach (var seg in full.Split('/'))
            {
                if (seg.Length == 0 || seg == "." || seg == "..") { bad = true; break; }
            }
        }
        if (bad) throw Err(TorchError.BadRecordName, path, "record name", full, "must be root/relative with no empty, '.' or '..' segments, no '\\', ':' or leading '/'");
        string r = full[..slash];
        root ??= r;
        if (r != root) throw Err(TorchError.BadRecordName, path, "record name", full, $"outside the archive's one root folder '{root}'");
        return full[(slash + 1)..];
    }

    private static string DecodeName(ReadOnlySpan<byte> bytes, string path, long at)
    {
        if (bytes.Length > MaxNameBytes) throw Err(TorchError.BadRecordName, path, "record name", $"{bytes.Length} bytes at {at}", $"longer than {MaxNameBytes} bytes");
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException ex) { throw Err(TorchError.BadRecordName, path, "record name", $"at {at}", "not valid UTF-8", ex); }
    }

    private static ushort U16(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt16LittleEndian(s[o..]);
    private static uint U32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt32LittleEndian(s[o..]);
    private static ulong U64(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt64LittleEndian(s[o..]);

    private static long I64(ReadOnlySpan<byte> s, int o, string path)
    {
        ulong v = U64(s, o);
        if (v > long.MaxValue) throw Err(TorchError.BadZip64, path, "zip64 value", v.ToString(CultureInfo.InvariantCulture), "above 2^63");
        return (long)v;
    }

    internal static TorchFormatException Err(TorchError kind, string path, string field, string value, string reason, Exception? inner = null) =>
        new(kind, path, field, value, reason, inner);
}
