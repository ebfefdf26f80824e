using System.CommandLine;
using System.Globalization;
using Headstart.Cli.Common;
using Headstart.Cli.Train;
using Headstart.Data;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Check;

/// <summary>headstart check DATA --labels: the training images most likely mislabelled, by out-of-fold loss
/// (<see cref="LabelAudit"/>).</summary>
internal static class CheckLabels
{
    public static readonly Option<bool> Labels = Opt.Flag("--labels",
        "Rank the training images by out-of-fold loss (k heads on the cached features, each image scored by a head that never saw it): likely label errors first. Replaces the file checks");
    private static readonly Option<int> Folds = Opt.Of("--folds", "--labels: heads trained, each with one fold of the training images held out", new LabelAuditOptions().Folds);
    private static readonly Option<int> Top = Opt.Of("--top", "--labels: suspects to print and put in --json", 20);
    private static readonly Option<int?> Epochs = Opt.Maybe<int?>("--epochs", $"--labels: epochs of each head (default: the frozen recipe's, {TrainOptions.FrozenRecipeEpochs})");
    private static readonly Option<string?> CacheDir = Opt.Maybe<string>("--cache-dir", "--labels: feature cache directory, shared with train (default $XDG_CACHE_HOME/headstart/features; 'none' disables)");

    /// <summary>The options --labels adds to check; model, weights, split and seed are train's own.</summary>
    public static IEnumerable<Option> Options =>
        [Labels, Folds, Top, Epochs, CacheDir, TrainCommand.Model, TrainCommand.Weights, TrainCommand.ValSplit, TrainCommand.Seed];

    public static (int, object?) Run(ParseResult parse, Output output, string dataPath)
    {
        int folds = parse.GetValue(Folds), top = parse.GetValue(Top);
        if (folds < 2) throw new CliException($"--folds must be 2 or more (each image is scored by a head trained on the other folds), got {folds}", Shell.UsageError);
        if (top < 0) throw new CliException($"--top must be 0 or more, got {top}", Shell.UsageError);
        if (parse.GetValue(Epochs) is < 1) throw new CliException($"--epochs must be 1 or more, got {parse.GetValue(Epochs)}", Shell.UsageError);
        var options = new TrainOptions
        {
            Model = parse.GetValue(TrainCommand.Model)!, WeightsPath = parse.GetValue(TrainCommand.Weights), CacheDir = parse.GetValue(CacheDir),
            Seed = parse.GetValue(TrainCommand.Seed), ValSplit = parse.GetValue(TrainCommand.ValSplit),
        };
        var data = ImageFolder.Load(dataPath, new ImageFolderOptions { ValSplit = options.ValSplit, Seed = options.Seed });
        output.Line($"[bold]{Markup.Escape(data.Root)}[/]: {data.Classes.Count} classes, {data.Train.Count} training images ({data.SplitKind}); " +
                    $"label audit with {Markup.Escape(options.Model)}'s features");
        if (data.DecisionsNote is { } decided) output.Line($"[grey]note: {Markup.Escape(decided)}[/]");
        var reporter = new ConsoleReporter(output);
        var audit = reporter.Run(() => LabelAudit.Run(data, options,
            new LabelAuditOptions { Folds = folds, Epochs = parse.GetValue(Epochs), Seed = options.Seed }, reporter));

        string Relative(string path) => Path.GetRelativePath(data.Root, path).Replace('\\', '/');
        static string P(float p) => p.ToString("P1", CultureInfo.InvariantCulture);
        var shown = audit.Ranked.Take(top).ToList();
        if (shown.Count > 0)
        {
            var table = new Table().AddColumns("rank", "file", "given", "predicted", "p(given)", "p(predicted)", "out-of-fold loss");
            for (int i = 0; i < shown.Count; i++)
            {
                var s = shown[i];
                string predicted = Markup.Escape(audit.Classes[s.Predicted]);
                table.AddRow((i + 1).ToString(CultureInfo.InvariantCulture), Markup.Escape(Relative(s.Path)), Markup.Escape(audit.Classes[s.Label]),
                    s.Predicted == s.Label ? predicted : $"[yellow]{predicted}[/]", P(s.LabelProbability), P(s.PredictedProbability),
                    s.Loss.ToString("F3", CultureInfo.InvariantCulture));
            }
            output.Console.Write(table);
        }
        int disagree = audit.Ranked.Count(s => s.Predicted != s.Label);
        output.Line($"{audit.Ranked.Count} images ranked by out-of-fold loss with {audit.Folds} heads (each image scored by a head that never saw it) " +
                    $"in {audit.Seconds.ToString("F1", CultureInfo.InvariantCulture)} s");
        output.Line($"out-of-fold accuracy {audit.OutOfFoldAccuracy.ToString("P1", CultureInfo.InvariantCulture)}: {disagree} image(s) predicted as another class" +
                    (audit.Skipped > 0 ? $"; {audit.Skipped} training image(s) did not decode and were left out" : ""));
        output.Line($"[grey]to relabel or exclude files without touching the dataset, list them in {Markup.Escape(LabelDecisions.SidecarPath(data.Root))}; " +
                    "train and this audit honour it[/]");
        return (Shell.Ok, new
        {
            labels = new
            {
                folds = audit.Folds,
                seconds = audit.Seconds,
                out_of_fold_accuracy = audit.OutOfFoldAccuracy,
                ranked = shown.Select(s => new
                {
                    path = Relative(s.Path), label = audit.Classes[s.Label], predicted = audit.Classes[s.Predicted],
                    label_probability = s.LabelProbability, predicted_probability = s.PredictedProbability, loss = s.Loss,
                }),
                count = audit.Ranked.Count,
                skipped = audit.Skipped,
                classes = audit.Classes,
                model = options.Model,
                decisions = data.DecisionsNote,
            },
        });
    }
}
