// Issue 21, item 3: richer frozen features. Today the head trains on resnet18-cntk's pool5 (512-d) of the centre crop
// (plus its mirror image when the planner caches it). Do richer features from the same frozen backbone pay, with the
// head trained exactly as today (Learner + FeatureBatchSource, the plan's first phase, default TrainOptions)?
//   A        today: pool5 (512-d) of the centre crop (resize 256, crop 224).
//   B raw    multi-stage: [pool5 (512) | global-average-pooled stage 3 (256 channels, 14x14)] = 768-d, one forward of
//            ResNet18.onnx edited here (a GlobalAveragePool node and a graph output on stage 3's last block).
//   B scaled the same, the stage-3 block multiplied by one factor per data set: mean ||pool5|| / mean ||stage 3|| over
//            that set's training rows, so both blocks have the same mean norm (pool5 stays as today). Fixed in
//            advance, never chosen on validation.
//   C224     multi-scale: pool5 of the centre crop averaged with pool5 of resize 224, crop 224 (the whole shorter side).
//   C320     multi-scale: pool5 of the centre crop averaged with pool5 of resize 320, crop 224 (a closer view).
// The inputs stay 224x224 (the mean image is 224x224). The planner's view decision (the mirror view) is taken from
// each data set and is the same for every variant; every variant's mirror rows use the same views, mirrored.
// Features are extracted once per source (flowers-small; each Fashion-MNIST repeat): the 2-class and 20/class flower
// sets are rows of flowers-small's features (the same images through the same transforms). Heads: one per seed and
// variant, same seed, same rows, same batch order (paired). Every extraction goes through the same code
// (FeatureExtractor.Extract, no disk cache), interleaved pass by pass, so the time ratios to A are comparable.
// Usage: dotnet bench/FeatureBench/bin/Release/net10.0/FeatureBench.dll [FLOWER_SEEDS=5] [FASHION_REPEATS=3]
//        (from the repository root)
using System.Diagnostics;
using Google.Protobuf;
using Headstart.Bench.Shared;
using Headstart.Data;
using Headstart.Models;
using Headstart.Onnx;
using Headstart.Training;
using Headstart.Weights;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

