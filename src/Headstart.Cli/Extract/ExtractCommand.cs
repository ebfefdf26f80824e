using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Cli.Train;
using Headstart.Data;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Extract;

/// <summary>
/// headstart extract DATA --out DIR [--shard I/N]: one worker of a sharded feature extraction, for a cluster's job
/// array (Slurm, Kubernetes Indexed Jobs). The worker contract: the index comes from --shard or the engine's variable;
/// a finished shard's re-run exits 0 at once; a killed one resumes; exit 0 = done, 3 = permanent failure (do not
/// retry; a command line that does not parse included), anything else = worth retrying. 'headstart train --features DIR' merges the shards and trains the head.
/// </summary>
public static class ExtractCommand
{
    /// <summary>A failure that retrying cannot fix (bad input, another plan in the folder): a Kubernetes
    /// podFailurePolicy's FailIndex, a Slurm requeue that should not happen.</summary>
    public const int PermanentFailure = 3;
    /// <summary>A failure of the file system (a full disk, a lost mount): worth retrying (sysexits' EX_TEMPFAIL).</summary>
    public const int TransientFailure = 75;

    private static readonly Argument<string> Data = new("data") { Description = "ImageFolder root, or a manifest (.csv or .jsonl: path,label[,split]) of a big set" };
    private static readonly Option<string> Out = new("--out") { Description = "Feature directory shared by every shard (plan.json, files.tsv, shard-I-of-N/)", Required = true };
    private static readonly Option<string?> Shard = Opt.Maybe<string>("--shard", "This worker's shard, I/N with 0 <= I < N (default: from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID with --shards, else 0/1)");
    private static readonly Option<int?> Shards = Opt.Maybe<int?>("--shards", "Shard count when the index comes from the cluster engine (default: SLURM_ARRAY_TASK_COUNT under Slurm)");
    private static readonly Option<int> IndexBase = Opt.Of("--index-base", "First index of the engine's array (1 for 'sbatch --array=1-N'); the shard is the index minus this", 0);
    internal static readonly Option<string?> Root = Opt.Maybe<string>("--root", "A manifest's root: its relative paths start here (default: the manifest's folder)");
    internal static readonly Option<bool> AllowOutside = Opt.Flag("--allow-outside-root", "Accept manifest paths that resolve outside the root (absolute paths, '..', symlinks out)");

    public static Command Create()
    {
        var cmd = new Command("extract", "Extract frozen backbone features for one shard of a dataset (a cluster job array's worker); train on them with 'train --features'")
        {
            Data, Out, Shard, Shards, IndexBase, TrainCommand.Model, TrainCommand.Weights, TrainCommand.Engine, TrainCommand.BatchSize,
            TrainCommand.Augment, TrainCommand.AugmentViews, TrainCommand.Tta, TrainCommand.ValSplit, TrainCommand.Seed, TrainCommand.Workers,
            Root, AllowOutside,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var assigned = WorkerIndex.Resolve(parse.GetValue(Shard), parse.GetValue(Shards), parse.GetValue(IndexBase), Environment.GetEnvironmentVariable);
            var o = new TrainOptions
            {
                Model = parse.GetValue(TrainCommand.Model)!,
                WeightsPath = parse.GetValue(TrainCommand.Weights),
                Engine = OptionNames.Engine(parse.GetValue(TrainCommand.Engine)!),
                BatchSize = parse.GetValue(TrainCommand.BatchSize) is > 0 and var b ? b : throw new CliException("--batch-size must be positive", Shell.UsageError),
                Augment = OptionNames.Augment(parse.GetValue(TrainCommand.Augment)!),
                AugmentViews = parse.GetValue(TrainCommand.AugmentViews),
                TestTimeFlip = parse.GetValue(TrainCommand.Tta),
                ValSplit = parse.GetValue(TrainCommand.ValSplit),
                Seed = parse.GetValue(TrainCommand.Seed),
                Workers = parse.GetValue(TrainCommand.Workers),
            };
            string data = parse.GetValue(Data)!, dir = Path.GetFullPath(parse.GetValue(Out)!);
            if (DatasetWrites.Conflict(data, dir, replacesFolder: false) is { } why)
                throw new CliException($"--out {why}: pass --out with a path outside it", Shell.UsageError);
            var dataset = ImageDatasets.Open(data, o.ValSplit, o.Seed, parse.GetValue(Root), parse.GetValue(AllowOutside));
            output.Line($"shard {assigned.Index} of {assigned.Count} ({Markup.Escape(assigned.From)}): {Markup.Escape(data)}, {dataset.Classes.Count} classes, " +
                        $"{dataset.Train.Count} train / {dataset.Val.Count} val ({dataset.SplitKind}) into {Markup.Escape(dir)}");
            if (dataset.Skipped.Count > 0)
            {
                output.Warn($"{dataset.Skipped.Count} file(s) or row(s) skipped while listing; first: {dataset.Skipped[0].Path}: {dataset.Skipped[0].Reason}");
            }
            var reporter = new ConsoleReporter(output);
            var outcome = reporter.Run(() => new ShardExtractor(reporter).Extract(dataset, o, dir, assigned.Index, assigned.Count));
            output.Line(outcome.AlreadyDone
                ? $"shard {outcome.Shard} of {outcome.Shards} was already done{(outcome.WaitedForOther ? " (by the worker this one waited for)" : "")}: {outcome.Rows} feature rows in {Markup.Escape(outcome.Directory)}"
                : $"shard {outcome.Shard} of {outcome.Shards} done: {outcome.Rows} feature rows, {outcome.Skipped} undecodable, {outcome.Chunks} chunk(s)" +
                  (outcome.ChunksResumed > 0 ? $" ({outcome.ChunksResumed} kept from an interrupted run)" : "") + $", {outcome.Seconds:F1}s");
            output.Line($"when every shard is done: headstart train --features {Markup.Escape(dir)}");
            return (Shell.Ok, new
            {
                shard = outcome.Shard, shards = outcome.Shards, index_from = assigned.From, features = dir, shard_dir = outcome.Directory,
                already_done = outcome.AlreadyDone, waited_for_other = outcome.WaitedForOther, chunks = outcome.Chunks,
                chunks_resumed = outcome.ChunksResumed, rows = outcome.Rows, skipped = outcome.Skipped, listed_skipped = dataset.Skipped.Count,
                seconds = outcome.Seconds,
            });
        }, ExitCodeOf));
        return cmd;
    }

    /// <summary>The worker contract's exit codes: Headstart's own errors (bad input, a plan mismatch, a usage error)
    /// and a permission the worker lacks are permanent; the file system's other errors (a full disk, a lost mount)
    /// are worth retrying.</summary>
    internal static int ExitCodeOf(Exception ex) => ex switch
    {
        HeadstartException or CliException or UnauthorizedAccessException => PermanentFailure,
        IOException => TransientFailure,
        _ => Shell.InternalError,
    };
}
