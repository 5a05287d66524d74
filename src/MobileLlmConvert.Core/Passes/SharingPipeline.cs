using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Core.Passes;

/// <summary>Which sharing passes to skip (`--no-tie`, `--no-dedup`, `--no-fold-gqa`).</summary>
public sealed record SharingOptions
{
    /// <summary>Skip TieEmbeddings (`--no-tie`).</summary>
    public bool NoTie { get; init; }
    /// <summary>Skip DedupSharedTensors (`--no-dedup`).</summary>
    public bool NoDedup { get; init; }
    /// <summary>Skip FoldGqa (`--no-fold-gqa`).</summary>
    public bool NoFoldGqa { get; init; }

    /// <summary>Every pass on.</summary>
    public static readonly SharingOptions Default = new();
}

/// <summary>The pipeline's output: the final IR, one report per pass (skipped passes included) and totals.</summary>
public sealed record SharingResult(ModelIr Ir, IReadOnlyList<PassReport> Reports, SharingTotals Totals);

/// <summary>Stored size before and after all sharing passes, for `convert`'s summary and `--json`.</summary>
public sealed record SharingTotals(
    int StoredTensorsBefore,
    int StoredTensorsAfter,
    long StoredParametersBefore,
    long StoredParametersAfter,
    long StoredBytesBefore,
    long StoredBytesAfter,
    int KvHeadsBefore,
    int KvHeadsAfter,
    long KvCacheBytesPerTokenBefore,
    long KvCacheBytesPerTokenAfter)
{
    /// <summary>Stored tensors the passes removed.</summary>
    public int TensorsMerged => StoredTensorsBefore - StoredTensorsAfter;
}

/// <summary>
/// Runs TieEmbeddings, DedupSharedTensors and FoldGqa in that order. It runs before any
/// quantization so that a shared tensor is quantized once and stays shared in the output.
/// </summary>
public static class SharingPipeline
{
    /// <summary>Runs the sharing passes <paramref name="options"/> leaves on and returns the final IR, each pass's report and the totals.</summary>
    public static SharingResult Run(ModelIr ir, SharingOptions? options = null)
    {
        options ??= SharingOptions.Default;
        var reports = new List<PassReport>();
        var current = ir;
        (IPass Pass, bool Off)[] passes =
        [
            (new TieEmbeddings(), options.NoTie),
            // With tying turned off, dedup must not tie the head behind the user's back.
            (new DedupSharedTensors(keepHeadSeparate: options.NoTie), options.NoDedup),
            (new FoldGqa(), options.NoFoldGqa),
        ];
        foreach (var (pass, off) in passes)
        {
            if (off)
            {
                reports.Add(PassReport.Unchanged(pass.Name, current, "skipped: turned off"));
                continue;
            }
            var r = pass.Run(current);
            reports.Add(r.Report);
            current = r.Ir;
        }
        // The passes keep every reference valid by construction; checking costs nothing and catches a regression here,
        // not in an emitter.
        IrValidator.Validate(current, current.SourcePath ?? "(sharing passes)");
        var totals = new SharingTotals(ir.Tensors.Count, current.Tensors.Count, ir.StoredParameters, current.StoredParameters,
            ir.StoredBytes, current.StoredBytes, ir.Config.NumKvHeads, current.Config.NumKvHeads,
            KvCacheSize.BytesPerToken(ir.Config), KvCacheSize.BytesPerToken(current.Config));
        return new(current, reports, totals);
    }
}
