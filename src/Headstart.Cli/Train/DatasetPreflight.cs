using System.Diagnostics;
using Headstart.Bundles;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Train;

/// <summary>
/// What <c>train</c> runs before anything else: the <c>headstart check</c> checks at header level (every file read,
/// hashed and probed, not decoded, so a cold run stays about as fast as without it), then a short summary. A fatal
/// verdict (training would be meaningless) stops the run with exit 1 and the reason.
/// </summary>
internal static class DatasetPreflight
{
    /// <summary>Warning kinds printed in the summary, at most this many lines; 'headstart check' lists them all.</summary>
    private const int MaxLines = 6;

    public static DatasetReport? Run(Output output, string data, string outDir, TrainOptions options, string? manifestRoot = null)
    {
        string? cacheRoot = FeatureCache.Root(options.CacheDir);
        bool manifest = DatasetManifest.Names(data);
        RefuseWritesUnder(manifest ? Path.GetFullPath(manifestRoot ?? Path.GetDirectoryName(Path.GetFullPath(data))!) : data, ("--out", outDir), ("--cache-dir", cacheRoot));
        ModelBundle.EnsureReplaceable(outDir); // before training, not after
        if (manifest)
        {
            // A manifest lists a big set: its rows are checked as it is read, its images where they are decoded.
            output.Line("[grey]dataset check: skipped for a manifest (bad rows are reported by line, undecodable images where they are read)[/]");
            return null;
        }
        var clock = Stopwatch.StartNew();
        var report = DatasetChecker.Check(data, new DatasetCheckOptions { DecodeImages = false, Workers = options.Workers, MemoCacheRoot = cacheRoot });
        var fatal = report.Issues.Where(i => i.Severity == CheckSeverity.Fatal).ToList();
        if (fatal.Count > 0)
            throw new CliException($"dataset check failed: {string.Join("; ", fatal.Select(i => i.Message))}. " +
                                   $"Run 'headstart check {data}' for details.");

        var warnings = report.Issues.Where(i => i.Severity == CheckSeverity.Warning).GroupBy(i => i.Kind).ToList();
        output.Line($"dataset check: {report.Images} images in {report.Files} files, {report.Classes.Count} classes, " +
                    $"{(warnings.Count == 0 ? "no warnings" : $"{report.Count(CheckSeverity.Warning)} warning(s)")} " +
                    $"[grey]({clock.Elapsed.TotalSeconds:F2}s)[/]");
        foreach (var group in warnings.Take(MaxLines))
        {
            var first = group.First();
            string where = first.Paths.Count == 0 ? "" : $" ({Path.GetRelativePath(report.Root, first.Paths[0])}" +
                                                          (first.Paths.Count > 1 ? $" +{first.Paths.Count - 1} more" : "") + ")";
            string more = group.Count() > 1 ? $"; and {group.Count() - 1} more like this" : "";
            output.Warn(first.Message + where + more);
        }
        if (warnings.Count > 0)
            output.Line($"[grey]run 'headstart check {Markup.Escape(data)}' for every issue[/]");
        return report;
    }

    /// <summary>Headstart never writes under the dataset folder: a bundle or cache there would also be scanned as a
    /// class folder by the next run.</summary>
    private static void RefuseWritesUnder(string data, params (string Option, string? Path)[] outputs)
    {
        foreach (var (option, path) in outputs)
            if (path is not null && DatasetWrites.Conflict(data, path, replacesFolder: option == "--out") is { } why)
                throw new CliException($"{option} {why}: pass {option} with a path outside it", Shell.UsageError);
    }
}
