using System.CommandLine;
using System.Diagnostics;
using Headstart.Bundles;
using Headstart.Cli.Common;
using Headstart.Cli.Compare;
using Headstart.Data;
using Headstart.Models;
using Headstart.Reporting;
using Headstart.Training;
using Spectre.Console;

namespace Headstart.Cli.Demo;

/// <summary>
/// headstart demo: the case for transfer learning, measured in one run with no arguments. Main panel: the 600 flower
/// photos that ship with Headstart (5 classes, 80 train + 40 val each, CC BY 2.0), where the real ImageNet ResNet18
/// embedded in Headstart (resnet18-cntk, frozen) meets the same architecture trained from scratch on a stated budget
/// and a small CNN from scratch, over several labelled-images-per-class counts and seeds. Contrast panel: few-shot
/// Fashion-MNIST (28-px grayscale clothing, far from ImageNet), same protocol. Saves the transfer bundle (with its
/// report) and a comparison page; every number and every sentence of the findings is computed from this run.
/// </summary>
public static class DemoCommand
{
    private static readonly Option<string?> DataDir = Opt.Maybe<string>("--data", "ImageFolder for the main panel (default: the 600 flower photos shipped with Headstart)");
    private static readonly Option<string> Shots = Opt.Of("--shots", "Labelled-images-per-class counts for the curves, besides all", "5,20");
    private static readonly Option<int> Seeds = Opt.Of("--seeds", "Runs per shot count of the curves, one seed each (each draws its own labelled subset; all the images run once)", 3);
    private static readonly Option<int> ScratchEpochs = Opt.Of("--scratch-epochs", "Budget of the same architecture from scratch: epochs at 224 px over all training images ('headstart compare' for more)", 1);
    private static readonly Option<int?> Epochs = Opt.Maybe<int?>("--epochs", "Frozen-transfer head epochs: given, the head trains by SGD (train's --head-fit sgd); default: train's plan, the L-BFGS head");
    private static readonly Option<string> Contrast = Opt.Choice("--contrast", "Contrast panel: a domain far from ImageNet, same protocol", "fashion-mnist", "fashion-mnist", "none");
    private static readonly Option<string> FashionDir = Opt.Of("--fashion-mnist", "Fashion-MNIST IDX directory (contrast panel)", FashionMnist.DefaultDir);
    private static readonly Option<int> ContrastPerClass = Opt.Of("--contrast-per-class", "Contrast panel: labelled training images per class of its largest run", 20);
    private static readonly Option<int> ContrastValPerClass = Opt.Of("--contrast-val-per-class", "Contrast panel: validation images per class (from the test file)", 20);
    private static readonly Option<string> Out = Opt.Of("--out", "Bundle directory to write (the transfer model on the photos, report.html, comparison.html)", "headstart-demo");
    private static readonly Option<int> Seed = Opt.Of("--seed", "First random seed", 42);

    /// <summary>The photos shipped next to the CLI (copied to its output, its publish folder and the tool package).</summary>
    public static string PhotosDir => Path.Combine(AppContext.BaseDirectory, "DemoData", "flowers");

