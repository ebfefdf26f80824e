using System.Diagnostics;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;
using Headstart.Bench;
using Headstart.Data;
using Headstart.Training;

// ScaleBench head    [--sizes 250000,500000,1000000] [--val 20000] [--classes 10] [--epochs 3] [--work DIR]
//   Writes a synthetic feature set in the shard format (4 shards, 512-d rows: a class mean plus noise) for each size,
//   then runs the real CLI, 'train --features DIR', as a child process: wall time, time per epoch, peak RSS.
// ScaleBench extract [--images 100000] [--classes 10] [--shards 1] [--work DIR]
//   Generates JPEGs (bench/Headstart.Bench's generator: shapes, 64-128 px), then runs 'extract --shard i/N' for each
//   shard in turn as a child process: images/s, per core, peak RSS; then 'train --features'.
var argv = args.ToList();
string mode = argv.Count > 0 ? argv[0] : "help";
string Arg(string name, string fallback) { int i = argv.IndexOf(name); return i >= 0 && i + 1 < argv.Count ? argv[i + 1] : fallback; }
string work = Path.GetFullPath(Arg("--work", "/tmp/headstart-scale"));
Directory.CreateDirectory(work);
string cli = Cli();
Console.Error.WriteLine($"CLI: {cli}; work dir: {work}; {Environment.ProcessorCount} cores");

switch (mode)
{
    case "head": Head(); break;
    case "extract": Extract(); break;
    default: Console.Error.WriteLine("usage: ScaleBench head|extract [options] (see the comment at the top of Program.cs)"); return 2;
}
return 0;

void Head()
{
    var sizes = Arg("--sizes", "250000,500000,1000000").Split(',').Select(int.Parse).ToList();
    int val = int.Parse(Arg("--val", "20000")), classes = int.Parse(Arg("--classes", "10")), epochs = int.Parse(Arg("--epochs", "3"));
    Console.WriteLine("| train rows | val rows | on disk | open + check | per epoch (mean) | epoch s per 100k rows | wall (process) | peak RSS | val accuracy |");
    Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    foreach (int n in sizes)
    {
        string dir = Path.Combine(work, $"features-{n}");
        if (!File.Exists(Path.Combine(dir, "shard-00003-of-00004", FeatureDir.ShardManifestFile)))
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
            var clock = Stopwatch.StartNew();
            WriteSynthetic(dir, n, val, classes, 4);
            Console.Error.WriteLine($"wrote {n:N0} + {val:N0} rows to {dir} in {clock.Elapsed.TotalSeconds:F1}s");
        }
        long bytes = Directory.EnumerateFiles(dir, "*.f32", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        string bundle = Path.Combine(work, $"bundle-{n}");
        var r = ChildProcess.Run("dotnet", [cli, "train", "--features", dir, "--epochs", $"{epochs}", "--out", bundle, "--json"],
            heartbeat: TimeSpan.FromSeconds(15), onHeartbeat: (t, rss, peak) => Console.Error.WriteLine($"  {t.TotalSeconds:F0}s: RSS {rss / 1e6:F0} MB, peak {peak / 1e6:F0} MB"));
        if (r.ExitCode != 0) throw new InvalidOperationException($"train --features failed:\n{r.Tail()}");
        var json = r.LastJson!.Value;
        var history = JsonDocument.Parse(File.ReadAllText(Path.Combine(bundle, "model.json"))).RootElement.GetProperty("history").EnumerateArray()
            .Select(e => e.GetProperty("seconds").GetDouble()).ToList();
        double open = json.GetProperty("timings").GetProperty("open_features").GetDouble();
        double perEpoch = history.Average();
        Console.WriteLine($"| {n:N0} | {val:N0} | {bytes / 1e9:F2} GB | {open:F1} s | {perEpoch:F1} s ({string.Join(", ", history.Select(h => h.ToString("F1", CultureInfo.InvariantCulture)))}) | " +
                          $"{perEpoch / n * 100_000:F2} s | {r.Wall.TotalSeconds:F1} s | {r.PeakRssBytes / 1e6:F0} MB | {100 * json.GetProperty("val_accuracy").GetDouble():F1}% |");
    }
}

