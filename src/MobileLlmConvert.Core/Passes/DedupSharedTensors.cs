using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>
/// Makes every exact repeat one stored tensor: tensors are bucketed by element type and shape, each
/// tensor in a bucket of two or more is hashed (SHA-256; a large tensor first by a sample of windows,
/// in full only when more than two share that sample), and tensors whose hashes match are confirmed
/// equal byte for byte before they merge. The first tensor in table order keeps
/// its key; the embedding, final norm, head and every step are re-pointed at it. This is how
/// MobiLlama's per-layer FFN copies, an LS checkpoint exported with every block written twice, a
/// head stored equal to the embedding or two identical norm vectors all end up stored once; names
/// never decide it: MobiLlama-1B keeps distinct FFNs under the same architecture name as the shared 05B.
/// </summary>
/// <param name="keepHeadSeparate">
/// Leave an untied output head out of merging, so turning tying off (<see cref="SharingOptions.NoTie"/>)
/// is not undone here.
/// </param>
public sealed class DedupSharedTensors(bool keepHeadSeparate = false) : IPass
{
    /// <inheritdoc/>
    public string Name => "DedupSharedTensors";

    /// <inheritdoc/>
    public PassResult Run(ModelIr ir)
    {
        string? excluded = keepHeadSeparate && !ir.IsTied ? ir.Output : null;
        var map = FindDuplicates(ir, excluded, out var groups, out int hashed);
        var extra = excluded is null ? [] : new[] { $"output head {excluded} kept out of merging (tying is off)" };
        if (map.Count == 0)
        {
            return new(ir, PassReport.Unchanged(Name, ir,
                [$"no two stored tensors are byte-identical ({hashed} of {ir.Tensors.Count} tensors share a type and shape with another and were hashed)", .. extra]));
        }

        string Map(string key) => map.TryGetValue(key, out var kept) ? kept : key;
        var steps = ir.Steps.Select(s => s.Remap(Map)).ToList();
        // A block is stored once per distinct step after merging: 30 for an LS model exported with 60 copies.
        int storedBlocks = steps.Select(s => string.Join('\n', s.Keys)).Distinct(StringComparer.Ordinal).Count();
        var result = ir with
        {
            Tensors = ir.Tensors.Where(t => !map.ContainsKey(t.Name)).ToList(),
            Embedding = Map(ir.Embedding),
            FinalNorm = Map(ir.FinalNorm),
            Output = Map(ir.Output),
            Steps = steps,
            Config = ir.Config with { StoredLayers = storedBlocks },
        };

        var notes = new List<string>
        {
            $"merged {map.Count} duplicate tensors into {groups.Count}: {ir.Tensors.Count} -> {result.Tensors.Count} stored tensors, " +
            $"{TensorBytes.Count(ir.StoredParameters - result.StoredParameters)} parameters and {TensorBytes.Count(ir.StoredBytes - result.StoredBytes)} bytes saved",
        };
        notes.AddRange(GroupNotes(ir, map, groups));
        if (storedBlocks != ir.Config.StoredLayers) notes.Add($"distinct stored blocks {ir.Config.StoredLayers} -> {storedBlocks} for {steps.Count} executed steps");
        if (!ir.IsTied && result.IsTied) notes.Add($"the head {ir.Output} equals the embedding {ir.Embedding}: it is now tied");
        notes.AddRange(extra);
        return new(result, new PassReport(Name, true, notes, [], ir.StoredParameters, result.StoredParameters, ir.StoredBytes, result.StoredBytes));
    }

    /// <summary>Most merged groups listed one per note; the rest are counted, so a 60-block export does not print 540 lines.</summary>
    public const int MaxListedGroups = 16;

    /// <summary>
    /// One note for blocks that are whole copies of another block (every tensor under model.layers.{j}.
    /// equal to the same-named tensor of one block i), then one note per remaining merged group.
    /// </summary>
    private static IEnumerable<string> GroupNotes(ModelIr ir, Dictionary<string, string> map, List<(string Kept, List<string> Copies)> groups)
    {
        // Candidate block pairs (prefix, copy index) -> kept index, from every merge whose names differ only in the index.
        var pair = new Dictionary<(string Prefix, int Copy), int>();
        var broken = new HashSet<(string, int)>();
        foreach (var t in ir.Tensors)
        {
            if (!NamePatterns.TrySplitIndex(t.Name, out var prefix, out int index, out var suffix)) continue;
            var block = (prefix, index);
            if (map.TryGetValue(t.Name, out var kept) && NamePatterns.TrySplitIndex(kept, out var kp, out int ki, out var ks) && kp == prefix && ks == suffix)
            {
                if (pair.TryGetValue(block, out int seen) && seen != ki) broken.Add(block);
                pair[block] = ki;
            }
            else broken.Add(block);
        }
        var whole = pair.Where(p => !broken.Contains(p.Key)).OrderBy(p => p.Key.Copy).ToList();
        var wholeKeys = new HashSet<(string, int)>(whole.Select(p => p.Key));
        foreach (var byPrefix in whole.GroupBy(p => p.Key.Prefix))
        {
            var copies = byPrefix.Select(p => p.Key.Copy).ToList();
            var kept = byPrefix.Select(p => p.Value).ToList();
            yield return copies.Count == 1
                ? $"block {byPrefix.Key}{copies[0]}.* is a whole copy of {byPrefix.Key}{kept[0]}.*: kept one"
                : $"blocks {byPrefix.Key}{{{NamePatterns.Ranges(copies)}}}.* are whole copies of {byPrefix.Key}{{{NamePatterns.Ranges(kept)}}}.* " +
                  $"(copy->kept: {string.Join(", ", byPrefix.Select(p => $"{p.Key.Copy}->{p.Value}"))}): kept one of each";
        }

        bool InWholeBlock(string name) => NamePatterns.TrySplitIndex(name, out var p, out int i, out _) && wholeKeys.Contains((p, i));
        var rest = groups.Select(g => (g.Kept, Copies: g.Copies.Where(c => !InWholeBlock(c)).ToList())).Where(g => g.Copies.Count > 0).ToList();
        foreach (var (kept, copies) in rest.Take(MaxListedGroups)) yield return $"{kept} is also stored as {NamePatterns.Join(copies)}: kept one";
        if (rest.Count > MaxListedGroups) yield return $"... and {rest.Count - MaxListedGroups} more merged groups";
    }