    public static Command Create()
    {
        var cmd = new Command("demo", "Transfer vs training from scratch on real photos (shipped with Headstart), with Fashion-MNIST as the contrast: curves, costs, verdict")
        {
            DataDir, Shots, Seeds, ScratchEpochs, Epochs, Contrast, FashionDir, ContrastPerClass, ContrastValPerClass, Out, Seed,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var clock = Stopwatch.StartNew();
            var cpu = Comparison.CpuTime();
            int seed = parse.GetValue(Seed), seeds = parse.GetValue(Seeds), scratchEpochs = parse.GetValue(ScratchEpochs);
            int contrastPer = parse.GetValue(ContrastPerClass), contrastVal = parse.GetValue(ContrastValPerClass);
            if (seeds < 1 || scratchEpochs < 1) throw new CliException("--seeds and --scratch-epochs must be >= 1", Shell.UsageError);
            if (contrastPer < 2 || contrastVal < 1) throw new CliException("--contrast-per-class must be >= 2 and --contrast-val-per-class >= 1", Shell.UsageError);
            string outDir = parse.GetValue(Out)!;
            string dataDir = parse.GetValue(DataDir) ?? PhotosDir;
            if (parse.GetValue(DataDir) is null && !Directory.Exists(dataDir))
                throw new CliException($"the demo photos are missing from this installation ({dataDir}): reinstall Headstart, or pass --data DIR " +
                                       "(an image folder with class subfolders)", Shell.RuntimeError);
            if (DatasetWrites.Conflict(dataDir, Path.GetFullPath(outDir)) is { } why)
                throw new CliException($"--out {why}: choose another path", Shell.UsageError);
            var photos = ImageFolder.Load(dataDir, new ImageFolderOptions { Seed = seed });
            EngineCheckFirst.Run(output);
            var options = new ComparisonOptions
            {
                Model = ModelRegistry.DefaultModel, Epochs = parse.GetValue(Epochs) is int e ? Math.Max(1, e) : null, Seed = seed, Seeds = seeds,
                ScratchEpochs = scratchEpochs, Shots = CompareCommand.ParseShots(parse.GetValue(Shots)!), CacheDir = "none",
                // A 224-px ResNet18 training step on 32 images holds about 1.5 GB of activations: two chunks of 16 keep the
                // demo within its 2 GB (the optimiser still steps on 32).
                MicroBatch = 16,
                // Each fine-tuning epoch is a 224-px ResNet18 forward and backward pass per image, like the scratch run's:
                // the demo's budget has room for one of them. 'headstart compare' runs fine-tuning.
                Skip = new HashSet<Recipe> { Recipe.FineTune },
                SkipReason = "each of its epochs costs as much as the same-arch scratch run's, and the demo's 5-minute budget holds one; 'headstart compare' runs it",
            };
            ImageDataset? fashion = null;
            if (parse.GetValue(Contrast) == "fashion-mnist")
            {
                try { fashion = FashionMnist.Load(parse.GetValue(FashionDir)!, contrastPer, contrastVal, seed); }
                catch (HeadstartException ex) { output.Warn($"no contrast panel: {ex.Message} (--contrast none leaves it out)"); }
            }

            output.Console.Write(new Rule("[bold]Headstart demo[/]: does transfer learning help when labelled photos are scarce?").LeftJustified());
            output.Line($"[bold]Photos[/]: {Markup.Escape(photos.Root)}: {photos.Classes.Count} classes ({Markup.Escape(string.Join(", ", photos.Classes))}), " +
                        $"{photos.Train.Count} training and {photos.Val.Count} validation images.");
            output.Line($"[bold]Transfer[/]: {ModelRegistry.DefaultModel}, real ImageNet weights embedded in Headstart (no download), frozen: " +
                        "its features are computed once per image and only a new head trains (train's default plan).");
            output.Line($"[bold]Same architecture from scratch[/]: the same ResNet18 from random weights, budget {scratchEpochs} epoch(s) over all " +
                        "training images at 224 px (a forward and backward pass per image each).");
            output.Line("[bold]Small CNN from scratch[/]: a 4-conv CNN on 32-px inputs, like the classic MNIST/CIFAR-10 networks.");
            output.Line($"Curves: {string.Join(", ", options.Shots)} and all labelled images per class, {seeds} seed(s) per point; " +
                        $"then the contrast panel: {(fashion is null ? "none" : $"Fashion-MNIST, {contrastPer} per class, {fashion.Val.Count} validation images")}.");

            var reporter = new ConsoleReporter(output);
            var (main, contrast) = reporter.Run(() =>
            {
                var m = new Comparison(reporter).Run(photos, options);
                try
                {
                    var c = fashion is null ? null : new Comparison(reporter).Run(fashion, options with
                    {
                        Skip = new HashSet<Recipe> { Recipe.FineTune, Recipe.Scratch },
                        SkipReason = "the contrast panel runs the two cheap recipes; 'headstart compare' runs them all",
                        Shots = options.Shots.Where(k => k < contrastPer).ToList(),
                    });
                    return (m, c);
                }
                catch
                {
                    m.Dispose();
                    throw;
                }
            });
            using var _ = main;
            using var __ = contrast;
            var transfer = main.Transfer ?? throw new InvalidOperationException("the frozen-transfer run is missing");
            var mainPanel = new ComparisonPanel("Flower photos",
                "Photos of a domain ImageNet knows (flowers, CC BY 2.0 from Flickr): the ImageNet-pretrained ResNet18, frozen, against " +
                "the same architecture and a small CNN, both trained from scratch on the same labelled images.", main);
            var panels = contrast is null ? new List<ComparisonPanel>() :
            [
                new ComparisonPanel("Fashion-MNIST",
                    "28-px grayscale clothing, a domain far from ImageNet's photos: the same protocol, where transfer has less to offer.", contrast),
            ];
            ModelBundle.Save(outDir, transfer, tmp =>
            {
                TrainingReport.WriteInto(tmp, transfer.Manifest, ReportData.Collect(photos, photos.Classes, transfer.ValPredictions));
                File.WriteAllText(Path.Combine(tmp, ComparisonReport.FileName), ComparisonReport.Render(mainPanel, panels));
            });

            ComparisonView.Write(output, main, "flower photos: what each recipe costs (all training images, same split and seed)");
            if (contrast is not null)
            {
                output.Console.Write(new Rule("[bold]Contrast[/]: Fashion-MNIST, far from ImageNet").LeftJustified());
                ComparisonView.Write(output, contrast, "Fashion-MNIST: what each recipe costs");
            }
            string bundle = Path.GetFullPath(outDir);
            string report = Path.Combine(bundle, TrainingReport.FileName), comparison = Path.Combine(bundle, ComparisonReport.FileName);
            double seconds = clock.Elapsed.TotalSeconds, cpuSeconds = (Comparison.CpuTime() - cpu).TotalSeconds;
            output.Line($"demo finished in {seconds:F0}s ({cpuSeconds:F0} core-seconds) on {Environment.ProcessorCount} cores.");
            output.Line($"comparison: [bold]{Markup.Escape(comparison)}[/]");
            output.Line($"report:     [bold]{Markup.Escape(report)}[/]  (the transfer model on all the photos; try: headstart predict {Markup.Escape(outDir)} IMAGE)");
            return (Shell.Ok, new
            {
                bundle,
                report,
                comparison,
                seconds,
                cpu_seconds = cpuSeconds,
                val_count = photos.Val.Count,
                val_accuracy = transfer.Metrics.Accuracy,
                model = ModelRegistry.DefaultModel,
                results = ComparisonView.ToJson(main, comparison),
                contrast = contrast is null ? null : ComparisonView.ToJson(contrast, comparison),
            });
        }));
        return cmd;
    }
}
