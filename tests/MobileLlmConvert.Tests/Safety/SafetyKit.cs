using System.Runtime.InteropServices;
using System.Security.Cryptography;
using MobileLlmConvert.Tests.Fixtures;

namespace MobileLlmConvert.Tests.Safety;

/// <summary>Shared helpers of the data-safety tests: fixture copies, FIFOs, tree hashes, one-line assertions.</summary>
internal static class SafetyKit
{
    public static string Tiny => Path.Combine(FixtureCatalog.RepoRoot, "testdata", "models", "llama-tiny");

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MkFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    public static void MakeFifo(string path)
    {
        if (MkFifo(path, Convert.ToUInt32("644", 8)) != 0) throw new IOException($"mkfifo {path} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>A writable copy of a fixture checkpoint.</summary>
    public static string CopyTiny(TempDir dir, string name = "ckpt")
    {
        string dst = dir[name];
        Directory.CreateDirectory(dst);
        foreach (var f in Directory.EnumerateFiles(Tiny)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        return dst;
    }

    /// <summary>Every path under <paramref name="root"/> (links not followed) with the SHA-256 of each regular file: equal before and after means untouched.</summary>
    public static string TreeHash(string root)
    {
        var lines = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(entry);
            string rel = Path.GetRelativePath(root, entry);
            if (info.LinkTarget is not null) lines.Add($"{rel} -> {info.LinkTarget}");
            else if (Directory.Exists(entry)) lines.Add(rel + "/");
            else lines.Add($"{rel} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(entry)))}");
        }
        return string.Join('\n', lines);
    }

    /// <summary>Exit 2 and exactly one stderr line, starting "mlconvert: error: ", holding every fragment; returns the line.</summary>
    public static string OneLineError(CliResult r, params string[] fragments)
    {
        Assert.True(r.ExitCode == 2, r.ToString());
        var lines = r.Stderr.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, r.ToString());
        Assert.StartsWith("mlconvert: error: ", lines[0]);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
        Assert.DoesNotContain(lines[0], c => char.IsControl(c));
        return lines[0];
    }

    /// <summary>Names in a directory that look like leftovers of ours (temporaries, backups, locks).</summary>
    public static string[] Leftovers(string dir) =>
        Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).OfType<string>()
            .Where(n => n.Contains(".mlconvert", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
}