    /// <summary>Dropped key -> kept key, and the merged groups (kept key, dropped keys) in table order.</summary>
    private static Dictionary<string, string> FindDuplicates(ModelIr ir, string? excluded, out List<(string Kept, List<string> Copies)> groups, out int hashed)
    {
        // Only tensors of equal type and shape can be equal; a tensor alone in its bucket is never read.
        var buckets = ir.Tensors.Where(t => t.Name != excluded)
            .GroupBy(t => (t.Type, Shape: Shapes.Format(t.Shape)))
            .Where(b => b.Count() > 1).ToList();
        var byHash = new Dictionary<string, List<Tensor>>(StringComparer.Ordinal);
        var hashOrder = new List<string>();
        hashed = 0;
        // Hashed on every core (each tensor streamed through a small buffer), used in table order. First a
        // sample of each (a few windows, the whole of a small tensor): tensors whose samples differ are
        // different and never read in full, so a model without repeats costs no pass over its weights.
        // Where more than two share a sample, the full hash splits them before any byte comparison.
        var toHash = buckets.SelectMany(b => b).ToList();
        var hashes = new byte[toHash.Count][];
        var whole = new bool[toHash.Count];
        IO.RowParallel.For(toHash.Count, IO.RowParallel.BlockBytes, (first, count) =>
        {
            for (int i = 0; i < count; i++) hashes[first + i] = TensorBytes.SampleHash(toHash[(int)first + i], out whole[first + i]);
        });
        string SampleKey(int i) => $"{toHash[i].Type}|{Shapes.Format(toHash[i].Shape)}|{Convert.ToHexString(hashes[i])}";
        var samples = Enumerable.Range(0, toHash.Count).GroupBy(SampleKey, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var again = Enumerable.Range(0, toHash.Count).Where(i => !whole[i] && samples[SampleKey(i)] > 2).ToList();
        IO.RowParallel.For(again.Count, IO.RowParallel.BlockBytes, (first, count) =>
        {
            for (int i = 0; i < count; i++) hashes[again[(int)first + i]] = TensorBytes.Hash(toHash[again[(int)first + i]]);
        });
        foreach (var bucket in buckets)
        {
            foreach (var t in bucket)
            {
                string key = $"{t.Type}|{Shapes.Format(t.Shape)}|{(whole[hashed] ? "" : "sample:")}{Convert.ToHexString(hashes[hashed++])}";
                if (!byHash.TryGetValue(key, out var list))
                {
                    byHash[key] = list = [];
                    hashOrder.Add(key);
                }
                list.Add(t);
            }
        }

        var position = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < ir.Tensors.Count; i++) position[ir.Tensors[i].Name] = i;
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        groups = [];
        foreach (var key in hashOrder)
        {
            var remaining = byHash[key];
            // A hash match is only a candidate: confirm byte for byte against the first member. Members that
            // differ (a SHA-256 collision, never seen in practice) start their own group in the next round.
            while (remaining.Count > 1)
            {
                var kept = remaining[0];
                var keptBytes = kept.Source.Read();
                var copies = new List<string>();
                var rest = new List<Tensor>();
                for (int i = 1; i < remaining.Count; i++)
                {
                    var other = remaining[i];
                    if (TensorBytes.SameLayout(kept, other) && TensorBytes.FirstDifference(keptBytes, other.Source.Read()) < 0)
                    {
                        copies.Add(other.Name);
                        map[other.Name] = kept.Name;
                    }
                    else rest.Add(other);
                }
                if (copies.Count > 0) groups.Add((kept.Name, copies));
                remaining = rest;
            }
        }
        groups.Sort((a, b) => position[a.Kept].CompareTo(position[b.Kept]));
        return map;
    }
}
