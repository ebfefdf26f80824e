// Issue 21, item 2: cheap ensembles on cached features. A head trains in well under a second on the cache, so K heads
// cost K times that and K small matmuls at inference. Do they pay? For each data set and repeat, the default recipe's
// features are extracted once (its views, decided from the data), then 10 heads train exactly as the recipe trains
// its one (optimiser, schedule, epochs), with different seeds (initialisation and batch order), and 10 more on
// bootstrap resamples of the training rows (bagging). The validation accuracy of the mean of the first K heads'
// probabilities, K = 1, 3, 5, 10, is compared with K = 1 in the same repeat (paired).
// Usage: dotnet bench/EnsembleBench/bin/Release/net10.0/EnsembleBench.dll [REPEATS]   (from the repository root)
using Headstart.Bench.Shared;
using Headstart.Data;
using Headstart.Models;
using Headstart.Training;
using Headstart.Weights;
using static TorchSharp.torch;

int repeats = args.Length > 0 ? int.Parse(args[0]) : 3;
var work = Directory.CreateTempSubdirectory("headstart-ensemble-");
int[] ks = [1, 3, 5, 10];
try
{
    var flowers = ImageFolder.Load(BenchSets.FlowersSmall);
    var two = ImageFolder.Load(BenchSets.TwoFlowers(work.FullName));
    var cases = new List<(string Name, Func<int, ImageDataset> Load)>
    {
        ("flowers-small, 5 classes, 80/class", _ => flowers),
        ("flowers daisy/dandelion, 80/class", _ => two),
        ("Fashion-MNIST, 100/class", r => FashionMnist.Load(FashionMnist.DefaultDir, 100, 100, r)),
        ("Fashion-MNIST, 300/class", r => FashionMnist.Load(FashionMnist.DefaultDir, 300, 100, r)),
    };
    string cache = Path.Combine(work.FullName, "cache");
    Console.WriteLine("| data | kind | " + string.Join(" | ", ks.Select(k => $"K = {k}")) + " | K = 10 - K = 1, per repeat (points) | head training, s per head |");
    Console.WriteLine("|---|---|" + string.Concat(ks.Select(_ => "---:|")) + "---|---:|");
    foreach (var (name, load) in cases)
    {
        var acc = new Dictionary<(string Kind, int K), List<double>>();
        var seconds = new List<double>();
        for (int r = 1; r <= repeats; r++)
        {
            var data = load(r);
            var o = new TrainOptions { Seed = r, CacheDir = cache, HeadFit = HeadFit.Sgd };
            var spec = ModelRegistry.Get(o.Model);
            var weights = Pretrained.Resolve(spec);
            var pre = spec.PreprocessingFor(weights.Source);
            var plan = TrainingPlanner.Plan(o, spec, DataShape.Of(data));
            var phase = plan.Phases[0];
            using var template = spec.Create(data.Classes.Count);
            using var feats = FrozenFeatures.Extract(template, spec, weights, pre, data, o, plan.Features!,
                pre.MeanImage is { } mi ? MeanImages.Get(mi) : null, null, _ => { }, CancellationToken.None);
            long[] valY = feats.ValY;
            foreach (var kind in new[] { "seeds", "bagging" })
            {
                Tensor? sum = null;
                for (int h = 0; h < ks[^1]; h++)
                {
                    int seed = 1000 * r + h;
                    var rng = new Random(seed);
                    IFeatureRows rows = kind == "seeds" ? feats.Train
                        : new SubsetRows(feats.Train, [.. Enumerable.Range(0, feats.Train.Count).Select(_ => (long)rng.Next(feats.Train.Count))]);
                    manual_seed(seed);
                    using var model = spec.Create(data.Classes.Count);
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    using (var learner = new Learner(model, spec, new FeatureBatchSource(rows, o.BatchSize, seed), null, plan.Optimizer, [], plan.LabelSmoothing, seed))
                    {
                        learner.FreezeTo(phase.FrozenGroups);
                        learner.Fit(phase.Epochs, phase.LearningRate, phase.Schedule);
                    }
                    seconds.Add(clock.Elapsed.TotalSeconds);
                    using var logp = feats.ValLogProbabilities(model);   // (N_val, C)
                    var p = logp.exp();   // (N_val, C)
                    if (sum is null) sum = p;
                    else
                    {
                        sum.add_(p);
                        p.Dispose();
                    }
                    if (ks.Contains(h + 1))
                    {
                        using var predicted = sum.argmax(1);
                        long[] pr = predicted.data<long>().ToArray();
                        double a = pr.Where((c, i) => c == valY[i]).Count() / (double)pr.Length;
                        (acc.TryGetValue((kind, h + 1), out var l) ? l : acc[(kind, h + 1)] = []).Add(a);
                    }
                }
                sum?.Dispose();
            }
            Console.Error.WriteLine($"[ensemble] {name} repeat {r}: " + string.Join(", ", acc.Select(kv => $"{kv.Key.Kind} K={kv.Key.K} {kv.Value[^1]:P2}")));
        }
        foreach (var kind in new[] { "seeds", "bagging" })
        {
            var diffs = acc[(kind, 10)].Zip(acc[(kind, 1)], (a, b) => 100 * (a - b)).ToList();
            Console.WriteLine($"| {name} | {kind} | " + string.Join(" | ", ks.Select(k => $"{acc[(kind, k)].Average():P2}")) +
                              $" | {string.Join(", ", diffs.Select(d => d.ToString("+0.0;-0.0;0.0")))} | {seconds.Average():F2} |");
        }
    }
}
finally
{
    work.Delete(recursive: true);
}
