using System.CommandLine;
using Headstart.Bundles;
using Headstart.Cli.Common;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Train;

/// <summary>
/// headstart train --features DIR: the reduce step of a sharded extraction. Checks that every shard is there and
/// agrees, then trains the head streaming rows from the shards, and saves a bundle as 'train DATA' would.
/// </summary>
internal static class TrainFromFeatures
{
    /// <summary>Options that shape features: they come from the feature set, and a different value on the command
    /// line is an error rather than silently ignored.</summary>
    private static readonly (Option Option, Func<TrainOptions, object?> Value)[] Shaping =
    [
        (TrainCommand.Model, o => o.Model), (TrainCommand.Weights, o => o.WeightsPath), (TrainCommand.Engine, o => o.Engine),
        (TrainCommand.Augment, o => o.Augment), (TrainCommand.AugmentViews, o => o.AugmentViews), (TrainCommand.Tta, o => o.TestTimeFlip),
        (TrainCommand.ValSplit, o => o.ValSplit), (TrainCommand.BatchSize, o => o.BatchSize),
    ];

    public static (int, object?) Run(ParseResult parse, Output output, string featuresDir, TrainOptions options)
    {
        if (options.Strategy != Strategy.Frozen) throw new CliException("--features trains the head on cached features: --strategy frozen only", Shell.UsageError);
        if (parse.GetValue(TrainCommand.ResumeOption) is not null) throw new CliException("--resume does not apply to --features (the head trains in seconds to minutes; run it again)", Shell.UsageError);
        var timings = new StageTimings();
        FeatureSet set;
        using (timings.Measure("open_features")) set = FeatureSet.Open(featuresDir);
        var f = set.Plan.Options;
        foreach (var (option, value) in Shaping)
            if (parse.GetResult(option) is { Implicit: false } && !Equals(value(options), value(f)))
                throw new CliException($"{option.Name} {value(options)} differs from the features in {set.Directory} ({value(f) ?? "default"}): " +
                                       "the options that shape features are the extraction's; leave it out", Shell.UsageError);
        string outDir = parse.GetValue(TrainCommand.OutOption) ?? TrainCommand.DefaultOut(set.Directory, set.Plan.Model);
        ModelBundle.EnsureReplaceable(outDir);
        var data = set.Dataset;
        output.Line($"[bold]{Markup.Escape(set.Plan.Model)}[/] head on the features in [bold]{Markup.Escape(set.Directory)}[/]: " +
                    $"{set.Plan.Shards} shard(s), {data.Classes.Count} classes, {data.Train.Count} train / {data.Val.Count} val images, " +
                    $"{set.Plan.Views.TrainViews + 1} view(s) per training image, {set.Dim}-d rows read from disk");
        if (set.Skipped.Count > 0) output.Warn($"{set.Skipped.Count} image(s) could not be decoded during extraction (see model.json)");
        var reporter = new ConsoleReporter(output);
        using var result = reporter.Run(() => new TransferTrainer(reporter, timings).Train(set, options));
        return TrainCommand.Finish(output, result, data, outDir, checkpointDir: null, timings,
            new { model = set.Plan.Model, features = set.Directory, shards = set.Plan.Shards });
    }
}
