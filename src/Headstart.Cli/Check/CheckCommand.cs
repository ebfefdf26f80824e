using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Data;
using Spectre.Console;

namespace Headstart.Cli.Check;

/// <summary>headstart check DATA: finds what would spoil training (bad files, leaks, imbalance) without training; with
/// --labels, ranks the training images by out-of-fold loss instead (<see cref="CheckLabels"/>).</summary>
public static class CheckCommand
{
    public static Command Create()
    {
        var data = new Argument<string>("DATA") { Description = "ImageFolder dataset: DATA/<class>/* or DATA/train/<class>/* + DATA/val/<class>/*" };
        var maxPixels = new Option<long>("--max-pixels")
        {
            Description = "Refuse images whose header declares more pixels (decompression-bomb guard)",
            DefaultValueFactory = _ => new DatasetCheckOptions().MaxPixels,
        };
        var show = new Option<int>("--show")
        {
            Description = "Issue rows to print (all of them go to --json)",
            DefaultValueFactory = _ => 50,
        };
        var cmd = new Command("check", "Check a dataset without training: undecodable, tiny or duplicate files, leaks, imbalance; " +
                                       "with --labels, the training images most likely mislabelled")
        {
            data, maxPixels, show,
        };
        foreach (var option in CheckLabels.Options) cmd.Options.Add(option);
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            if (parse.GetValue(CheckLabels.Labels)) return CheckLabels.Run(parse, output, parse.GetValue(data)!);
            long limit = parse.GetValue(maxPixels);
            if (limit < 1) throw new CliException("--max-pixels must be positive", Shell.UsageError);
            var report = DatasetChecker.Check(parse.GetValue(data)!, new DatasetCheckOptions { MaxPixels = limit });
            Print(output, report, Math.Max(0, parse.GetValue(show)));
            return (report.Verdict == DatasetVerdict.Fatal ? Shell.RuntimeError : Shell.Ok, report);
        }));
        return cmd;
    }

    private static void Print(Output output, DatasetReport report, int show)
    {
        var console = output.Console;
        console.MarkupLine($"[bold]{Markup.Escape(report.Root)}[/] ({(report.Layout == "folders" ? "train/ + val/ folders" : "one folder per class, split at train time")})");
        var classes = new Table().AddColumns("class", report.Layout == "folders" ? "train" : "images", "val");
        foreach (var c in report.Classes) classes.AddRow(Markup.Escape(c.Name), c.Train.ToString(), c.Val.ToString());
        console.Write(classes);
        console.MarkupLine($"{report.Images} readable images in {report.Files} files");

        if (report.Issues.Count > 0)
        {
            var issues = new Table().AddColumns("severity", "issue", "details", "file");
            var ordered = report.Issues.OrderByDescending(i => i.Severity).ToList();
            foreach (var issue in ordered.Take(show))
            {
                string colour = issue.Severity switch { CheckSeverity.Fatal => "red", CheckSeverity.Warning => "yellow", _ => "grey" };
                string file = issue.Paths.Count == 0 ? ""
                    : Path.GetRelativePath(report.Root, issue.Paths[0]) + (issue.Paths.Count > 1 ? $" (+{issue.Paths.Count - 1} more)" : "");
                issues.AddRow($"[{colour}]{issue.Severity.ToString().ToLowerInvariant()}[/]", issue.Kind.ToString(),
                    Markup.Escape(issue.Message), Markup.Escape(file));
            }
            console.Write(issues);
            if (ordered.Count > show) console.MarkupLine($"[grey]{ordered.Count - show} more issue(s); use --show or --json to see all[/]");
        }

        string verdict = report.Verdict switch
        {
            DatasetVerdict.Ok => "[green]OK[/]: ready to train",
            DatasetVerdict.Warnings => $"[yellow]{report.Count(CheckSeverity.Warning)} warning(s)[/]: training can run; undecodable and non-image files are skipped",
            _ => "[red]fatal[/]: training would be meaningless; fix the problems above",
        };
        console.MarkupLine(verdict);
    }
}
