// Flip test-time augmentation, measured (issue 21, item 1): is it worth being the default?
//  1. accuracy: the default frozen recipe with and without --tta, paired (same seed, same trained head: TTA changes only
//     how validation images are scored), on flowers-small (5 classes), its 2-class daisy/dandelion subset and a
//     Fashion-MNIST subset, several seeds each;
//  2. cost: per-image inference time of a bundle with and without TTA, TorchSharp and ONNX Runtime, batch 32.
// Usage: dotnet run -c Release --project bench/TtaBench [-- SEEDS]   (from the repository root; needs ../shared)
using System.Diagnostics;
using Headstart.Bundles;
using Headstart.Bench.Shared;
using Headstart.Data;
using Headstart.Inference;
using Headstart.Training;

int seeds = args.Length > 0 ? int.Parse(args[0]) : 5;
string flowers = BenchSets.FlowersSmall;
var work = Directory.CreateTempSubdirectory("headstart-tta-");
try
{
    string two = BenchSets.TwoFlowers(work.FullName);
    var sets = new List<(string Name, Func<int, ImageDataset> Load)>
    {
        ("flowers-small (5 classes, 80/class)", _ => ImageFolder.Load(flowers)),
        ("flowers daisy/dandelion (2 classes, 80/class)", _ => ImageFolder.Load(two)),
        ("Fashion-MNIST (10 classes, 20/class; subset per seed)", s => FashionMnist.Load(FashionMnist.DefaultDir, 20, 100, s)),
    };
    string cache = Path.Combine(work.FullName, "cache");
    Console.WriteLine($"## Flip TTA: accuracy, paired by seed ({seeds} seeds; default frozen recipe, resnet18-cntk)");
    Console.WriteLine();
    Console.WriteLine("| data | val images | no TTA (mean) | TTA (mean) | TTA - no TTA per seed (points) | mean diff | wins/ties/losses |");
    Console.WriteLine("|---|---|---|---|---|---|---|");
    string? ttaBundle = null, plainBundle = null;
    foreach (var (name, load) in sets)
    {
        var diffs = new List<double>();
        double sumPlain = 0, sumTta = 0;
        int valCount = 0;
        for (int seed = 1; seed <= seeds; seed++)
        {
            var data = load(seed);
            valCount = data.Val.Count;
            var o = new TrainOptions { Seed = seed, CacheDir = cache, HeadFit = HeadFit.Sgd };
            double plain, tta;
            using (var r = new TransferTrainer().Train(data, o))
            {
                plain = r.Metrics.Accuracy;
                if (seed == 1 && plainBundle is null) ModelBundle.Save(plainBundle = Path.Combine(work.FullName, "plain"), r);
            }
            using (var r = new TransferTrainer().Train(data, o with { TestTimeFlip = true }))
            {
                tta = r.Metrics.Accuracy;
                if (seed == 1 && ttaBundle is null) ModelBundle.Save(ttaBundle = Path.Combine(work.FullName, "tta"), r);
            }
            sumPlain += plain;
            sumTta += tta;
            diffs.Add(100 * (tta - plain));
            Console.Error.WriteLine($"[tta] {name} seed {seed}: {plain:P2} -> {tta:P2}");
        }
        Console.WriteLine($"| {name} | {valCount} | {sumPlain / seeds:P2} | {sumTta / seeds:P2} | " +
                          $"{string.Join(", ", diffs.Select(d => d.ToString("+0.0;-0.0;0.0")))} | {diffs.Average():+0.00;-0.00;0.00} | " +
                          $"{diffs.Count(d => d > 0)}/{diffs.Count(d => d == 0)}/{diffs.Count(d => d < 0)} |");
    }

    // Cost: the flowers-small bundles (seed 1) on its 200 validation images, decoded once, batches of 32.
    Console.WriteLine();
    Console.WriteLine("## Flip TTA: inference cost per image (flowers-small bundle, 200 val images, batch 32, best of 3 / median)");
    Console.WriteLine();
    Console.WriteLine("| engine | no TTA ms/image | TTA ms/image | ratio (median) |");
    Console.WriteLine("|---|---|---|---|");
    var files = Directory.EnumerateFiles(Path.Combine(flowers, "val"), "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
    foreach (var engine in new[] { InferenceEngine.Torch, InferenceEngine.Onnx })
    {
        var ms = new Dictionary<string, (double Best, double Median)>();
        foreach (var (label, bundle) in new[] { ("plain", plainBundle!), ("tta", ttaBundle!) })
        {
            using var clf = Classifier.Load(bundle, engine: engine);
            var images = files.Select(f => ImageDecoder.Decode(f, DecodeOptions.Default, clf.Manifest.Preprocessing.ResizeSize)).ToList();
            clf.PredictDecoded(images.Take(32).ToList());   // warm-up
            var times = new List<double>();
            for (int round = 0; round < 3; round++)
            {
                var sw = Stopwatch.StartNew();
                foreach (var chunk in images.Chunk(32)) clf.PredictDecoded(chunk);
                times.Add(sw.Elapsed.TotalMilliseconds / images.Count);
            }
            times.Sort();
            ms[label] = (times[0], times[1]);
        }
        Console.WriteLine($"| {engine} | {ms["plain"].Best:F1} / {ms["plain"].Median:F1} | {ms["tta"].Best:F1} / {ms["tta"].Median:F1} | " +
                          $"{ms["tta"].Median / ms["plain"].Median:F2}x |");
    }
}
finally
{
    work.Delete(recursive: true);
}
