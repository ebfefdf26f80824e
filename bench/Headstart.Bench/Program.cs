using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Headstart.Bench;
using Headstart.Data;

// Headstart.Bench: issue 4's benchmark harness. Run it through bench/run.sh (which builds first); see bench/README.md.
var clock = Stopwatch.StartNew();
void Log(string message) => Console.Error.WriteLine($"[bench {clock.Elapsed:mm\\:ss}] {message}");

string repo = FindRepoRoot();
var dataArg = new Argument<string>("imagefolder")
{
    Description = "ImageFolder to benchmark (default: ../shared/datasets/flowers-small)",
    Arity = ArgumentArity.ZeroOrOne,
    DefaultValueFactory = _ => Path.GetFullPath(Path.Combine(repo, "..", "shared", "datasets", "flowers-small")),
};
var large = new Option<bool>("--large") { Description = "Issue 4 target 5 instead: peak RSS of 'headstart train' on 20,000 generated images (slow, opt-in)" };
var largeCount = new Option<int>("--large-count") { Description = "Images generated for --large", DefaultValueFactory = _ => 20_000 };
var largeDir = new Option<string?>("--large-dir") { Description = "Where --large generates (and reuses) its ImageFolder (default /tmp/headstart-bench-large-N)" };
var noPython = new Option<bool>("--no-python") { Description = "Skip the PyTorch comparison even when python3-torch is installed" };
var noTrain = new Option<bool>("--no-train") { Description = "Only T_decode and T_forward" };
var engines = new Option<string[]>("--engine")
{
    Description = "Inference engines to time (torch, onnx)", DefaultValueFactory = _ => InferenceBench.Engines,
    AllowMultipleArgumentsPerToken = true,
};
engines.AcceptOnlyFromAmong(InferenceBench.Engines);
var trainRepeats = new Option<int>("--train-repeats") { Description = "Run each cold/warm train pair this many times (fresh cache each); targets use the median", DefaultValueFactory = _ => 1 };
var repeats = new Option<int>("--repeats") { Description = "Forward passes over the images per engine; the best counts", DefaultValueFactory = _ => 1 };
var maxImages = new Option<int>("--forward-images") { Description = "At most this many images held in memory for T_forward", DefaultValueFactory = _ => 1024 };
var inferenceImages = new Option<int>("--inference-images") { Description = "Validation images for the inference rows", DefaultValueFactory = _ => 100 };
var trainArgs = new Option<string[]>("--train-arg") { Description = "Extra argument passed to every 'headstart train' (repeatable), e.g. --train-arg=--engine --train-arg=torch" };
var workDirOpt = new Option<string?>("--work-dir") { Description = "Scratch directory (default /tmp/headstart-bench-<time>); caches and bundles are deleted unless --keep" };
var keep = new Option<bool>("--keep") { Description = "Keep caches and bundles in the work directory" };

var genDir = new Argument<string>("dir");
var genClasses = new Option<int>("--classes") { DefaultValueFactory = _ => 2 };
var genPerClass = new Option<int>("--per-class") { DefaultValueFactory = _ => 20 };
var genVal = new Option<double>("--val-fraction") { Description = "> 0 writes train/ and val/ folders", DefaultValueFactory = _ => 0.25 };
var generate = new Command("generate", "Write an ImageFolder of generated coloured shapes (for quick runs)") { genDir, genClasses, genPerClass, genVal };
generate.SetAction(parse =>
{
    string dir = parse.GetValue(genDir)!;
    int n = SyntheticImages.Generate(dir, parse.GetValue(genClasses), parse.GetValue(genPerClass), parse.GetValue(genVal));
    Log($"wrote {n} images to {Path.GetFullPath(dir)}");
    return 0;
});

var fashionDir = new Argument<string>("dir");
var fashionPerClass = new Option<int>("--per-class") { Description = "Training images per class", DefaultValueFactory = _ => 50 };
var fashionVal = new Option<int>("--val-per-class") { Description = "Validation images per class (from the test file)", DefaultValueFactory = _ => 50 };
var fashionSeed = new Option<int>("--seed") { Description = "Which images are picked", DefaultValueFactory = _ => 42 };
var fashion = new Command("fashion-mnist", "Write a Fashion-MNIST subset (dataset-fashion-mnist) as an ImageFolder of PNGs")
    { fashionDir, fashionPerClass, fashionVal, fashionSeed };