int flowerSeeds = args.Length > 0 ? int.Parse(args[0]) : 5;
int fashionRepeats = args.Length > 1 ? int.Parse(args[1]) : 3;
var wall = Stopwatch.StartNew();
var work = Directory.CreateTempSubdirectory("headstart-featurebench-");
string[] variants = ["A", "B raw", "B scaled", "C224", "C320"];
var variantNames = new Dictionary<string, string>
{
    ["A"] = "A: pool5 (today)",
    ["B raw"] = "B: pool5 + stage-3 GAP, raw (768-d)",
    ["B scaled"] = "B: pool5 + stage-3 GAP, norm-equalised (768-d)",
    ["C224"] = "C: centre + resize 224/crop 224, averaged",
    ["C320"] = "C: centre + resize 320/crop 224, averaged",
};
try
{
    var o0 = new TrainOptions { HeadFit = HeadFit.Sgd };
    var spec = ModelRegistry.Get(o0.Model);
    var weights = Pretrained.Resolve(spec);
    if (FrozenFeatures.Resolve(o0.Engine, spec, weights) != FeatureEngine.Onnx)
        throw new InvalidOperationException($"the default recipe does not run {spec.Name} on ONNX Runtime; this bench assumes it does");
    var pre = spec.PreprocessingFor(weights.Source);
    float[]? meanImage = pre.MeanImage is { } mi ? MeanImages.Get(mi) : null;
    Console.Error.WriteLine($"[feature] model {spec.Name}, weights {weights.Path}, preprocessing resize {pre.ResizeSize} crop {pre.InputSize}, " +
                            $"batch {o0.BatchSize}, workers {o0.Workers}, {Environment.ProcessorCount} cores");

    using var ortA = new OrtFeatureExtractor(weights.Path, allowSpinning: false, featureOutput: weights.Source.FeatureOutput);
    var (multiPath, stage3Name, pool5Name) = MultiStage.Write(weights.Path, work.FullName);
    Console.Error.WriteLine($"[feature] stage 3 = '{stage3Name}' (GlobalAveragePool added), pool5 = '{pool5Name}'; edited model {multiPath}");
    MultiStage.CheckStage3Shape(weights.Path, stage3Name, work.FullName);
    using var ortB = new MultiStage(multiPath, pool5Name);
    using (var warm = zeros(o0.BatchSize, 3, pre.InputSize, pre.InputSize))   // first runs allocate: keep them out of the timings
        for (int i = 0; i < 2; i++)
        {
            ortA.Extract(warm).Dispose();
            ortB.Extract(warm).Dispose();
        }

    var tf = new Dictionary<string, (ImageTransform Centre, ImageTransform Mirror)>
    {
        ["centre"] = (ImageTransform.Eval(pre, meanImage), ImageTransform.EvalMirrored(pre, meanImage)),
        ["s224"] = (ImageTransform.Eval(pre with { ResizeSize = 224 }, meanImage), ImageTransform.EvalMirrored(pre with { ResizeSize = 224 }, meanImage)),
        ["s320"] = (ImageTransform.Eval(pre with { ResizeSize = 320 }, meanImage), ImageTransform.EvalMirrored(pre with { ResizeSize = 320 }, meanImage)),
    };

    // One source's features for every variant; the time per extraction kind; the image views extracted.
    Source ExtractSource(ImageDataset data, bool trainMirror, bool valMirror, int seed)
    {
        var jobs = new (string Kind, Func<Tensor, Tensor> Backbone, string Tf)[]
        {
            ("A", ortA.Extract, "centre"), ("B", ortB.Extract, "centre"), ("x224", ortA.Extract, "s224"), ("x320", ortA.Extract, "s320"),
        };
        var passes = new List<(string Pass, IReadOnlyList<ImageSample> Samples, bool Mirror)> { ("trainC", data.Train, false) };
        if (trainMirror) passes.Add(("trainM", data.Train, true));
        passes.Add(("valC", data.Val, false));
        if (valMirror) passes.Add(("valM", data.Val, true));
        var feats = new Dictionary<(string Kind, string Pass), Tensor>();
        var seconds = jobs.ToDictionary(j => j.Kind, _ => 0.0);
        foreach (var (pass, samples, mirror) in passes)
            foreach (var (kind, backbone, t) in jobs)   // interleaved: a load change on the machine hits every kind alike
            {
                var clock = Stopwatch.StartNew();
                var (x, _, idx) = FeatureExtractor.Extract(backbone, data.Source, samples, mirror ? tf[t].Mirror : tf[t].Centre,
                    o0.BatchSize, seed, 0, o0.Workers, s => throw new InvalidOperationException($"{s.Path}: {s.Reason}"));
                seconds[kind] += clock.Elapsed.TotalSeconds;
                if (!idx.SequenceEqual(Enumerable.Range(0, samples.Count))) throw new InvalidOperationException("rows out of sample order");
                feats[(kind, pass)] = x;
            }
        int views = passes.Sum(p => p.Samples.Count);
        // B's first 512 columns are pool5 from the edited graph: they must be A's features.
        double maxDiff = passes.Max(p => feats[("B", p.Pass)].narrow(1, 0, 512).sub(feats[("A", p.Pass)]).abs().max().item<float>());
        Console.Error.WriteLine($"[feature]   B's pool5 block against A: max |diff| {maxDiff:g3}");
        View Make(Func<string, Tensor> of) => new(of("trainC"), trainMirror ? of("trainM") : null, of("valC"), valMirror ? of("valM") : null);
        var byVariant = new Dictionary<string, View>
        {
            ["A"] = Make(p => feats[("A", p)]),
            ["B"] = Make(p => feats[("B", p)]),
            ["C224"] = Make(p => feats[("A", p)].add(feats[("x224", p)]).div_(2)),
            ["C320"] = Make(p => feats[("A", p)].add(feats[("x320", p)]).div_(2)),
        };
        var time = new Dictionary<string, double>
        {
            ["A"] = seconds["A"], ["B raw"] = seconds["B"], ["B scaled"] = seconds["B"],
            ["C224"] = seconds["A"] + seconds["x224"], ["C320"] = seconds["A"] + seconds["x320"],
        };
        foreach (var ((kind, _), t) in feats)
            if (kind is "x224" or "x320") t.Dispose();
        Console.Error.WriteLine($"[feature]   {views} image views; seconds: " + string.Join(", ", seconds.Select(kv => $"{kv.Key} {kv.Value:F1}")));
        return new Source(byVariant, time, views);
    }

    var results = new List<(string Data, Dictionary<string, List<(int Correct, int Total)>> Acc, Dictionary<string, double> SecondsPerView, string Note)>();

    // Trains one head per variant on a case (the rows of a source for the case's samples), returns the correct counts.
    Dictionary<string, (int, int)> RunCase(ImageDataset data, Source src, Func<ImageSample, int> trainRow, Func<ImageSample, int> valRow, int seed, List<string> notes)
    {
        var o = new TrainOptions { Seed = seed, HeadFit = HeadFit.Sgd };
        var plan = TrainingPlanner.Plan(o, spec, DataShape.Of(data));
        var phase = plan.Phases[0];
        var views = plan.Features ?? throw new InvalidOperationException("the default plan has no cached features");
        if (views.TrainViews > 1) throw new InvalidOperationException("random cached views are not supported by this bench");
        bool mirror = views.TrainViews == 1;
        using var tIdx = tensor(data.Train.Select(s => (long)trainRow(s)).ToArray());
        using var vIdx = tensor(data.Val.Select(s => (long)valRow(s)).ToArray());
        long[] trainY = [.. data.Train.Select(s => (long)s.Label), .. mirror ? data.Train.Select(s => (long)s.Label) : []];
        long[] valY = [.. data.Val.Select(s => (long)s.Label)];
        var correct = new Dictionary<string, (int, int)>();
        foreach (var v in variants)
        {
            var f = src.Features[v.StartsWith('B') ? "B" : v];
            var trainX = mirror ? cat([f.TrainC.index_select(0, tIdx), f.TrainM!.index_select(0, tIdx)], 0) : f.TrainC.index_select(0, tIdx);
            var valX = f.ValC.index_select(0, vIdx);
            var valM = views.MirroredValidation ? f.ValM!.index_select(0, vIdx) : null;
            if (v == "B scaled")
            {
                // One factor from this case's training rows: both blocks get the same mean L2 norm; pool5 unchanged.
                double n5 = trainX.narrow(1, 0, 512).norm(1).mean().item<float>();
                double n3 = trainX.narrow(1, 512, 256).norm(1).mean().item<float>();
                double k = n5 / n3;
                foreach (var x in new[] { trainX, valX, valM }) x?.narrow(1, 512, 256).mul_(k);
                notes.Add($"seed {seed}: mean norm pool5 {n5:F2}, stage 3 {n3:F2}, factor {k:F3}");
            }
            using var feats = new FrozenFeatures
            {
                Train = new TensorRows(trainX, trainY), Val = new TensorRows(valX, valY), ValRows = [.. Enumerable.Range(0, valY.Length)],
                ValMirror = valM is null ? null : new TensorRows(valM, valY), Engine = "onnxruntime",
            };
            manual_seed(seed);
            int dim = (int)trainX.shape[1];
            // Today's head for 512-d rows (the model's own fc); for 768-d the same Linear(D, classes) in the ONNX-backbone
            // classifier (its backbone never runs: the Learner feeds it cached rows). Both are fc, the spec's head group.
            using ImageClassifier model = dim == 512 ? spec.Create(data.Classes.Count) : new OnnxBackboneClassifier(multiPath, pool5Name, dim, data.Classes.Count);
            using (var learner = new Learner(model, spec, new FeatureBatchSource(feats.Train, o.BatchSize, seed), null, plan.Optimizer, [], plan.LabelSmoothing, seed))
            {
                learner.FreezeTo(phase.FrozenGroups);
                learner.Fit(phase.Epochs, phase.LearningRate, phase.Schedule);
            }
            using var logp = feats.ValLogProbabilities(model);
            using var predicted = logp.argmax(1);
            long[] pr = predicted.data<long>().ToArray();
            correct[v] = (pr.Where((c, i) => c == valY[i]).Count(), pr.Length);
        }
        Console.Error.WriteLine($"[feature]   seed {seed} ({(mirror ? "centre + mirror" : "centre only")}, {data.Train.Count} train, {data.Val.Count} val): " +
                                string.Join(", ", correct.Select(kv => $"{kv.Key} {kv.Value.Item1}/{kv.Value.Item2}")));
        return correct;
    }

    void Record(string name, List<Dictionary<string, (int, int)>> perSeed, Dictionary<string, double> secondsPerView, List<string> notes)
    {
        var acc = variants.ToDictionary(v => v, v => perSeed.Select(d => d[v]).ToList());
        results.Add((name, acc, secondsPerView, string.Join("; ", notes)));
    }

    // --- flowers: one source (flowers-small, centre + mirror training views), three sets drawn from it ---
    var flowers = ImageFolder.Load(BenchSets.FlowersSmall);
    var two = ImageFolder.Load(BenchSets.TwoFlowers(work.FullName));
    static string Key(ImageSample s) => Path.GetFileName(Path.GetDirectoryName(s.Path)) + "/" + Path.GetFileName(s.Path);
    var flowerTrain = flowers.Train.Select((s, i) => (Key(s), i)).ToDictionary(p => p.Item1, p => p.i);
    var flowerVal = flowers.Val.Select((s, i) => (Key(s), i)).ToDictionary(p => p.Item1, p => p.i);
    var flowerPlan = TrainingPlanner.Plan(new TrainOptions { HeadFit = HeadFit.Sgd }, spec, DataShape.Of(flowers)).Features!;
    Console.Error.WriteLine($"[feature] flowers-small: extracting ({flowers.Train.Count} train, {flowers.Val.Count} val, views {flowerPlan})");
    var flowerSrc = ExtractSource(flowers, trainMirror: true, valMirror: flowerPlan.MirroredValidation, seed: 1);
    {
        // A is today's features: compare with FrozenFeatures.Extract (the recipe's own path, cold disk cache).
        var o = new TrainOptions { CacheDir = Path.Combine(work.FullName, "cache"), HeadFit = HeadFit.Sgd };
        using var template = spec.Create(flowers.Classes.Count);
        using var today = FrozenFeatures.Extract(template, spec, weights, pre, flowers, o, flowerPlan, meanImage, null, _ => { }, CancellationToken.None);
        var a = flowerSrc.Features["A"];
        using var mine = cat([a.TrainC, a.TrainM!], 0);
        using var theirs = today.Train.Gather([.. Enumerable.Range(0, today.Train.Count).Select(i => (long)i)]);
        using var theirVal = today.Val.Gather([.. Enumerable.Range(0, today.Val.Count).Select(i => (long)i)]);
        Console.Error.WriteLine($"[feature]   A against FrozenFeatures.Extract (today's path): train max |diff| {mine.sub(theirs).abs().max().item<float>():g3}, " +
                                $"val max |diff| {a.ValC.sub(theirVal).abs().max().item<float>():g3}");
    }
    var flowerSecondsPerView = flowerSrc.Seconds.ToDictionary(kv => kv.Key, kv => kv.Value / flowerSrc.Views);
    var flowerCases = new (string Name, Func<int, ImageDataset> Load)[]
    {
        ("flowers-small (5 classes, 80/class)", _ => flowers),
        ("flowers daisy/dandelion (2 classes, 80/class)", _ => two),
        ("flowers-small (5 classes, 20/class; a subset per seed)", s => Comparison.Subset(flowers, 20, s)),
    };
    foreach (var (name, load) in flowerCases)
    {
        Console.Error.WriteLine($"[feature] {name}");
        var perSeed = new List<Dictionary<string, (int, int)>>();
        var notes = new List<string>();
        for (int s = 1; s <= flowerSeeds; s++)
            perSeed.Add(RunCase(load(s), flowerSrc, x => flowerTrain[Key(x)], x => flowerVal[Key(x)], s, notes));
        Console.Error.WriteLine("[feature]   B scaled: " + string.Join("; ", notes));
        Record(name, perSeed, flowerSecondsPerView, notes);
    }

    // --- Fashion-MNIST, 100/class: a different subset per repeat, so a source per repeat ---
    if (fashionRepeats > 0)
    {
        const string name = "Fashion-MNIST (10 classes, 100/class; a subset per repeat)";
        Console.Error.WriteLine($"[feature] {name}");
        var perSeed = new List<Dictionary<string, (int, int)>>();
        var notes = new List<string>();
        var seconds = variants.ToDictionary(v => v, _ => 0.0);
        int views = 0;
        for (int r = 1; r <= fashionRepeats; r++)
        {
            var data = FashionMnist.Load(FashionMnist.DefaultDir, 100, 100, r);
            var plan = TrainingPlanner.Plan(new TrainOptions { Seed = r, HeadFit = HeadFit.Sgd }, spec, DataShape.Of(data)).Features!;
            var src = ExtractSource(data, plan.TrainViews == 1, plan.MirroredValidation, r);
            foreach (var v in variants) seconds[v] += src.Seconds[v];
            views += src.Views;
            var trainRow = data.Train.Select((s, i) => (s.Path, i)).ToDictionary(p => p.Path, p => p.i);
            var valRow = data.Val.Select((s, i) => (s.Path, i)).ToDictionary(p => p.Path, p => p.i);
            perSeed.Add(RunCase(data, src, x => trainRow[x.Path], x => valRow[x.Path], r, notes));
            src.Dispose();
        }
        Console.Error.WriteLine("[feature]   B scaled: " + string.Join("; ", notes));
        Record(name, perSeed, seconds.ToDictionary(kv => kv.Key, kv => kv.Value / views), notes);
    }
    flowerSrc.Dispose();

    Console.WriteLine("| data | variant | mean val accuracy | per-seed diff vs A (points) | mean diff | wins/ties/losses | extraction s per image view (x A) |");
    Console.WriteLine("|---|---|---:|---|---:|---|---:|");
    foreach (var (data, acc, spv, _) in results)
    {
        var a = acc["A"];
        foreach (var v in variants)
        {
            var x = acc[v];
            double mean = x.Average(c => (double)c.Correct / c.Total);
            var diffs = x.Zip(a, (p, q) => 100.0 * (p.Correct - q.Correct) / p.Total).ToList();
            string cost = $"{spv[v]:F4} ({spv[v] / spv["A"]:F2}x)";
            if (v == "A") Console.WriteLine($"| {data} | {variantNames[v]} | {mean:P2} | - | - | - | {cost} |");
            else
                Console.WriteLine($"| {data} | {variantNames[v]} | {mean:P2} | {string.Join(", ", diffs.Select(d => d.ToString("+0.0;-0.0;0.0")))} | " +
                                  $"{diffs.Average():+0.00;-0.00;0.00} | {diffs.Count(d => d > 0)}/{diffs.Count(d => d == 0)}/{diffs.Count(d => d < 0)} | {cost} |");
        }
    }
    Console.WriteLine();
    foreach (var (data, _, _, note) in results) Console.WriteLine($"- {data}, B scaled: {note}");
    Console.WriteLine($"\nwall {wall.Elapsed.TotalMinutes:F1} min");
}
finally
{
    work.Delete(recursive: true);
}

