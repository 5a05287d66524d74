using System.CommandLine;
using System.Text.Json;
using MobileLlmConvert.Cli.Infrastructure;
using MobileLlmConvert.Core.Ir;
using MobileLlmConvert.Core.Passes;
using MobileLlmConvert.Formats;

namespace MobileLlmConvert.Cli.Verbs;

/// <summary>
/// `mlconvert inspect PATH [--json] [--raw] [--no-tensors]`: for a bundle its manifest and check first, then the model as the pipeline sees it after the sharing
/// passes (or, with --raw, as stored): family and what its rules decided on import (a head ignored,
/// an FFN shared or not), dimensions, layers executed vs stored, element types,
/// tokenizer, which steps share which stored tensors, parameter counts and the tensor table; for a
/// checkpoint directory also the weight container, stored dtypes and aliased storages (InspectWeights).
/// </summary>
public sealed class InspectVerb : IVerb
{
    public Command Build(CliContext ctx)
    {
        var path = new Argument<string>("PATH") { Description = "Hugging Face directory, .gguf file, mobile bundle directory or model file" };
        var json = new Option<bool>("--json") { Description = "one JSON document on stdout" };
        var raw = new Option<bool>("--raw") { Description = "show the checkpoint as stored, without the sharing passes" };
        var noTensors = new Option<bool>("--no-tensors") { Description = "leave out the tensor table" };
        var sharing = SharingFlags.Create();
        var cmd = new Command("inspect", "Describe a model: bundle manifest, family, dims, layers, dtypes, sharing, tensors.") { path, json, raw, noTensors };
        sharing.AddTo(cmd);
        var family = FamilyFlag.Create();
        family.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            string p = parse.GetValue(path)!;
            var kind = ModelOpener.Detect(p);
            bool asJson = parse.GetValue(json);
            // The manifest comes first: a bundle that fails its check is shown, then refused (exit 2).
            var bundle = InspectBundle.Of(p, kind);
            if (bundle is { Ok: false })
            {
                if (!asJson) foreach (var line in bundle.TextLines()) ctx.Out.WriteLine(CliApp.Line(line));
                throw bundle.Failure!;
            }
            using var opened = ModelOpener.Open(p, family.Options(parse));
            var ir = opened;
            SharingResult? passes = null;
            if (!parse.GetValue(raw))
            {
                passes = SharingPipeline.Run(opened, sharing.Options(parse));
                ir = passes.Ir;
            }
            var view = new View(p, kind, ir, SharingSummary.Of(ir), passes, bundle, !parse.GetValue(noTensors));
            if (asJson) WriteJson(ctx.Out, view);
            else WriteText(ctx.Out, view);
            return CliApp.ExitOk;
        });
        return cmd;
    }

    /// <summary>Everything inspect shows, computed once for the text and the JSON form.</summary>
    private sealed record View(string Path, IModelFormat Kind, ModelIr Ir, SharingSummary Summary, SharingResult? Passes, InspectBundle? Bundle, bool Tensors)
    {
        public IEnumerable<string> Warnings => Passes?.Reports.SelectMany(r => r.Warnings.Select(w => $"{r.Pass}: {w}")) ?? [];
    }

    /// <summary>Transformer blocks with distinct weights: LS repeats and copies folded by dedup count once.</summary>
    internal static int DistinctBlocks(ModelIr ir) => ir.Steps.Distinct().Count();

    private static Dictionary<string, long> DTypes(ModelIr ir) =>
        ir.Tensors.GroupBy(t => t.Type.Info().Name).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (long)g.Count());

    private static void WriteText(TextWriter o, View v)
    {
        var (path, kind, ir, s, passes) = (v.Path, v.Kind, v.Ir, v.Summary, v.Passes);
        var c = ir.Config;
        foreach (var line in v.Bundle?.TextLines() ?? []) o.WriteLine(CliApp.Line(line));
        o.WriteLine(CliApp.Line($"{path} ({kind.Name})"));
        o.WriteLine($"family: {c.Family} ({c.Architecture})");
        foreach (var n in ir.ImportNotes) o.WriteLine($"import: {n}");
        o.WriteLine($"dims: hidden {c.HiddenSize}, intermediate {c.IntermediateSize}, heads {c.NumHeads}, kv heads {c.NumKvHeads}, head dim {c.HeadDim}, vocab {c.VocabSize}");
        o.WriteLine($"layers: {ir.Steps.Count} executed, {DistinctBlocks(ir)} distinct blocks ({c.StoredLayers} in the checkpoint)");
        o.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"rope theta {c.RopeTheta}, rms eps {c.RmsNormEps.ToString("R", System.Globalization.CultureInfo.InvariantCulture).ToLowerInvariant()}, context {c.ContextLength}"));
        o.WriteLine($"parameters: {Format.Count(ir.StoredParameters)} stored, {Format.Count(ir.ExecutedParameters)} executed");
        o.WriteLine("dtypes: " + string.Join(", ", DTypes(ir).Select(kv => $"{kv.Key} x{kv.Value}")));
        foreach (var line in InspectWeights.Of(path, kind)?.TextLines() ?? []) o.WriteLine(line);
        if (ir.Tokenizer is { } tok)
            o.WriteLine($"tokenizer: {TokenizerType(tok)}, {tok.Count} pieces, bos {tok.BosId}, eos {tok.EosId}, unk {tok.UnkId}, add_bos {tok.AddBos.ToString().ToLowerInvariant()}");
        else
            o.WriteLine("tokenizer: none (token ids only)");
        foreach (var line in s.ToTextLines()) o.WriteLine(line);
        if (passes is not null)
        {
            var t = passes.Totals;
            if (t.KvCacheBytesPerTokenAfter != t.KvCacheBytesPerTokenBefore)
                o.WriteLine($"kv cache: {Format.Count(t.KvCacheBytesPerTokenBefore)} -> {Format.Count(t.KvCacheBytesPerTokenAfter)} bytes per token after folding {t.KvHeadsBefore} -> {t.KvHeadsAfter} kv heads ({1 - (double)t.KvCacheBytesPerTokenAfter / t.KvCacheBytesPerTokenBefore:P0} smaller)");
            foreach (var r in passes.Reports)
            {
                foreach (var n in r.Notes) o.WriteLine($"pass {r.Pass}: {n}");
                foreach (var w in r.Warnings) o.WriteLine($"pass {r.Pass}: warning: {w}");
            }
        }
        if (!v.Tensors) return;
        o.WriteLine("tensors:");
        foreach (var u in s.Tensors)
        {
            string used = u.Steps.Count > 0 ? $" steps {NamePatterns.Ranges(u.Steps)}" : "";
            o.WriteLine($"  {u.Key,-48} {u.Type,-9} {Shapes.Format(u.Shape),-14} {Format.Bytes(u.Bytes),10}  {string.Join('/', u.Roles)}{used}");
        }
    }

    private static void WriteJson(TextWriter o, View v) =>
        JsonContract.Write(o, "inspect", w =>
        {
            var (path, kind, ir, s, passes) = (v.Path, v.Kind, v.Ir, v.Summary, v.Passes);
            var c = ir.Config;
            w.WriteString("input", path);
            w.WriteFormat(kind.Name, null);
            v.Bundle?.WriteJson(w);
            w.WriteBoolean("raw", passes is null);
            w.WriteString("family", c.Family.ToString());
            w.WriteString("architecture", c.Architecture);
            w.WriteNotes(ir.ImportNotes);
            w.WriteWarnings(v.Warnings);
            w.WriteStartObject("config");
            w.WriteNumber("vocab_size", c.VocabSize);
            w.WriteNumber("hidden_size", c.HiddenSize);
            w.WriteNumber("intermediate_size", c.IntermediateSize);
            w.WriteNumber("num_attention_heads", c.NumHeads);
            w.WriteNumber("num_key_value_heads", c.NumKvHeads);
            w.WriteNumber("head_dim", c.HeadDim);
            w.WriteNumber("rope_theta", c.RopeTheta);
            w.WriteNumber("rms_norm_eps", c.RmsNormEps);
            w.WriteNumber("context_length", c.ContextLength);
            w.WriteEndObject();
            w.WriteStartObject("layers");
            w.WriteNumber("executed", ir.Steps.Count);
            w.WriteNumber("distinct_blocks", DistinctBlocks(ir));
            w.WriteNumber("checkpoint", c.StoredLayers);
            w.WriteEndObject();
            w.WriteParameters(ir.StoredParameters, ir.ExecutedParameters);
            w.WriteBytes(ir.StoredBytes, null);
            w.WriteBoolean("head_tied", ir.IsTied);
            w.WriteStartObject("dtypes");
            foreach (var (name, count) in DTypes(ir)) w.WriteNumber(name, count);
            w.WriteEndObject();
            InspectWeights.Of(path, kind)?.WriteJson(w);
            w.WriteStartObject("kv_cache");
            w.WriteNumber("kv_heads", c.NumKvHeads);
            w.WriteNumber("bytes_per_token", s.KvCacheBytesPerToken);
            if (passes is not null) w.WriteNumber("bytes_per_token_before_passes", passes.Totals.KvCacheBytesPerTokenBefore);
            w.WriteEndObject();
            if (ir.Tokenizer is { } tok)
            {
                w.WriteStartObject("tokenizer");
                w.WriteString("type", TokenizerType(tok));
                w.WriteNumber("pieces", tok.Count);
                w.WriteNumber("bos", tok.BosId);
                w.WriteNumber("eos", tok.EosId);
                w.WriteNumber("unk", tok.UnkId);
                w.WriteBoolean("add_bos", tok.AddBos);
                w.WriteEndObject();
            }
            else w.WriteNull("tokenizer");
            if (passes is not null)
            {
                w.WritePropertyName("passes");
                PassJson.Write(w, passes);
            }
            w.WriteStartArray("shared");
            foreach (var g in s.Shared)
            {
                w.WriteStartObject();
                w.WriteString("what", g.What);
                w.WriteString("keys_text", g.KeysText);
                w.WriteNumbers("steps", g.Steps.Select(i => (long)i));
                w.WriteStrings("keys", g.Keys);
                w.WriteNumber("parameters", g.Parameters);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (!v.Tensors) return;
            w.WriteStartArray("tensors");
            foreach (var u in s.Tensors)
            {
                w.WriteStartObject();
                w.WriteString("name", u.Key);
                w.WriteString("type", u.Type);
                w.WriteNumbers("shape", u.Shape);
                w.WriteNumber("parameters", u.Parameters);
                w.WriteNumber("bytes", u.Bytes);
                w.WriteStrings("roles", u.Roles);
                w.WriteNumbers("steps", u.Steps.Select(i => (long)i));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });

    /// <summary>"sentencepiece", or "byte-level bpe (PRE)" with the llama.cpp pre-tokenizer name.</summary>
    private static string TokenizerType(TokenizerIr tok) =>
        tok.Kind == TokenizerKind.ByteLevelBpe ? $"byte-level bpe ({tok.PreTokenizer})" : "sentencepiece";
}
