using System.Diagnostics;
using Headstart.Bench.Shared;
using Headstart.Data;
using Headstart.Models;
using Headstart.Onnx;
using Headstart.Training;
using Headstart.Weights;
using static TorchSharp.torch;

// ExtractProfile [DATA] [--repeats 2]: the frozen path's extraction on DATA's train + val images (default: flowers-small,
// 600 real photos), split into its parts. Each figure is the best of --repeats runs, in images per second:
//   decode    BatchLoader alone (decode, resize, crop, mean image), by worker count
//   forward   ONNX Runtime alone on the already-decoded batches, by intra-op threads and spinning
//   pipeline  BatchLoader feeding ONNX Runtime as FrozenFeatures does (decode ahead on worker threads), by workers,
//             ORT threads and batch size; the first row is the recipe's own setting
var argv = args.ToList();
int repeats = argv.IndexOf("--repeats") is >= 0 and var r ? int.Parse(argv[r + 1]) : 2;
string data = argv.FirstOrDefault(a => !a.StartsWith("--") && !int.TryParse(a, out _)) ?? BenchSets.FlowersSmall;
var set = ImageFolder.Load(data);
var samples = set.Train.Concat(set.Val).ToList();
var spec = ModelRegistry.Get("resnet18-cntk");
var weights = Pretrained.Resolve(spec);
var pre = spec.PreprocessingFor(weights.Source);
float[]? mean = pre.MeanImage is { } mi ? MeanImages.Get(mi) : null;
var transform = ImageTransform.Eval(pre, mean);
int n = samples.Count, cores = Environment.ProcessorCount;
int[] order = [.. Enumerable.Range(0, n)];
Console.WriteLine($"{data}: {n} images, {cores} cores; best of {repeats}");
Console.WriteLine("| part | setting | images/s | ms/image | per core |");
Console.WriteLine("|---|---|---:|---:|---:|");
void Row(string part, string setting, double seconds) =>
    Console.WriteLine($"| {part} | {setting} | {n / seconds:F1} | {1000 * seconds / n:F2} | {n / seconds / cores:F1} |");

double Best(Func<double> run) => Enumerable.Range(0, repeats).Select(_ => run()).Min();

foreach (int workers in new[] { 1, 2 })
    Row("decode", $"{workers} worker(s), batch 32", Best(() =>
    {
        var clock = Stopwatch.StartNew();
        foreach (var b in BatchLoader.Batches(set.Source, samples, order, transform, 32, 0, 0, workers)) b.Dispose();
        return clock.Elapsed.TotalSeconds;
    }));

// The decoded batches, in memory, for the bare forward.
var batches = BatchLoader.Batches(set.Source, samples, order, transform, 32, 0, 0, cores).Select(b => b.Images).ToList();
foreach (int threads in new[] { 1, 2 })
    foreach (bool spin in new[] { true, false })
    {
        using var ort = new OrtFeatureExtractor(weights.Path, threads, spin, weights.Source.FeatureOutput);
        using (var warm = ort.Extract(batches[0])) { }
        Row("forward", $"ORT {threads} thread(s), spinning {(spin ? "on" : "off")}, batch 32", Best(() =>
        {
            var clock = Stopwatch.StartNew();
            foreach (var b in batches) ort.Extract(b).Dispose();
            return clock.Elapsed.TotalSeconds;
        }));
    }
foreach (var b in batches) b.Dispose();

// FrozenFeatures' own setting first: all cores decode, ORT on all cores without spinning, batch 32.
var settings = new List<(int Workers, int Threads, bool Spin, int Batch)> { (0, cores, false, 32) };
foreach (int w in new[] { 1, 2 })
    foreach (int t in new[] { 1, 2 })
        foreach (int batch in new[] { 16, 32, 64 })
            if ((w, t, batch) != (cores, cores, 32)) settings.Add((w, t, false, batch));
settings.Add((0, cores, true, 32));
foreach (var (w, t, spin, batch) in settings)
{
    using var ort = new OrtFeatureExtractor(weights.Path, t, spin, weights.Source.FeatureOutput);
    using (var warm = ort.Extract(zeros(1, 3, 224, 224))) { }
    Row("pipeline", $"{(w == 0 ? $"{cores} (default)" : w)} worker(s), ORT {t} thread(s), spinning {(spin ? "on" : "off")}, batch {batch}", Best(() =>
    {
        var clock = Stopwatch.StartNew();
        using var _ = no_grad();
        var (f, _, _) = FeatureExtractor.Extract(ort.Extract, set.Source, samples, transform, batch, 0, 0, w);
        f.Dispose();
        return clock.Elapsed.TotalSeconds;
    }));
}
return 0;
