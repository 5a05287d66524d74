using MobileLlmConvert.Core.IO;
using static MobileLlmConvert.Tests.Safety.SafetyKit;

namespace MobileLlmConvert.Tests.Safety;

/// <summary>
/// Issue 9 item 1: an output path is written only when it is new, a previous artifact of ours, or
/// --force is given, and never when it is an input, holds one, lies in one, or is the working directory.
/// </summary>
public sealed class OutputSafetyTests
{
    [Fact]
    public void Hf2mobile_onto_its_own_source_is_refused_and_the_source_is_untouched()
    {
        using var dir = new TempDir();
        string ckpt = CopyTiny(dir);
        string before = TreeHash(dir.Path);
        var r = CliRunner.Run("hf2mobile", ckpt, "-o", ckpt);
        OneLineError(r, $"{ckpt}: --output = {ckpt}: is the input {ckpt} or holds it; refusing to replace an input");
        Assert.Equal(before, TreeHash(dir.Path));
    }

    [Fact]
    public void An_ancestor_of_the_input_is_refused_even_with_force()
    {
        using var dir = new TempDir();
        string ckpt = CopyTiny(dir);
        string before = TreeHash(dir.Path);
        OneLineError(CliRunner.Run("hf2mobile", ckpt, "-o", dir.Path, "--force"), "or holds it; refusing to replace an input");
        OneLineError(CliRunner.Run("convert", ckpt, "--to", "gguf", "-o", Path.Combine(ckpt, "out.gguf")), "lies inside the input");
        Assert.Equal(before, TreeHash(dir.Path));
    }

    [Fact]
    public void The_working_directory_is_refused()
    {
        string cwd = Environment.CurrentDirectory;
        string before = string.Join('\n', Directory.EnumerateFileSystemEntries(cwd).Order(StringComparer.Ordinal));
        OneLineError(CliRunner.Run("hf2mobile", Tiny, "-o", ".", "--force"), "--output = ", "is the working directory or an ancestor of it");
        OneLineError(CliRunner.Run("hf2mobile", Tiny, "-o", Path.GetDirectoryName(cwd)!), "is the working directory or an ancestor of it");
        Assert.Equal(before, string.Join('\n', Directory.EnumerateFileSystemEntries(cwd).Order(StringComparer.Ordinal)));
    }

    [Fact]
    public void A_symlink_to_the_input_is_seen_through()
    {
        using var dir = new TempDir();
        string ckpt = CopyTiny(dir);
        File.CreateSymbolicLink(dir["alias"], ckpt);
        string before = TreeHash(ckpt);
        OneLineError(CliRunner.Run("hf2mobile", ckpt, "-o", dir["alias"], "--force"), "refusing to replace an input");
        Assert.Equal(before, TreeHash(ckpt));
    }

