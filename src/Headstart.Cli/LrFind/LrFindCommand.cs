using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.IO;
using Headstart.Models;
using Headstart.Training;
using Headstart.Weights;
using Spectre.Console;

namespace Headstart.Cli.LrFind;

/// <summary>headstart lr-find DATA: the learning-rate range test, with a plot and two suggestions.</summary>
public static class LrFindCommand
{
    private static readonly Argument<string> Data = new("data") { Description = "ImageFolder root (as for train)" };
    private static readonly Option<string> Model = Opt.Of("--model", "Model name (see 'headstart models')", ModelRegistry.DefaultModel);
    private static readonly Option<string?> Weights = Opt.Maybe<string>("--weights", "Pretrained weights file overriding the default source");
    private static readonly Option<bool> NoPretrained = Opt.Flag("--no-pretrained", "Start from random initialisation");
    private static readonly Option<string> Strategy = Opt.Choice("--strategy", "frozen: sweep the head on cached features (fast); fine-tune/full: sweep the whole unfrozen network on augmented images", "frozen", "frozen", "fine-tune", "full");
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
            Data, Model, Weights, NoPretrained, Strategy, BatchSize, Optimizer, Iterations, StartLr, EndLr, Out, Seed, Workers,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            int seed = parse.GetValue(Seed), batch = parse.GetValue(BatchSize), workers = parse.GetValue(Workers);
            if (batch <= 0) throw new CliException("--batch-size must be positive", Shell.UsageError);
            TorchSharp.torch.manual_seed(seed);
            var data = ImageFolder.Load(parse.GetValue(Data)!, new ImageFolderOptions { Seed = seed });
            if (data.Classes.Count < 2) throw new CliException($"need at least 2 classes, found {data.Classes.Count}");
            var spec = ModelRegistry.Get(parse.GetValue(Model)!);
            using var model = spec.Create(data.Classes.Count);
            if (!parse.GetValue(NoPretrained)) Pretrained.Load(model, spec, Pretrained.Resolve(spec, parse.GetValue(Weights)));
            float[]? meanImage = spec.Preprocessing.MeanImage is { } mi ? MeanImages.Get(mi) : null;
            bool frozen = parse.GetValue(Strategy) == "frozen";
            IBatchSource train;
            if (frozen)
            {
                // The backbone runs once per image; the sweep then only trains the classifier section.
                var (x, y, _) = FeatureExtractor.Extract(model, data.Source, data.Train, ImageTransform.Eval(spec.Preprocessing, meanImage),
                    batch, seed, 0, workers, null, null, default);
                train = new TensorBatchSource(x, TorchSharp.torch.tensor(y), batch, seed);
            }
            else
            {
                train = new ImageBatchSource(data.Source, data.Train, ImageTransform.Train(spec.Preprocessing, AugmentLevel.Light, meanImage), batch, seed, workers);
            }
            var opt = new OptimizerOptions { Kind = parse.GetValue(Optimizer) == "adamw" ? OptimizerKind.AdamW : OptimizerKind.Sgd };
            using var learner = new Learner(model, spec, train, null, opt, seed: seed);
            if (frozen) learner.Freeze(); else learner.Unfreeze();
            var result = LrFinder.Run(learner, new LrFindOptions
            {
                StartLr = parse.GetValue(StartLr), EndLr = parse.GetValue(EndLr), Iterations = parse.GetValue(Iterations),
            });
            string svg = Path.GetFullPath(parse.GetValue(Out)!);
            AtomicFiles.WriteAllText(svg, LrFinder.ToSvg(result));
            output.Line($"swept {result.LearningRates.Count} batches from {result.LearningRates[0]:G3} to {result.LearningRates[^1]:G3}" +
                        (result.Diverged ? " (stopped: loss diverged)" : ""));
            output.Line($"suggested learning rate: valley [bold green]{result.Valley:G3}[/], steepest descent {result.Steepest:G3}");
            output.Line($"plot: [bold]{Markup.Escape(svg)}[/]; train with e.g. headstart train DATA --lr {result.Valley:G3}");
            return (Shell.Ok, new
            {
                valley = result.Valley, steepest = result.Steepest, diverged = result.Diverged, batches = result.LearningRates.Count,
                plot = svg, lrs = result.LearningRates, losses = result.Losses,
            });
        }));
        return cmd;
    }
}
