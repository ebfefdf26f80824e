// Does the cached mirror view pay at every data size? (issue 21: the default recipe, best at every size)
// The default frozen recipe caches two views per training image (the centre crop and its mirror image); with
// --augment-views 0 it caches the centre crop only, half the backbone passes over the training set. Paired by seed
// (the same labelled subset and head initialisation), on flowers-small subsets, its 2-class daisy/dandelion subset and
// Fashion-MNIST subsets, growing in images per class.
// Usage: dotnet run -c Release --project bench/ViewsBench [-- SEEDS]   (from the repository root; needs ../shared)
using System.Diagnostics;
using Headstart.Bench.Shared;
using Headstart.Data;
using Headstart.Training;

int seeds = args.Length > 0 ? int.Parse(args[0]) : 5;
var work = Directory.CreateTempSubdirectory("headstart-views-");
try
{
    var allFlowers = ImageFolder.Load(BenchSets.FlowersSmall);
    var twoFlowers = ImageFolder.Load(BenchSets.TwoFlowers(work.FullName));
    // (data set, images per class, seeds, loader: seed -> data)
    var cases = new List<(string Name, int PerClass, int Seeds, Func<int, ImageDataset> Load)>
    {
        ("flowers-small (5 classes)", 20, seeds, s => Comparison.Subset(allFlowers, 20, s)),
        ("flowers-small (5 classes)", 40, seeds, s => Comparison.Subset(allFlowers, 40, s)),
        ("flowers-small (5 classes)", 80, seeds, _ => allFlowers),
        ("flowers daisy/dandelion", 80, seeds, _ => twoFlowers),
        ("Fashion-MNIST (10 classes)", 20, seeds, s => FashionMnist.Load(FashionMnist.DefaultDir, 20, 100, s)),
        ("Fashion-MNIST (10 classes)", 100, Math.Min(seeds, 3), s => FashionMnist.Load(FashionMnist.DefaultDir, 100, 100, s)),
        ("Fashion-MNIST (10 classes)", 300, Math.Min(seeds, 3), s => FashionMnist.Load(FashionMnist.DefaultDir, 300, 100, s)),
    };
    string cache = Path.Combine(work.FullName, "cache");
    Console.WriteLine("| data | train images per class | seeds | centre only (mean) | centre + mirror (mean) | mirror - centre per seed (points) | mean diff | wins/ties/losses | cold wall, centre / + mirror |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
    foreach (var (name, perClass, n, load) in cases)
    {
        var diffs = new List<double>();
        double sumCentre = 0, sumMirror = 0, wallCentre = 0, wallMirror = 0;
        for (int seed = 1; seed <= n; seed++)
        {
            var data = load(seed);
            var o = new TrainOptions { Seed = seed, HeadFit = HeadFit.Sgd };
            // Each run extracts cold into its own cache, so that the walls compare the whole recipe.
            var sw = Stopwatch.StartNew();
            double centre;
            using (var r = new TransferTrainer().Train(data, o with { AugmentViews = 0, CacheDir = Path.Combine(cache, $"{name}-{perClass}-{seed}-c") }))
                centre = r.Metrics.Accuracy;
            wallCentre += sw.Elapsed.TotalSeconds;
            sw.Restart();
            double mirror;
            using (var r = new TransferTrainer().Train(data, o with { AugmentViews = 1, CacheDir = Path.Combine(cache, $"{name}-{perClass}-{seed}-m") }))
                mirror = r.Metrics.Accuracy;
            wallMirror += sw.Elapsed.TotalSeconds;
            sumCentre += centre;
            sumMirror += mirror;
            diffs.Add(100 * (mirror - centre));
            Console.Error.WriteLine($"[views] {name} {perClass}/class seed {seed}: centre {centre:P2}, + mirror {mirror:P2}");
        }
        Console.WriteLine($"| {name} | {perClass} | {n} | {sumCentre / n:P2} | {sumMirror / n:P2} | " +
                          $"{string.Join(", ", diffs.Select(d => d.ToString("+0.0;-0.0;0.0")))} | {diffs.Average():+0.00;-0.00;0.00} | " +
                          $"{diffs.Count(d => d > 0)}/{diffs.Count(d => d == 0)}/{diffs.Count(d => d < 0)} | " +
                          $"{wallCentre / n:F1} s / {wallMirror / n:F1} s |");
    }
}
finally
{
    work.Delete(recursive: true);
}