    [Fact]
    public void A_foreign_non_empty_directory_is_kept_unless_forced()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["photos"]);
        File.WriteAllText(dir["photos/cat.jpg"], "meow");
        string before = TreeHash(dir.Path);
        OneLineError(CliRunner.Run("hf2mobile", Tiny, "-o", dir["photos"]),
            $"{dir["photos"]}: --output = directory: exists and is not a bundle of ours (manifest.json) or an empty directory; pass --force to replace it");
        Assert.Equal(before, TreeHash(dir.Path));

        var forced = CliRunner.Run("hf2mobile", Tiny, "-o", dir["photos"], "--force");
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Equal(["manifest.json", "model.mlcm"], Directory.EnumerateFileSystemEntries(dir["photos"]).Select(Path.GetFileName).Order());
        Assert.Empty(Leftovers(dir.Path));
    }

    [Fact]
    public void A_previous_bundle_is_replaced_and_nothing_is_left_beside_it()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("hf2mobile", Tiny, "-o", dir["bundle"], "--quant", "q8").ExitCode);
        string q8 = TreeHash(dir["bundle"]);
        var r = CliRunner.Run("hf2mobile", Tiny, "-o", dir["bundle"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.NotEqual(q8, TreeHash(dir["bundle"]));
        Assert.Equal(0, CliRunner.Run("verify", dir["bundle"], "--bundle-only").ExitCode);
        Assert.Equal(["bundle"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_bundle_holding_a_file_it_does_not_list_is_not_replaced_without_force()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("hf2mobile", Tiny, "-o", dir["bundle"]).ExitCode);
        File.WriteAllText(dir["bundle/my-notes.txt"], "keep me");
        string before = TreeHash(dir.Path);
        OneLineError(CliRunner.Run("hf2mobile", Tiny, "-o", dir["bundle"], "--quant", "q8"), "exists and is not a bundle of ours");
        Assert.Equal(before, TreeHash(dir.Path));
    }

    [Fact]
    public void Convert_replaces_its_own_outputs_but_not_a_foreign_file()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["notes.gguf"], "my notes");
        OneLineError(CliRunner.Run("convert", Tiny, "--to", "gguf", "-o", dir["notes.gguf"]),
            "--output = regular file: exists and is not a model file of ours (GGUF with mobilellmconvert.* keys, or the mobile magic); pass --force");
        Assert.Equal("my notes", File.ReadAllText(dir["notes.gguf"]));

        Assert.Equal(0, CliRunner.Run("convert", Tiny, "--to", "gguf", "-o", dir["m.gguf"]).ExitCode);
        Assert.Equal(0, CliRunner.Run("convert", Tiny, "--to", "gguf", "--quant", "q8_0", "-o", dir["m.gguf"]).ExitCode);
        Assert.Equal(0, CliRunner.Run("convert", Tiny, "--to", "mobile", "-o", dir["m.mlcm"]).ExitCode);
        Assert.Equal(0, CliRunner.Run("convert", Tiny, "--to", "mobile", "-o", dir["m.mlcm"]).ExitCode);
        Assert.Equal(0, CliRunner.Run("convert", Tiny, "--to", "gguf", "-o", dir["notes.gguf"], "--force").ExitCode);
        Assert.Equal(["m.gguf", "m.mlcm", "notes.gguf"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Synth_does_not_overwrite_a_non_empty_directory()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["work"]);
        File.WriteAllText(dir["work/thesis.tex"], "\\begin{document}");
        OneLineError(CliRunner.Run("synth", "--preset", "tiny-llama", "-o", dir["work"]), "exists and is not an empty directory; pass --force");
        Assert.Equal("\\begin{document}", File.ReadAllText(dir["work/thesis.tex"]));
    }

    /// <summary>The state a kill -9 between the two renames leaves: the old bundle only under its backup name, plus a dead run's temporary.</summary>
    [Fact]
    public void A_run_killed_between_the_renames_is_recovered_by_the_next_run()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("hf2mobile", Tiny, "-o", dir["bundle"], "--quant", "q8").ExitCode);
        string old = TreeHash(dir["bundle"]);
        const int deadPid = 99_999_999; // above Linux's largest pid_max (2^22)
        Directory.Move(dir["bundle"], dir[$".bundle.mlconvert-{deadPid}-0123.old"]);
        Directory.CreateDirectory(dir[$".bundle.mlconvert-{deadPid}-4567.tmp"]);
        File.WriteAllText(dir[$".bundle.mlconvert-{deadPid}-4567.tmp/model.mlcm"], "half");
        Directory.SetLastWriteTimeUtc(dir[$".bundle.mlconvert-{deadPid}-4567.tmp"], DateTime.UtcNow.AddHours(-1));
        // Earlier versions named temporaries .NAME.PID.GUID.tmp and never cleaned them.
        string legacy = dir[$".bundle.{deadPid}.{new string('a', 32)}.tmp"];
        Directory.CreateDirectory(legacy);
        Directory.SetLastWriteTimeUtc(legacy, DateTime.UtcNow.AddHours(-1));
        Directory.CreateDirectory(dir[".bundle.notes"]);

        // A run that fails after recovery still leaves the old bundle back in place.
        Assert.Throws<InvalidOperationException>(() => AtomicFile.WriteDirectory(dir["bundle"], _ => throw new InvalidOperationException("disk on fire")));
        Assert.Equal(old, TreeHash(dir["bundle"]));
        Assert.Equal([".bundle.notes", "bundle"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(0, CliRunner.Run("verify", dir["bundle"], "--bundle-only").ExitCode);
    }

    [Fact]
    public void Concurrent_writers_to_one_bundle_leave_one_complete_bundle()
    {
        using var dir = new TempDir();
        var results = Enumerable.Range(0, 4).AsParallel().WithDegreeOfParallelism(4)
            .Select(i => CliRunner.Run("hf2mobile", Tiny, "-o", dir["bundle"], "--quant", i % 2 == 0 ? "q8" : "q4")).ToList();
        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.ToString()));
        Assert.Equal(0, CliRunner.Run("verify", dir["bundle"], "--bundle-only").ExitCode);
        Assert.Equal(["bundle"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }
}
