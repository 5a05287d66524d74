using System.Globalization;
using System.Text;

namespace MobileLlmConvert.Formats.HuggingFace;

/// <summary>What <see cref="HfCheckpointDir.Lookup"/> found for one file name.</summary>
internal enum HfFileStatus
{
    /// <summary>A regular file, directly or through symlinks that stay inside the root.</summary>
    Found,
    /// <summary>Nothing by that name (not even a dangling link).</summary>
    Missing,
    /// <summary>A symlink (chain) whose final target does not exist.</summary>
    Dangling,
    /// <summary>A symlink (chain) whose final target lies outside <see cref="HfCheckpointDir.Root"/>.</summary>
    OutsideRoot,
    /// <summary>A directory or other non-file where a file is expected.</summary>
    NotAFile,
}

/// <param name="Path">The path to open: inside <see cref="HfCheckpointDir.Folder"/>, as the user sees it (not the blob it resolves to).</param>
/// <param name="Target">The fully resolved path (symlinks followed), for messages.</param>
/// <param name="Name">The file name asked for, relative to the checkpoint.</param>
/// <param name="Status">Whether the name resolved to a readable file.</param>
internal sealed record HfFileLookup(string Name, string Path, HfFileStatus Status, string Target);

/// <summary>
/// A checkpoint folder and the one rule for opening any file in it (config.json, tokenizer files,
/// weights, indexes, shards). Three layouts are accepted:
/// <list type="bullet">
/// <item>a plain folder: files (or symlinks) must resolve inside the folder;</item>
/// <item>a Hugging Face cache snapshot <c>models--ORG--NAME/snapshots/REV/</c>, whose files are relative
/// symlinks into <c>../../blobs/</c>: links may resolve anywhere inside <c>models--ORG--NAME</c>, never outside;</item>
/// <item>the cache repo folder <c>models--ORG--NAME/</c> itself: <c>refs/main</c> names the snapshot to read.</item>
/// </list>
/// A symlink is followed component by component (at most <see cref="MaxLinkHops"/>) to its real
/// path, which must stay inside <see cref="Root"/>: a checkpoint must not make us read
/// <c>/etc/shadow</c> or another user's files (the same rule ONNX external data needed,
/// CVE-2022-25882 and CVE-2024-27318).
/// </summary>
/// <remarks>
/// Cache layout: huggingface_hub's "Understand caching" guide
/// (https://huggingface.co/docs/huggingface_hub/guides/manage-cache) and <c>file_download.py</c>
/// (<c>_create_symlink</c> writes relative links; <c>refs/{revision}</c> holds the commit hash).
/// </remarks>
internal sealed class HfCheckpointDir
{
    /// <summary>huggingface_hub names a model repo's cache folder <c>models--{org}--{name}</c>.</summary>
    public const string CacheRepoPrefix = "models--";
    public const string SnapshotsFolder = "snapshots";
    public const string MainRef = "refs/main";
    /// <summary>Linux follows at most 40 symlinks in one lookup (MAXSYMLINKS); so do we.</summary>
    public const int MaxLinkHops = 40;
    /// <summary>A ref holds a 40-hex commit hash; 256 bytes covers any branch name and stops a huge file early.</summary>
    public const int MaxRefBytes = 256;

    private readonly string _realRoot;

    /// <summary>The folder file names are looked up in (for a cache repo folder, the snapshot refs/main names).</summary>
    public string Folder { get; }
    /// <summary>The folder every file must resolve inside: <c>models--ORG--NAME</c> for a cache snapshot, else <see cref="Folder"/>.</summary>
    public string Root { get; }
    public bool IsCacheSnapshot => !string.Equals(Root, Folder, StringComparison.Ordinal);

    private HfCheckpointDir(string folder, string root)
    {
        Folder = folder;
        Root = root;
        _realRoot = RealPath(root, root);
    }

