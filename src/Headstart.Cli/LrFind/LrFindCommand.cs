using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.IO;
using Headstart.Models;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.LrFind;

/// <summary>headstart lr-find DATA: the learning-rate range test, with a plot and two suggestions.</summary>
public static class LrFindCommand
{
    private static readonly Argument<string> Data = new("data") { Description = "ImageFolder root (as for train)" };
    private static readonly Option<string> Model = Opt.Of("--model", "Model name (see 'headstart models')", ModelRegistry.DefaultModel);
    private static readonly Option<string?> Weights = Opt.Maybe<string>("--weights", "Pretrained weights file overriding the default source");
    private static readonly Option<bool> NoPretrained = Opt.Flag("--no-pretrained", "Start from random initialisation");
    private static readonly Option<string> Strategy = Opt.Choice("--strategy", "The plan whose last phase is swept (as train plans it): frozen: the head on cached features (fast); fine-tune: the unfrozen phase on images; full: everything on images", "frozen", "frozen", "fine-tune", "full");
    private static readonly Option<string?> Freeze = Opt.Maybe<string>("--freeze", "As for train: the layer groups kept frozen (see headstart train --plan)");
    private static readonly Option<string?> CacheDir = Opt.Maybe<string>("--cache-dir", "Feature cache directory (default $XDG_CACHE_HOME/headstart/features; 'none' disables)");
    private static readonly Option<int> BatchSize = Opt.Of("--batch-size", "Mini-batch size", 32);
    private static readonly Option<string> Optimizer = Opt.Choice("--optimizer", "Optimiser", "sgd", "sgd", "adamw");
    private static readonly Option<int> Iterations = Opt.Of("--iterations", "Batches the sweep spans", 100);
    private static readonly Option<double> StartLr = Opt.Of("--start-lr", "First learning rate", 1e-7);
    private static readonly Option<double> EndLr = Opt.Of("--end-lr", "Last learning rate", 10.0);
    private static readonly Option<string> Out = Opt.Of("--out", "SVG plot of loss vs learning rate", "lr.svg");
    private static readonly Option<int> Seed = Opt.Of("--seed", "Random seed", 42);
    private static readonly Option<int> Workers = Opt.Of("--workers", "Decode threads (0 = number of cores)", 0);

    public static Command Create()
    {
        var cmd = new Command("lr-find", "Find a learning rate: exponential LR sweep, smoothed loss, suggestions and a plot")
        {
            Data, Model, Weights, NoPretrained, Strategy, Freeze, BatchSize, Optimizer, Iterations, StartLr, EndLr, Out, Seed, Workers, CacheDir,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            int seed = parse.GetValue(Seed);
            var options = new TrainOptions
            {
                Model = parse.GetValue(Model)!, WeightsPath = parse.GetValue(Weights), Pretrained = !parse.GetValue(NoPretrained),
                Strategy = OptionNames.Strategy(parse.GetValue(Strategy)!),
                Freeze = parse.GetValue(Freeze) is { } f ? Training.Freeze.Parse(f) : null,
                BatchSize = parse.GetValue(BatchSize), Seed = seed, Workers = parse.GetValue(Workers), CacheDir = parse.GetValue(CacheDir),
                Optimizer = parse.GetValue(Optimizer) == "adamw" ? OptimizerKind.AdamW : OptimizerKind.Sgd,
            };
            TrainingPlanner.Plan(options, ModelRegistry.Get(options.Model));   // options without a plan fail before the data is read
            var data = ImageFolder.Load(parse.GetValue(Data)!, new ImageFolderOptions { Seed = seed });
            var reporter = new ConsoleReporter(output);
            var sweep = reporter.Run(() => new TransferTrainer(reporter).FindLearningRate(data, options, new LrFindOptions
            {
                StartLr = parse.GetValue(StartLr), EndLr = parse.GetValue(EndLr), Iterations = parse.GetValue(Iterations),
            }));
            var result = sweep.Result;
            string flag = sweep.Phase.RateOption;
            string svg = Path.GetFullPath(parse.GetValue(Out)!);
            AtomicFiles.WriteAllText(svg, LrFinder.ToSvg(result));
            output.Line($"swept {result.LearningRates.Count} batches from {result.LearningRates[0]:G3} to {result.LearningRates[^1]:G3}" +
                        (result.Diverged ? " (stopped: loss diverged)" : ""));
            output.Line($"suggested learning rate: valley [bold green]{result.Valley:G3}[/], steepest descent {result.Steepest:G3}");
            output.Line($"swept phase {sweep.PhaseIndex} '{Markup.Escape(sweep.Phase.Name)}' of the plan ({sweep.Phase.TrainedGroups.Count} layer group(s) training, on " +
                        $"{(sweep.Phase.Input == PhaseInput.CachedFeatures ? "cached features" : "images")})");
            output.Line($"plot: [bold]{Markup.Escape(svg)}[/]; train with e.g. headstart train DATA {flag} {result.Valley:G3}");
            return (Shell.Ok, new
            {
                valley = result.Valley, steepest = result.Steepest, diverged = result.Diverged, batches = result.LearningRates.Count,
                plot = svg, lrs = result.LearningRates, losses = result.Losses, option = flag,
                phase = new { index = sweep.PhaseIndex, name = sweep.Phase.Name, input = sweep.Phase.Input, frozen_groups = sweep.Phase.FrozenGroups },
            });
        }));
        return cmd;
    }
}