fashion.SetAction(parse =>
{
    try
    {
        int n = FashionFolder.Write(parse.GetValue(fashionDir)!, parse.GetValue(fashionPerClass), parse.GetValue(fashionVal), parse.GetValue(fashionSeed));
        Log($"wrote {n} Fashion-MNIST images to {Path.GetFullPath(parse.GetValue(fashionDir)!)}");
        return 0;
    }
    catch (Exception e) when (e is IOException or Headstart.HeadstartException)
    {
        Log($"error: {e.Message}");
        return 1;
    }
});

var root = new RootCommand("Headstart benchmark harness (issue 4): T_decode, T_forward, T_train cold/warm, accuracy, peak RSS, inference")
{
    dataArg, large, largeCount, largeDir, noPython, noTrain, engines, repeats, trainRepeats, maxImages, inferenceImages, trainArgs, workDirOpt, keep,
};
root.Subcommands.Add(generate);
root.Subcommands.Add(fashion);
root.SetAction(parse =>
{
    string cliDll = Path.Combine(repo, "src", "Headstart.Cli", "bin", "Release", "net10.0", "Headstart.Cli.dll");
    if (!File.Exists(cliDll))
    {
        Log($"error: {cliDll} is missing: build first (bench/run.sh does: dotnet build Headstart.slnx -c Release)");
        return 1;
    }
    // What ./headstart runs: the ReadyToRun publish (scripts/publish-cli.sh) unless a later build superseded it.
    string published = Path.Combine(repo, "artifacts", "cli", "Headstart.Cli.dll");
    if (File.Exists(published) && File.GetLastWriteTimeUtc(published) >= File.GetLastWriteTimeUtc(cliDll)) cliDll = published;
    Log($"CLI under test: {cliDll}");
    string dotnet = Environment.ProcessPath ?? "dotnet"; // the host running this bench runs the CLI too
    string work = Path.GetFullPath(parse.GetValue(workDirOpt) ?? Path.Combine(Path.GetTempPath(), $"headstart-bench-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
    Directory.CreateDirectory(work);
    var runner = new TrainRuns(dotnet, cliDll, work, parse.GetValue(trainArgs) ?? [], Log);
    string machine = $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, load average {LoadAverage()} at start";
    try
    {
        return parse.GetValue(large)
            ? RunLarge(runner, work, parse.GetValue(largeCount), parse.GetValue(largeDir), machine)
            : RunMain(runner, work, parse.GetValue(dataArg)!, machine, parse);
    }
    finally
    {
        if (!parse.GetValue(keep))
            foreach (var d in new[] { "bundles", "pytorch" }.Select(d => Path.Combine(work, d)).Concat(Directory.EnumerateDirectories(work, "cache-*")).ToList())
                if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
    }
});
return root.Parse(args).Invoke();

int RunMain(TrainRuns runner, string work, string dataPath, string machine, ParseResult parse)
{
    if (!Directory.Exists(dataPath))
    {
        Log($"error: ImageFolder '{dataPath}' not found (pass one, e.g. bench/run.sh DIR; bench/run.sh generate DIR makes a small one)");
        return 1;
    }
    dataPath = Path.GetFullPath(dataPath);
    var data = ImageFolder.Load(dataPath);
    Log($"{dataPath}: {data.Classes.Count} classes, {data.Train.Count} train / {data.Val.Count} val; work dir {work}");
    string export = Path.Combine(work, "pytorch");
    var forward = ForwardBench.Run(data, parse.GetValue(maxImages), 32, parse.GetValue(repeats), export, Log);
    Log($"T_decode {forward.DecodeMsPerImage:F1} ms/image; T_forward TorchSharp {forward.TorchMsPerImage:F1}, ORT {forward.OrtMsPerImage:F1} ms/image; " +
        $"batch 0 max |ORT - TorchSharp| {forward.OrtVsTorchMaxAbsDiff:0.0e0}");
    GC.Collect();
    var results = new BenchResults { Data = dataPath, TrainCount = data.Train.Count, ValCount = data.Val.Count, Machine = machine, Forward = forward };

    if (!parse.GetValue(noTrain))
    {
        int n = Math.Max(1, parse.GetValue(trainRepeats));
        for (int rep = 1; rep <= n; rep++)
        {
            // A fresh cache directory per repeat: every cold run is cold.
            string cacheDefault = Path.Combine(work, $"cache-default-{rep}"), cacheNone = Path.Combine(work, $"cache-none-{rep}");
            results.Runs.Add(runner.Train(Report.ColdDefault, dataPath, cacheDefault, []));
            results.Runs.Add(runner.Train(Report.WarmDefault, dataPath, cacheDefault, []));
            results.Runs.Add(runner.Train(Report.ColdNone, dataPath, cacheNone, ["--augment", "none"]));
            results.Runs.Add(runner.Train(Report.WarmNone, dataPath, cacheNone, ["--augment", "none"]));
            foreach (var d in new[] { cacheDefault, cacheNone })
                if (!parse.GetValue(keep) && Directory.Exists(d)) Directory.Delete(d, recursive: true);
        }

        if (results.Run(Report.ColdDefault)?.Bundle is { } bundle)
        {
            var images = data.Val.Take(parse.GetValue(inferenceImages)).Select(s => s.Path).ToList();
            foreach (var engine in (parse.GetValue(engines) ?? InferenceBench.Engines).Distinct())
                results.Inference.Add(InferenceBench.Run(engine, bundle, images, 32, Log));
        }
    }

    if (parse.GetValue(noPython)) results.PythonSkipped = "--no-python";
    else if (!PythonBench.Available(out var why)) results.PythonSkipped = why;
    else results.Python = PythonBench.Run(Path.Combine(repo, "bench", "pytorch_cached.py"), dataPath, export, forward.Images, Log);
    results.BenchPeakRssBytes = ChildProcess.SelfPeakRss();

    string md = Report.Markdown(results);
    Console.WriteLine(md);
    File.WriteAllText(Path.Combine(work, "results.md"), md);
    File.WriteAllText(Path.Combine(work, "results.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions
    {
        WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    }));
    Log($"results written to {work}/results.md and results.json");
    return results.Runs.All(r => r.Ok) ? 0 : 1;
}

int RunLarge(TrainRuns runner, string work, int count, string? dir, string machine)
{
    const int classes = 10;
    dir = Path.GetFullPath(dir ?? Path.Combine(Path.GetTempPath(), $"headstart-bench-large-{count}"));
    string marker = Path.Combine(dir, ".complete");
    if (!File.Exists(marker))
    {
        Log($"generating {count} images (64-128 px, {classes} classes) into {dir}...");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        SyntheticImages.Generate(dir, classes, count / classes, valFraction: 0, progress: n => Log($"  {n} / {count} images"));
        File.WriteAllText(marker, count.ToString());
    }
    else Log($"reusing {dir} ({File.ReadAllText(marker)} images)");
    string cache = Path.Combine(work, "cache-large");
    string[] recipe = ["--augment", "none"];
    var runs = new List<TrainRun>
    {
        runner.Train("cold, --augment none, on-disk cache", dir, cache, recipe, echo: true, heartbeatSeconds: 15),
        runner.Train("warm, --augment none, on-disk cache", dir, cache, recipe, echo: true, heartbeatSeconds: 15),
    };
    string md = $"Machine: {machine}.\n\n" + Report.LargeMarkdown(dir, count, runs);
    Console.WriteLine(md);
    File.WriteAllText(Path.Combine(work, "results-large.md"), md);
    Log($"results written to {work}/results-large.md (the generated images stay in {dir} for reuse; delete it when done)");
    return runs.All(r => r.Ok) ? 0 : 1;
}

static string FindRepoRoot()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "Headstart.slnx"))) return d.FullName;
    return Environment.CurrentDirectory;
}

static string LoadAverage()
{
    try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
    catch (IOException) { return "?"; }
}