    /// <summary>
    /// The checkpoint at <paramref name="path"/>: a plain folder, a cache snapshot, or a cache repo
    /// folder (followed through refs/main). A path that does not exist is returned as a plain
    /// folder, so the caller reports the missing config.json as before.
    /// </summary>
    public static HfCheckpointDir Open(string path)
    {
        string full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path));
        string name = System.IO.Path.GetFileName(full);
        if (name.StartsWith(CacheRepoPrefix, StringComparison.Ordinal) && Directory.Exists(System.IO.Path.Combine(full, SnapshotsFolder))
            && !File.Exists(System.IO.Path.Combine(full, HfNames.ConfigFile)))
            return FromRepoFolder(full);
        if (CacheRepoName(full) is not null)
            return new HfCheckpointDir(full, System.IO.Path.GetDirectoryName(System.IO.Path.GetDirectoryName(full))!);
        return new HfCheckpointDir(full, full);
    }

    /// <summary>NAME for a path inside <c>models--ORG--NAME/snapshots/REV</c> (the snapshot folder itself), else null.</summary>
    public static string? CacheRepoName(string path)
    {
        string full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path));
        string? parent = System.IO.Path.GetDirectoryName(full);
        string? repo = parent is null ? null : System.IO.Path.GetDirectoryName(parent);
        if (parent is null || repo is null || System.IO.Path.GetFileName(parent) != SnapshotsFolder) return null;
        string repoName = System.IO.Path.GetFileName(repo);
        if (!repoName.StartsWith(CacheRepoPrefix, StringComparison.Ordinal)) return null;
        // models--ORG--NAME (or models--NAME for a repo without an owner): the part after the last "--".
        string name = repoName[(repoName.LastIndexOf("--", StringComparison.Ordinal) + 2)..];
        return name.Length > 0 ? name : null;
    }

    private static HfCheckpointDir FromRepoFolder(string repo)
    {
        var top = new HfCheckpointDir(repo, repo);
        string refPath = top.TryResolveFile(MainRef) ?? throw new HfCheckpointException(HfCheckpointError.FileMissing,
            System.IO.Path.Combine(repo, MainRef), "(file)", MainRef, "a cache repo folder is read through refs/main; pass its snapshots/REV folder instead");
        string rev = ReadRef(refPath);
        string snapshot = System.IO.Path.Combine(repo, SnapshotsFolder, rev);
        string real = RealPath(snapshot, snapshot);
        if (!IsInside(real, top._realRoot))
            throw new HfCheckpointException(HfCheckpointError.OutsideRoot, snapshot, "symlink target", real, $"resolves outside the cache repo folder {repo}");
        if (!Directory.Exists(real))
            throw new HfCheckpointException(HfCheckpointError.SnapshotMissing, refPath, "ref", rev,
                $"names snapshot {snapshot}, which does not exist (an interrupted download?)");
        return new HfCheckpointDir(snapshot, repo);
    }

    /// <summary>
    /// refs/main as huggingface_hub writes it: the commit hash, no newline. A value that could step out
    /// of snapshots/ (separators, "..", control characters) is refused rather than joined to a path.
    /// </summary>
    private static string ReadRef(string refPath)
    {
        var bytes = HfWeights.ReadCapped(refPath, MaxRefBytes, n => new HfCheckpointException(HfCheckpointError.BadRef, refPath, "file length",
            n.ToString(CultureInfo.InvariantCulture), $"exceeds the cap of {MaxRefBytes} bytes for a revision name"));
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new HfCheckpointException(HfCheckpointError.BadRef, refPath, "ref", Convert.ToHexString(bytes), "is not UTF-8", e);
        }
        // Written without a newline, but a hand-edited ref often ends with one.
        string rev = text.EndsWith('\n') ? text[..^1] : text;
        bool plain = rev.Length > 0 && rev != "." && !rev.Contains("..", StringComparison.Ordinal)
            && rev.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-');
        if (!plain)
            throw new HfCheckpointException(HfCheckpointError.BadRef, refPath, "ref", rev,
                "must be a commit hash or a plain revision name (letters, digits, '.', '_', '-'; no separators or '..')");
        return rev;
    }

    /// <summary>
    /// Where <paramref name="name"/> (a file name or a relative path such as refs/main) leads. Throws
    /// only for a name that is not plain relative and for a symlink loop; the caller decides what the
    /// other outcomes mean (HfIndex reports them as index errors).
    /// </summary>
    public HfFileLookup Lookup(string name)
    {
        bool plain = name.Length > 0 && !System.IO.Path.IsPathRooted(name) && name.IndexOf('\0') < 0
            && name.Split('/', '\\').All(p => p.Length > 0 && p != "." && p != "..");
        if (!plain)
            throw new HfCheckpointException(HfCheckpointError.BadName, Folder, "file name", name, "must be a relative name inside the checkpoint folder");
        string path = System.IO.Path.Combine(Folder, name);
        if (!Exists(path)) return new(name, path, HfFileStatus.Missing, path);
        string real = RealPath(path, path);
        if (!IsInside(real, _realRoot)) return new(name, path, HfFileStatus.OutsideRoot, real);
        if (File.Exists(real)) return new(name, path, HfFileStatus.Found, real);
        return new(name, path, Directory.Exists(real) ? HfFileStatus.NotAFile : HfFileStatus.Dangling, real);
    }

    /// <summary>The path to open, or null when there is no such file; a link leading out, a dangling link or a folder throws.</summary>
    public string? TryResolveFile(string name)
    {
        var found = Lookup(name);
        return found.Status switch
        {
            HfFileStatus.Found => found.Path,
            HfFileStatus.Missing => null,
            _ => throw Refuse(found),
        };
    }

    /// <summary>The path to open; anything but an existing file inside the root throws.</summary>
    public string ResolveFile(string name) =>
        TryResolveFile(name) ?? throw new HfCheckpointException(HfCheckpointError.FileMissing, System.IO.Path.Combine(Folder, name), "(file)", name, "file does not exist");

    /// <summary>The exception for a lookup that did not find a usable file.</summary>
    public HfCheckpointException Refuse(HfFileLookup found) => found.Status switch
    {
        HfFileStatus.OutsideRoot => new(HfCheckpointError.OutsideRoot, found.Path, "symlink target", found.Target,
            $"resolves outside {(IsCacheSnapshot ? "the cache repo folder" : "the checkpoint folder")} {Root}; refusing to follow it"),
        HfFileStatus.Dangling => new(HfCheckpointError.DanglingLink, found.Path, "symlink target", found.Target, "does not exist (an interrupted download?)"),
        HfFileStatus.NotAFile => new(HfCheckpointError.NotAFile, found.Path, "(file)", "directory", "expected a file"),
        HfFileStatus.Missing => new(HfCheckpointError.FileMissing, found.Path, "(file)", found.Name, "file does not exist"),
        _ => throw new ArgumentException($"{found.Name} was found", nameof(found)),
    };

    /// <summary>True when anything, even a dangling symlink, is at <paramref name="path"/>.</summary>
    private static bool Exists(string path) => File.Exists(path) || Directory.Exists(path) || LinkTarget(path) is not null;

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null; // nothing there, or not a link
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The path with every symlink resolved, component by component (like POSIX realpath, but a
    /// missing tail is kept as is). More than <see cref="MaxLinkHops"/> links is a loop.
    /// </summary>
    internal static string RealPath(string path, string forMessages)
    {
        string full = System.IO.Path.GetFullPath(path);
        string current = System.IO.Path.GetPathRoot(full)!;
        var pending = new Stack<string>(Parts(full[current.Length..]).Reverse());
        int hops = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                current = System.IO.Path.GetDirectoryName(current) ?? current;
                continue;
            }
            string next = System.IO.Path.Combine(current, part);
            string? target = LinkTarget(next);
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++hops > MaxLinkHops)
                throw new HfCheckpointException(HfCheckpointError.LinkLoop, forMessages, "symlink", next, $"more than {MaxLinkHops} symlinks to follow (a loop?)");
            if (System.IO.Path.IsPathRooted(target))
            {
                current = System.IO.Path.GetPathRoot(target)!;
                target = target[current.Length..];
            }
            foreach (var p in Parts(target).Reverse()) pending.Push(p);
        }
        return current;
    }

    private static string[] Parts(string path) => path.Split([System.IO.Path.DirectorySeparatorChar, System.IO.Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);

    private static bool IsInside(string path, string root)
    {
        if (string.Equals(path, root, StringComparison.Ordinal)) return true;
        string prefix = root.EndsWith(System.IO.Path.DirectorySeparatorChar) ? root : root + System.IO.Path.DirectorySeparatorChar;
        return path.StartsWith(prefix, StringComparison.Ordinal);
    }
}