void Extract()
{
    int images = int.Parse(Arg("--images", "100000")), classes = int.Parse(Arg("--classes", "10")), shards = int.Parse(Arg("--shards", "1"));
    string data = Path.Combine(work, $"images-{images}");
    if (!File.Exists(Path.Combine(data, ".complete")))
    {
        var clock = Stopwatch.StartNew();
        if (Directory.Exists(data)) Directory.Delete(data, true);
        int written = SyntheticImages.Generate(data, classes, images / classes, valFraction: 0.2,
            progress: k => { if (k % 10_000 == 0) Console.Error.WriteLine($"  generated {k:N0}"); });
        File.WriteAllText(Path.Combine(data, ".complete"), $"{written}\n");
        Console.Error.WriteLine($"generated {written:N0} images in {clock.Elapsed.TotalSeconds:F0}s");
    }
    string features = Path.Combine(work, $"extracted-{images}-{shards}");
    if (Directory.Exists(features)) Directory.Delete(features, true);
    Console.WriteLine("| shard | images | wall | images/s | per core | peak RSS |");
    Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
    double total = 0;
    for (int s = 0; s < shards; s++)
    {
        var r = ChildProcess.Run("dotnet", [cli, "extract", data, "--out", features, "--shard", $"{s}/{shards}", "--json"],
            onStderrLine: l => { if (l.Contains("ETA", StringComparison.Ordinal)) Console.Error.WriteLine(l); },
            heartbeat: TimeSpan.FromSeconds(60), onHeartbeat: (t, rss, peak) => Console.Error.WriteLine($"  {t.TotalSeconds:F0}s: RSS {rss / 1e6:F0} MB, peak {peak / 1e6:F0} MB"));
        if (r.ExitCode != 0) throw new InvalidOperationException($"extract failed:\n{r.Tail()}");
        int rows = r.LastJson!.Value.GetProperty("rows").GetInt32();
        total += r.Wall.TotalSeconds;
        Console.WriteLine($"| {s}/{shards} | {rows:N0} | {r.Wall.TotalSeconds:F0} s | {rows / r.Wall.TotalSeconds:F1} | {rows / r.Wall.TotalSeconds / Environment.ProcessorCount:F1} | {r.PeakRssBytes / 1e6:F0} MB |");
    }
    var t = ChildProcess.Run("dotnet", [cli, "train", "--features", features, "--out", Path.Combine(work, $"bundle-extracted-{images}"), "--json"]);
    if (t.ExitCode != 0) throw new InvalidOperationException($"train --features failed:\n{t.Tail()}");
    Console.WriteLine($"\nextraction {total:F0} s in all; train --features: {t.Wall.TotalSeconds:F1} s wall, peak RSS {t.PeakRssBytes / 1e6:F0} MB, " +
                      $"val accuracy {100 * t.LastJson!.Value.GetProperty("val_accuracy").GetDouble():F1}%");
}

// A feature set as 'extract' writes it, with made-up rows: class c's rows are mean_c + uniform noise, 512-d.
static void WriteSynthetic(string dir, int n, int val, int classes, int shards)
{
    string root = Path.Combine(dir, "no-images");   // the rows stand for images that never existed
    var names = Enumerable.Range(0, classes).Select(c => $"class{c:D2}").ToList();
    List<ImageSample> Samples(string split, int count) =>
        [.. Enumerable.Range(0, count).Select(i => new ImageSample(Path.Combine(root, split, names[i * classes / count], $"{i:D7}.jpg"), i * classes / count))];
    var data = new ImageDataset(root, "folders", names, Samples("train", n), Samples("val", val), [], new FileImageSource(new DecodeOptions()));
    var plan = ShardExtractor.PlanFor(data, new TrainOptions { CacheDir = "none" }, shards);
    Directory.CreateDirectory(dir);
    File.WriteAllBytes(Path.Combine(dir, FeatureDir.FileListFile), FeaturePlan.FileList(data));
    File.WriteAllText(Path.Combine(dir, FeatureDir.PlanFile), JsonSerializer.Serialize(plan, FeaturePlan.Json));
    const int dim = 512;
    var rng = new Random(1);
    var means = Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, dim).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray()).ToArray();
    var chunks = plan.Chunks().ToList();
    for (int s = 0; s < shards; s++)
    {
        string shardDir = FeatureDir.ShardDir(dir, s, shards);
        Directory.CreateDirectory(shardDir);
        var (first, end) = plan.ChunkRange(s);
        var listed = new List<ShardChunk>();
        for (int c = first; c < end; c++)
        {
            var (pass, firstBatch, batches) = chunks[c];
            var samples = plan.Passes[pass].Val ? data.Val : data.Train;
            int lo = firstBatch * plan.BatchSize, hi = Math.Min((firstBatch + batches) * plan.BatchSize, samples.Count);
            var rows = new float[(hi - lo) * dim];
            var noise = new Random(c);
            for (int i = lo; i < hi; i++)
            {
                var mean = means[samples[i].Label];
                for (int d = 0; d < dim; d++) rows[(i - lo) * dim + d] = mean[d] + 4f * (noise.NextSingle() - 0.5f);
            }
            var bytes = MemoryMarshal.AsBytes(rows.AsSpan());
            string name = FeatureDir.ChunkName(c);
            File.WriteAllBytes(Path.Combine(shardDir, name + ".f32"), bytes.ToArray());
            uint crc = Crc32.HashToUInt32(bytes);
            var record = new ChunkRecord(pass, firstBatch, batches, dim, [.. Enumerable.Range(lo, hi - lo)], [], bytes.Length, crc);
            File.WriteAllText(Path.Combine(shardDir, name + ".json"), JsonSerializer.Serialize(record, FeaturePlan.Json));
            listed.Add(new ShardChunk(name, pass, firstBatch, hi - lo, bytes.Length, crc));
        }
        var manifest = new ShardManifest
        {
            Shard = s, Shards = shards, Fingerprint = plan.Fingerprint, ListHash = plan.ListHash, Dim = dim, Chunks = listed,
            Rows = listed.Sum(x => x.Rows), Skipped = 0, Host = "synthetic",
        };
        File.WriteAllText(Path.Combine(shardDir, FeatureDir.ShardManifestFile), JsonSerializer.Serialize(manifest, FeaturePlan.Json));
    }
}

static string Cli()
{
    string root = AppContext.BaseDirectory;
    for (var d = new DirectoryInfo(root); d is not null; d = d.Parent)
    {
        string published = Path.Combine(d.FullName, "artifacts", "cli", "Headstart.Cli.dll");
        string built = Path.Combine(d.FullName, "src", "Headstart.Cli", "bin", "Release", "net10.0", "Headstart.Cli.dll");
        if (File.Exists(built) && (!File.Exists(published) || File.GetLastWriteTimeUtc(published) < File.GetLastWriteTimeUtc(built))) return built;
        if (File.Exists(published)) return published;
    }
    throw new InvalidOperationException("no Headstart.Cli.dll: build the solution first");
}