/// <summary>One variant's rows of one source, in sample order: training centre (and mirror), validation centre (and mirror).</summary>
sealed record View(Tensor TrainC, Tensor? TrainM, Tensor ValC, Tensor? ValM);

/// <summary>A source's features per variant ("A", "B", "C224", "C320"), the extraction seconds per table variant, and
/// the image views extracted.</summary>
sealed record Source(Dictionary<string, View> Features, Dictionary<string, double> Seconds, int Views) : IDisposable
{
    public void Dispose()
    {
        foreach (var t in Features.Values.SelectMany(v => new[] { v.TrainC, v.TrainM, v.ValC, v.ValM }).OfType<Tensor>().Distinct())
            t.Dispose();
    }
}

/// <summary>ResNet18.onnx with a second output: stage 3's last block, global-average-pooled. One session, both outputs
/// per batch: (B, 512 + 256) rows, pool5 first. The session options are OrtFeatureExtractor's (the recipe's).</summary>
sealed class MultiStage : IDisposable
{
    public const string Stage3Pooled = "featurebench_stage3_gap";
    private readonly InferenceSession session;
    private readonly string inputName, pool5;

    public MultiStage(string path, string pool5Name)
    {
        pool5 = pool5Name;
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = Environment.ProcessorCount,
            InterOpNumThreads = 1,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        session = new InferenceSession(path, options);
        inputName = session.InputMetadata.Keys.Single();
    }

