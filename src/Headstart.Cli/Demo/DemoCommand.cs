using System.CommandLine;
using Headstart.Bundles;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Models;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Demo;

/// <summary>
/// headstart demo: the main job on the embedded defaults, no arguments needed: the real ImageNet ResNet18 that ships with
/// Headstart (resnet18-cntk), a few-shot Fashion-MNIST subset from the Debian package, train, evaluate, save a bundle.
/// </summary>
public static class DemoCommand
{
    private static readonly Option<int> PerClass = Opt.Of("--per-class", "Labelled training images per class (few-shot)", 20);
    private static readonly Option<int> ValPerClass = Opt.Of("--val-per-class", "Validation images per class (from the test file)", 50);
    private static readonly Option<string> Out = Opt.Of("--out", "Bundle directory to write", "headstart-demo");
    private static readonly Option<string> DataDir = Opt.Of("--data", "Fashion-MNIST IDX directory", FashionMnist.DefaultDir);
    private static readonly Option<int> Seed = Opt.Of("--seed", "Random seed", 42);

    public static Command Create()
    {
        var cmd = new Command("demo", "Few-shot Fashion-MNIST with the embedded ImageNet ResNet18: train, evaluate, save a bundle")
        {
            PerClass, ValPerClass, Out, DataDir, Seed,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            int perClass = parse.GetValue(PerClass), valPerClass = parse.GetValue(ValPerClass), seed = parse.GetValue(Seed);
            string outDir = parse.GetValue(Out)!;
            var data = FashionMnist.Load(parse.GetValue(DataDir)!, perClass, valPerClass, seed);
            output.Console.Write(new Rule("[bold]Headstart demo[/]: transfer learning with little labelled data").LeftJustified());
            output.Line($"Fashion-MNIST from [bold]{Markup.Escape(data.Root)}[/]: {data.Classes.Count} classes, " +
                        $"[bold]{perClass}[/] labelled training images per class ({data.Train.Count} in all), {data.Val.Count} validation images.");
            output.Line($"Backbone: [bold]{ModelRegistry.DefaultModel}[/], real ImageNet weights embedded in Headstart (no download). " +
                        "Its convolutional features are frozen and computed once; only a new 10-class head trains.");
            var options = new TrainOptions { Model = ModelRegistry.DefaultModel, Epochs = 25, Seed = seed, AugmentViews = 1 };
            var reporter = new ConsoleReporter(output);
            using var result = reporter.Run(() => new TransferTrainer(reporter).Train(data, options));
            ModelBundle.Save(outDir, result.Model, result.Manifest);
            MetricsView.Write(output, result.Metrics);
            var confused = result.Metrics.MostConfused().Take(3).Select(c => $"{c.Actual} -> {c.Predicted} ({c.Count})");
            output.Line($"most confused: {Markup.Escape(string.Join(", ", confused))}");
            output.Line($"[bold]val accuracy {result.Metrics.Accuracy:P1}[/] with {perClass} labelled images per class " +
                        $"(chance: {1.0 / data.Classes.Count:P0}), trained in {result.Manifest.TrainSeconds:F1}s on {Environment.ProcessorCount} cores.");
            output.Line($"bundle: [bold]{Markup.Escape(Path.GetFullPath(outDir))}[/]  (try: headstart evaluate / predict / report)");
            return (Shell.Ok, new
            {
                val_accuracy = result.Metrics.Accuracy,
                train_per_class = perClass,
                val_count = data.Val.Count,
                train_seconds = result.Manifest.TrainSeconds,
                bundle = Path.GetFullPath(outDir),
                model = ModelRegistry.DefaultModel,
            });
        }));
        return cmd;
    }
}
