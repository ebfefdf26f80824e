// Inference speed of an exported model: TorchSharp forward vs ONNX Runtime on the exported .onnx, per image, at
// batch 1 and 32, on the CPU. Usage: dotnet run -c Release --project bench/InferenceBench [-- THREADS [ROUNDS]]
// Both engines get the same thread count. Configs are interleaved round by round; best and median per image are
// reported, so that a shared, busy machine shows up as spread rather than as a bias against one engine.
using System.Diagnostics;
using Headstart.Export;
using Headstart.Models;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

int threads = args.Length > 0 ? int.Parse(args[0]) : 2;
int rounds = args.Length > 1 ? int.Parse(args[1]) : 3;
torch.set_num_threads(threads);
Console.WriteLine($"threads {threads}, {rounds} rounds, {Environment.ProcessorCount} cores visible");
Console.WriteLine("| model | batch | TorchSharp ms/image (best / median) | ORT ms/image (best / median) | ORT speed-up (median) |");
Console.WriteLine("|---|---|---|---|---|");

var dir = Directory.CreateTempSubdirectory("headstart-bench-");
try
{
    foreach (var name in new[] { "resnet18", "mobilenet_v3_large" })
    {
        var spec = ModelRegistry.Get(name);
        using var model = spec.Create(10);
        model.eval();
        var path = Path.Combine(dir.FullName, name + ".onnx");
        OnnxExporter.Export(model, spec, Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray(), path);
        using var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        using var session = new InferenceSession(path, sessionOptions);
        using var runOptions = new RunOptions();
        var pre = spec.Preprocessing;   // the export's own (no preprocessing given)
        int s = pre.InputSize;

        foreach (int batch in new[] { 1, 32 })
        {
            var rgb = torch.rand(batch, 3, s, s, generator: torch.manual_seed(1));
            var mean = torch.tensor(pre.Mean).view(1, 3, 1, 1);
            var std = torch.tensor(pre.Std).view(1, 3, 1, 1);
            var pixels = rgb.data<float>().ToArray();

            double Torch()
            {
                var w = Stopwatch.StartNew();
                using var _ = torch.inference_mode();
                using var scope = NewDisposeScope();
                model.call((rgb - mean) / std).softmax(1).data<float>().ToArray();   // the same work as the graph
                return w.Elapsed.TotalMilliseconds / batch;
            }
            double Ort()
            {
                var w = Stopwatch.StartNew();
                using var input = OrtValue.CreateTensorValueFromMemory(pixels, [batch, 3, s, s]);
                using var outputs = session.Run(runOptions, [OnnxExporter.InputName], [input], [OnnxExporter.ProbabilitiesName]);
                outputs[0].GetTensorDataAsSpan<float>().ToArray();
                return w.Elapsed.TotalMilliseconds / batch;
            }
            Torch(); Ort();   // warm-up
            int reps = batch == 1 ? 16 : 2;
            var t = new List<double>(); var o = new List<double>();
            for (int r = 0; r < rounds; r++)
                for (int i = 0; i < reps; i++) { t.Add(Torch()); o.Add(Ort()); }
            double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }
            double tm = Median(t), om = Median(o);
            Console.WriteLine($"| {name} | {batch} | {t.Min():F1} / {tm:F1} | {o.Min():F1} / {om:F1} | {tm / om:F2}x |");
        }
    }
}
finally
{
    dir.Delete(recursive: true);
}
