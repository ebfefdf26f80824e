using System.Text.Json.Nodes;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.Models;
using Headstart.Reporting;
using Headstart.Studio.Api;
using Headstart.Training;

namespace Headstart.Studio.Jobs;

/// <summary>What a job does: the same verbs as the CLI's train and compare, with the job's reporter.</summary>
public sealed class JobRunner(StudioOptions options, DatasetCatalog catalog)
{
    /// <summary>Where a job's output goes: a bundle folder (train) or a comparison page (compare); an audit's ranking
    /// is its result.</summary>
    public string? OutputOf(Job job) => job.Request.Kind switch
    {
        "compare" => Path.Combine(options.OutputRoot, "comparisons", job.Id + ".html"),
        "train" => Path.Combine(options.OutputRoot, "bundles", job.Id),
        _ => null,
    };

    /// <summary>Training images ranked in an audit's result (the rest are counted).</summary>
    public const int AuditShown = 200;

    /// <summary>Throws a <see cref="HeadstartException"/> (or a plan error) for a request that cannot run.</summary>
    public void Validate(JobRequest r)
    {
        if (r.Kind is not ("train" or "compare" or "audit")) throw new HeadstartException($"unknown job kind '{r.Kind}' (train, compare or audit)");
        catalog.Resolve(r.Dataset);
        var o = TrainOptionsOf(r);
        TrainingPlanner.Plan(o, ModelRegistry.Get(o.Model));
        if (r.Shots?.Any(k => k < 1) == true) throw new HeadstartException("shots must be positive");
        if (r.Seeds is < 1 or > 10) throw new HeadstartException("seeds must be 1 to 10");
        SkipOf(r);
    }

    private static HashSet<Recipe> SkipOf(JobRequest r) => [.. (r.Skip ?? []).Select(OptionNames.SkippableRecipe)];

    public TrainOptions TrainOptionsOf(JobRequest r) => new()
    {
        Model = string.IsNullOrEmpty(r.Model) ? ModelRegistry.DefaultModel : r.Model,
        Strategy = string.IsNullOrEmpty(r.Strategy) ? Strategy.Frozen : OptionNames.Strategy(r.Strategy),
        Epochs = r.Epochs is int e ? (e is >= 1 and <= 500 ? e : throw new HeadstartException("epochs must be 1 to 500")) : 25,
        Augment = string.IsNullOrEmpty(r.Augment) ? AugmentLevel.Light : OptionNames.Augment(r.Augment),
        AugmentViews = r.AugmentViews,
        TestTimeFlip = r.Tta,
        HeadFit = string.IsNullOrEmpty(r.HeadFit) ? null : OptionNames.HeadFit(r.HeadFit),
        Seed = r.Seed ?? 42,
        ValSplit = r.ValSplit ?? 0.2,
    };

    /// <summary>The plan a request would run on its dataset, as train --plan shows it.</summary>
    public TrainingPlan Plan(JobRequest r)
    {
        var o = TrainOptionsOf(r);
        var data = ImageFolder.Load(catalog.Resolve(r.Dataset), new ImageFolderOptions { ValSplit = o.ValSplit, Seed = o.Seed });
        return TrainingPlanner.Plan(o, ModelRegistry.Get(o.Model), DataShape.Of(data));
    }

    public void Run(Job job, CancellationToken ct)
    {
        var r = job.Request;
        var o = TrainOptionsOf(r);
        var data = ImageFolder.Load(catalog.Resolve(r.Dataset), new ImageFolderOptions { ValSplit = o.ValSplit, Seed = o.Seed });
        var reporter = new JobReporter(job, ct);
        reporter.Info($"{r.Dataset}: {data.Classes.Count} classes, {data.Train.Count} train / {data.Val.Count} val images ({data.SplitKind})");
        if (r.Kind == "audit")
        {
            // The label cleaner: out-of-fold losses of the training images, from k heads on the cached features.
            var audit = LabelAudit.Run(data, o, new LabelAuditOptions { Seed = o.Seed }, reporter, ct);
            job.Result = new JsonObject
            {
                ["ranked"] = new JsonArray([.. audit.Ranked.Take(AuditShown).Select(x => (JsonNode)new JsonObject
                {
                    ["path"] = Path.GetRelativePath(data.Root, x.Path).Replace('\\', '/'),
                    ["label"] = audit.Classes[x.Label], ["predicted"] = audit.Classes[x.Predicted],
                    ["label_probability"] = x.LabelProbability, ["predicted_probability"] = x.PredictedProbability, ["loss"] = x.Loss,
                })]),
                ["count"] = audit.Ranked.Count, ["folds"] = audit.Folds, ["seconds"] = audit.Seconds,
                ["out_of_fold_accuracy"] = audit.OutOfFoldAccuracy, ["skipped"] = audit.Skipped,
                ["classes"] = new JsonArray([.. audit.Classes.Select(c => (JsonNode)JsonValue.Create(c)!)]),
            };
            return;
        }
        string output = OutputOf(job)!;
        if (r.Kind == "compare")
        {
            var co = new ComparisonOptions
            {
                Model = o.Model, Seed = o.Seed, ValSplit = o.ValSplit, Seeds = r.Seeds ?? 1, Shots = r.Shots ?? [5, 10, 20],
                Epochs = r.Epochs, AugmentViews = o.AugmentViews, Skip = SkipOf(r),
            };
            using var result = new Comparison(reporter).Run(data, co);
            ct.ThrowIfCancellationRequested();
            Directory.CreateDirectory(Path.GetDirectoryName(output)!);
            string tmp = output + ".tmp-" + Environment.ProcessId;
            ComparisonReport.Write(tmp, result);
            File.Move(tmp, output, overwrite: true);
            job.Output = output;
            job.Result = new JsonObject
            {
                ["runs"] = new JsonArray([.. result.Runs.Select(x => (JsonNode)new JsonObject
                {
                    ["name"] = x.Name, ["val_accuracy"] = x.ValAccuracy, ["seconds"] = x.Seconds, ["trainable_parameters"] = x.TrainableParameters,
                })]),
                ["findings"] = new JsonArray([.. ComparisonFindings.Of(result).Summary.Select(f => (JsonNode)JsonValue.Create(f)!)]),
            };
            return;
        }
        using var trained = new TransferTrainer(reporter).Train(data, o, null, ct);
        ct.ThrowIfCancellationRequested();
        reporter.Info("saving the bundle and its report");
        // Atomic: a job cancelled or failed before this line leaves no bundle, and this line leaves a whole one.
        ModelBundle.Save(output, trained, tmp =>
            TrainingReport.WriteInto(tmp, trained.Manifest, ReportData.Collect(data, data.Classes, trained.ValPredictions)));
        job.Output = output;
        job.Result = new JsonObject
        {
            ["val_accuracy"] = trained.Metrics.Accuracy,
            ["macro_f1"] = trained.Metrics.MacroF1,
            ["classes"] = new JsonArray([.. data.Classes.Select(c => (JsonNode)JsonValue.Create(c)!)]),
            ["model"] = trained.Spec.Name,
            ["train_count"] = data.Train.Count,
            ["val_count"] = data.Val.Count,
            ["seconds"] = trained.Manifest.TrainSeconds,
        };
    }
}
