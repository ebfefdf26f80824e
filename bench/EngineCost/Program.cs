// The speed cost of the engine guard's workaround: TorchSharp forward (eval, no_grad) and training step (forward,
// backward, SGD) of resnet18 and googlenet at batch 32, 224 px, in whatever convolution engine this process runs.
// Run it through run.sh, which alternates HEADSTART_ENGINE_GUARD=off, =force and auto in separate processes and prints
// the ratios. Usage: dotnet bench/EngineCost/bin/Release/net10.0/EngineCost.dll [ROUNDS]   -> one JSON line on stdout
using System.Diagnostics;
using System.Text.Json;
using Headstart.Models;
using Headstart.Runtime;
using TorchSharp;
using static TorchSharp.torch;

int rounds = args.Length > 0 ? int.Parse(args[0]) : 3;
if (rounds == 0) { EngineGuard.Ensure(); return; }   // run.sh: fill the verdict cache only
const int Batch = 32;
var status = EngineGuard.Ensure();
Console.Error.WriteLine($"engine: {status.Summary}; oneDNN convolutions {EngineGuard.OneDnnConvolutions}; {torch.get_num_threads()} threads");

var results = new Dictionary<string, double>();
foreach (var name in new[] { "resnet18", "googlenet" })
{
    using var model = ModelRegistry.Get(name).Create(5);
    var x = torch.rand(Batch, 3, 224, 224, generator: torch.manual_seed(1));
    var y = torch.randint(0, 5, [Batch], generator: torch.manual_seed(2));
    using var sgd = torch.optim.SGD(model.parameters(), 0.001, momentum: 0.9);

    double Forward()
    {
        model.eval();
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        model.call(x);
        return sw.Elapsed.TotalMilliseconds;
    }

    double Step()
    {
        model.train();
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        sgd.zero_grad();
        var loss = nn.functional.cross_entropy(model.call(x), y);
        loss.backward();
        sgd.step();
        return sw.Elapsed.TotalMilliseconds;
    }

    Forward(); Step();   // warm-up: allocator, oneDNN primitive caches
    var fwd = Enumerable.Range(0, rounds).Select(_ => Forward()).Order().ToList();
    var step = Enumerable.Range(0, rounds).Select(_ => Step()).Order().ToList();
    results[$"{name}_forward_ms"] = fwd[fwd.Count / 2];
    results[$"{name}_train_step_ms"] = step[step.Count / 2];
    Console.Error.WriteLine($"{name}: forward {fwd[fwd.Count / 2]:F0} ms, train step {step[step.Count / 2]:F0} ms per batch of {Batch} (median of {rounds})");
}
Console.WriteLine(JsonSerializer.Serialize(new
{
    mode = status.Mode.ToString().ToLowerInvariant(),
    workaround = status.Workaround,
    onednn_convolutions = EngineGuard.OneDnnConvolutions,
    batch = Batch,
    results,
}));