    /// <summary>Writes the edited model next to <paramref name="dir"/>: the batch dimension symbolic (value_info dropped,
    /// as OnnxBatchEdit does), a GlobalAveragePool on stage 3's output, and that as a second graph output.</summary>
    public static (string Path, string Stage3, string Pool5) Write(string onnxPath, string dir)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
        var g = model.Graph;
        var inits = g.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());
        // Stage 3's output is what stage 4 reads: the input of the first convolution with 512 output channels (stage
        // 4's first 3x3 conv and its 1x1 shortcut both read it). It must be a Relu fed by 256-channel convolutions.
        var first512 = g.Node.First(n => n.OpType == "Conv" && inits.TryGetValue(n.Input[1], out var d) && d[0] == 512);
        string stage3 = first512.Input[0];
        var producer = g.Node.Single(n => n.Output.Contains(stage3));
        var lastConvBefore = g.Node.Take(g.Node.IndexOf(producer)).Last(n => n.OpType == "Conv");
        if (producer.OpType != "Relu" || inits[lastConvBefore.Input[1]][0] != 256)
            throw new InvalidOperationException($"'{stage3}' (from {producer.OpType}) does not look like stage 3's output");
        var input = g.Input.Single(i => !inits.ContainsKey(i.Name));
        if (g.Output.Count != 1) throw new InvalidOperationException("expected one graph output (pool5)");
        foreach (var v in g.Output.Append(input))
            v.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "N" };
        g.ValueInfo.Clear();
        g.Node.Add(new NodeProto { OpType = "GlobalAveragePool", Name = "FeatureBench_Stage3Pool", Input = { stage3 }, Output = { Stage3Pooled } });
        g.Output.Add(new ValueInfoProto
        {
            Name = Stage3Pooled,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = (int)TensorProto.Types.DataType.Float,
                    Shape = new TensorShapeProto
                    {
                        Dim =
                        {
                            new TensorShapeProto.Types.Dimension { DimParam = "N" }, new TensorShapeProto.Types.Dimension { DimValue = 256 },
                            new TensorShapeProto.Types.Dimension { DimValue = 1 }, new TensorShapeProto.Types.Dimension { DimValue = 1 },
                        },
                    },
                },
            },
        });
        string path = Path.Combine(dir, "resnet18-cntk-stage3.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return (path, stage3, g.Output[0].Name);
    }

    /// <summary>Runs the unpooled stage-3 tensor once (a separate throw-away model) and checks it is (1, 256, 14, 14).</summary>
    public static void CheckStage3Shape(string onnxPath, string stage3, string dir)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
        model.Graph.ValueInfo.Clear();
        model.Graph.Output.Add(new ValueInfoProto { Name = stage3, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } });
        string path = Path.Combine(dir, "stage3-check.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        using var s = new InferenceSession(path);
        using var x = OrtValue.CreateTensorValueFromMemory(new float[3 * 224 * 224], [1, 3, 224, 224]);
        using var run = new RunOptions();
        using var outs = s.Run(run, [s.InputMetadata.Keys.Single()], [x], [stage3]);
        long[] shape = outs[0].GetTensorTypeAndShape().Shape;
        Console.Error.WriteLine($"[feature] stage 3 '{stage3}' runs as ({string.Join(", ", shape)})");
        if (!shape.SequenceEqual([1L, 256, 14, 14])) throw new InvalidOperationException("stage 3 is not (1, 256, 14, 14)");
        File.Delete(path);
    }

    /// <summary>(B, 3, 224, 224) float32 → (B, 768): pool5 (512) then stage 3 pooled (256). As OrtFeatureExtractor.Extract.</summary>
    public Tensor Extract(Tensor batch)
    {
        long b = batch.shape[0];
        using var cpu = batch.cpu();
        using var dense = cpu.contiguous();
        var bytes = dense.bytes;
        unsafe
        {
            fixed (byte* data = bytes)
            {
                using var inputValue = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                    [b, 3, 224, 224], (IntPtr)data, bytes.Length);
                using var runOptions = new RunOptions();
                using var outputs = session.Run(runOptions, [inputName], [inputValue], [pool5, Stage3Pooled]);
                var p5 = outputs[0].GetTensorDataAsSpan<float>();   // (B·512)
                var s3 = outputs[1].GetTensorDataAsSpan<float>();   // (B·256)
                var rows = new float[b * 768];
                for (int i = 0; i < b; i++)
                {
                    p5.Slice(i * 512, 512).CopyTo(rows.AsSpan(i * 768, 512));
                    s3.Slice(i * 256, 256).CopyTo(rows.AsSpan(i * 768 + 512, 256));
                }
                return tensor(rows, [b, 768]);
            }
        }
    }

    public void Dispose() => session.Dispose();
}
