// Frozen-backbone speed: resnet18-cntk features per image in ONNX Runtime vs TorchSharp, on the CPU.
// Usage: dotnet run -c Release --project bench/BackboneBench [-- THREADS [ROUNDS]]
// Configs are interleaved round by round and each batch is timed alone, so that a shared, busy machine shows up as
// spread between the best and the median rather than as a bias against whichever engine ran during a spike.
using System.Diagnostics;
using Headstart.Onnx;
using Headstart.Models;
using Headstart.Training;
using Headstart.Weights;
using TorchSharp;
using static TorchSharp.torch;

int threads = args.Length > 0 ? int.Parse(args[0]) : 2;
int rounds = args.Length > 1 ? int.Parse(args[1]) : 3;
const int ImagesPerRound = 32;
torch.set_num_threads(threads);
Console.WriteLine($"threads {threads} (ORT intra-op and torch.set_num_threads), {rounds} rounds of {ImagesPerRound} images per config, " +
    $"{Environment.ProcessorCount} cores visible");

using var model = ModelRegistry.Get("resnet18-cntk").Create();
using (var state = OnnxWeights.ReadCntkResNet18(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18)))
    model.load_state_dict(state.ToDictionary(kv => kv.Key, kv => kv.Value), strict: false);
model.eval();
using var ort = new OrtFeatureExtractor(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18), threads);

Tensor Torch(Tensor x)
{
    using var _ = torch.inference_mode();
    return model.ForwardFeatures(x);
}

// TorchSharp 0.107 has the memory_format enum but no overload taking it (no contiguous/to(memory_format)); a
// channels-last input can still be made by strides, and libtorch's convolutions then run channels-last.
Tensor TorchChannelsLast(Tensor x)
{
    using var _ = torch.inference_mode();
    using var nhwc = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);   // (B, 3, H, W), NHWC strides
    return model.ForwardFeatures(nhwc);
}

var configs = new (string Engine, int Batch, Func<Tensor, Tensor> Run)[]
{
    ("ONNX Runtime 1.31.1", 1, ort.Extract), ("ONNX Runtime 1.31.1", 16, ort.Extract), ("ONNX Runtime 1.31.1", 32, ort.Extract),
    ("TorchSharp 0.107, eval", 8, Torch), ("TorchSharp 0.107, eval", 16, Torch), ("TorchSharp 0.107, eval", 32, Torch),
    ("TorchSharp, channels-last", 16, TorchChannelsLast), ("TorchSharp, channels-last", 32, TorchChannelsLast),
};
var inputs = configs.Select(c => torch.rand(c.Batch, 3, 224, 224, generator: torch.manual_seed(1)) * 255f - 120f).ToArray();
var msPerImage = configs.Select(_ => new List<double>()).ToArray();
foreach (var (c, i) in configs.Select((c, i) => (c, i))) c.Run(inputs[i]).Dispose();   // warm-up: allocators, arenas, oneDNN
for (int r = 0; r < rounds; r++)
    for (int i = 0; i < configs.Length; i++)
        for (int b = 0; b < Math.Max(1, ImagesPerRound / configs[i].Batch); b++)
        {
            var sw = Stopwatch.StartNew();
            configs[i].Run(inputs[i]).Dispose();
            msPerImage[i].Add(sw.Elapsed.TotalMilliseconds / configs[i].Batch);
        }

Console.WriteLine("| engine | batch | best ms/image | median ms/image | best images/s |");
Console.WriteLine("|---|---:|---:|---:|---:|");
for (int i = 0; i < configs.Length; i++)
{
    var t = msPerImage[i].Order().ToArray();
    Console.WriteLine($"| {configs[i].Engine} | {configs[i].Batch} | {t[0]:F1} | {t[t.Length / 2]:F1} | {1000 / t[0]:F1} |");
}
foreach (var x in inputs) x.Dispose();
