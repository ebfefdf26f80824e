using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Models;
using Headstart.Weights;
using Spectre.Console;

namespace Headstart.Cli.Models;

/// <summary>headstart models [NAME] [--weights PATH]: the zoo, one model's details, or a check that a file loads.</summary>
public static class ModelsCommand
{
    private static readonly Argument<string?> Name = new("name") { Description = "Show one model's details", Arity = ArgumentArity.ZeroOrOne };
    private static readonly Option<string?> Weights = Opt.Maybe<string>("--weights", "With NAME: check that this weights file (.pth, .safetensors, .onnx) loads into the model");

    public static Command Create()
    {
        var cmd = new Command("models", "List the model zoo: parameters, input size, pretrained weights on this machine") { Name, Weights };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var store = new WeightStore();
            string? name = parse.GetValue(Name);
            if (name is not null) return Details(output, ModelRegistry.Get(name), store, parse.GetValue(Weights));
            if (parse.GetValue(Weights) is not null) throw new CliException("--weights needs a model NAME to load into", Shell.UsageError);
            var parameters = CountParameters(output, ModelRegistry.All.ToList());
            var rows = ModelRegistry.All.Select(spec => new
            {
                name = spec.Name,
                family = spec.Family,
                parameters = parameters[spec.Name],
                input_size = spec.PreprocessingFor(spec.WeightSources.FirstOrDefault()).InputSize,
                pretrained = Availability(spec, store),
                description = spec.Description,
            }).ToList();
            var table = new Table().AddColumns("model", "family", "params", "input", "pretrained weights", "description");
            foreach (var r in rows)
                table.AddRow(r.name, r.family, $"{r.parameters / 1e6:F1}M", r.input_size.ToString(),
                    r.pretrained switch { "embedded" => "[green]embedded[/]", "present" => "[green]present[/]", var a => $"[grey]{a}[/]" },
                    Markup.Escape(r.description));
            output.Console.Write(table);
            output.Line($"{rows.Count} models; default [bold]{ModelRegistry.DefaultModel}[/]. " +
                        "Fetch torchvision weights with 'headstart weights download NAME' (needs internet), or pass --weights PATH to train.");
            return (Shell.Ok, new { models = rows });
        }));
        return cmd;
    }

    /// <summary>"embedded", "present" (in the weight store), "download" (a URL is known) or "none".</summary>
    private static string Availability(ModelSpec spec, WeightStore store)
    {
        if (spec.WeightSources.Any(s => s.Embedded && store.IsPresent(s))) return "embedded";
        if (spec.WeightSources.Any(s => !s.Embedded && store.IsPresent(s))) return "present";
        return spec.WeightSources.Any(s => s.Url is not null) ? "download" : "none";
    }

    /// <summary>Every model's parameter count; the first listing on a build builds each model once (tens of seconds
    /// for the zoo), with a progress bar, and later ones read the counts from the cache.</summary>
    private static Dictionary<string, long> CountParameters(Output output, IReadOnlyList<ModelSpec> specs)
    {
        var missing = specs.Where(s => !ParameterCounts.IsKnown(s)).ToList();
        if (missing.Count > 0)
        {
            string what = $"counting parameters of {missing.Count} models (once per Headstart build)";
            if (output.Console.Profile.Capabilities.Interactive && !output.IsJson)
                output.Console.Progress().AutoClear(true)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                        new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask(what, maxValue: missing.Count);
                        foreach (var spec in missing) { ParameterCounts.Of(spec); task.Increment(1); }
                    });
            else
            {
                output.Line($"[grey]{what}...[/]");
                foreach (var spec in missing) ParameterCounts.Of(spec);
            }
        }
        return specs.ToDictionary(s => s.Name, ParameterCounts.Of);
    }

    private static (int, object?) Details(Output output, ModelSpec spec, WeightStore store, string? weights)
    {
        var grid = new Grid().AddColumn().AddColumn();
        void Row(string k, string v) => grid.AddRow($"[bold]{k}[/]", Markup.Escape(v));
        static string Text(Preprocessing p) =>
            $"resize {p.ResizeSize}, centre crop {p.InputSize}, {p.ChannelOrder}, 0-{p.ValueScale:g}, mean [{string.Join(", ", p.Mean)}], std [{string.Join(", ", p.Std)}]" +
            (p.MeanImage is null ? "" : $", minus mean image '{p.MeanImage}'");
        Row("model", $"{spec.Name} ({spec.Family}): {spec.Description}");
        Row("parameters", $"{ModelRegistry.ParameterCount(spec):N0} at 1000 classes");
        Row("preprocessing", $"{Text(spec.Preprocessing)} (from random initialisation; each weight source below may have its own)");
        Row("classifier section", $"{spec.ClassifierPrefix} (trained when frozen); head replaced: {spec.HeadPrefix}");
        Row("layer groups", string.Join("  |  ", spec.LayerGroups.Select((g, i) => $"{i}: {g.Name} [{string.Join(", ", g.Prefixes)}]")));
        foreach (var s in spec.WeightSources)
        {
            Row($"weights {s.Id}", $"{s.FileName} ({s.Format}) {(store.IsPresent(s) ? "present: " + store.PathFor(s) : s.Url ?? "not present")}");
            Row("", $"origin: {s.Origin}; head: {(s.HeadClasses is int k ? $"{k} classes" : "none (features only)")}; " +
                    $"engines: {s.Engines}{(s.FeatureOutput is { } fo ? $"; features: output '{fo}'" : "")}" +
                    (s.Sha256Prefix is { } sha ? $"; sha256 {sha}..." : ""));
            if (s.Preprocessing is { } sp) Row("", $"preprocessing: {Text(sp)}");
        }
        output.Console.Write(grid);
        object? loadResult = null;
        if (weights is not null)
        {
            using var model = spec.Create();
            using var sd = WeightFile.Read(weights);
            var report = WeightLoader.Load(model, sd, spec, source: spec.SourceOf(weights));
            output.Line($"[green]{Markup.Escape(weights)} loads into {spec.Name}[/]: {report.Loaded.Count} tensors" +
                        (report.SkippedHead.Count > 0 ? $", head skipped ({report.SkippedHead.Count} keys)" : "") +
                        (report.Widened.Count > 0 ? $", {report.Widened.Count} widened to float32" : ""));
            loadResult = new { file = weights, loaded = report.Loaded.Count, skipped_head = report.SkippedHead.Count, widened = report.Widened.Count };
        }
        return (Shell.Ok, new
        {
            name = spec.Name, family = spec.Family, description = spec.Description,
            parameters = ModelRegistry.ParameterCount(spec), preprocessing = spec.Preprocessing,
            layer_groups = spec.LayerGroups.Select(g => new { name = g.Name, prefixes = g.Prefixes }),
            weight_sources = spec.WeightSources.Select(s => new
            {
                id = s.Id, file = s.FileName, format = s.Format, url = s.Url, sha256_prefix = s.Sha256Prefix, present = store.IsPresent(s),
                origin = s.Origin, head_classes = s.HeadClasses, engines = s.Engines.ToString(), feature_output = s.FeatureOutput,
                preprocessing = spec.PreprocessingFor(s),
            }),
            weights_check = loadResult,
        });
    }
}
