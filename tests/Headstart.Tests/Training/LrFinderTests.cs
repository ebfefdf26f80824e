using System.Xml.Linq;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using TorchSharp;
using OptimizerHelper = TorchSharp.Modules.OptimizerHelper;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training;

[Collection(GlobalRngCollection.Name)]
public class LrFinderTests
{
    private static ModelSpec Spec => ModelRegistry.Get("resnet18");

    private static Learner ToyLearner(ImageClassifier model)
    {
        var g = new Generator(1);
        var y = randint(0, 3, [256], generator: g);
        var x = randn([256, 512], generator: g) + 0.5 * nn.functional.one_hot(y, 512).to(float32);
        var l = new Learner(model, Spec, new TensorBatchSource(x, y, 32, 0), null, new OptimizerOptions { Nesterov = true }, [new SaveBestCallback()]);
        l.Freeze();
        return l;
    }

    private static byte[] OptimizerState(Learner l)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) ((OptimizerHelper)l.Optimizer!).save_state_dict(w);
        return ms.ToArray();
    }

    [Fact]
    public void SweepRestoresWeightsOptimizerStateRngAndCallbacks()
    {
        manual_seed(0);
        using var model = Spec.Create(3);
        using var learner = ToyLearner(model);
        learner.Fit(1, 0.01); // gives the optimizer momentum buffers worth preserving
        var weights = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var optimizer = learner.Optimizer;
        byte[] optState = OptimizerState(learner);
        var callbacks = learner.Callbacks.ToList();
        int history = learner.Recorder.History.Count;
        using var rng = get_rng_state();

        var result = LrFinder.Run(learner, new LrFindOptions { Iterations = 60, EndLr = 1e4 });

        foreach (var (k, v) in model.state_dict()) Assert.True(v.eq(weights[k]).all().item<bool>(), $"{k} was not restored");
        Assert.Same(optimizer, learner.Optimizer);
        Assert.Equal(optState, OptimizerState(learner));
        Assert.Equal(callbacks, learner.Callbacks.ToList());
        Assert.Equal(history, learner.Recorder.History.Count);
        Assert.True(get_rng_state().eq(rng).all().item<bool>());

        // The sweep ran: exponential LRs, a divergence stop before the end, suggestions inside the useful range.
        Assert.True(result.Diverged, $"a sweep up to LR 1e4 should diverge: {string.Join(", ", result.LearningRates.Zip(result.Losses).Select(p => $"{p.First:G2}:{p.Second:G3}"))}");
        Assert.InRange(result.LearningRates.Count, 10, 59);
        Assert.Equal(1e-7, result.LearningRates[0], 12);
        double ratio = result.LearningRates[1] / result.LearningRates[0];
        Assert.Equal(ratio, result.LearningRates[^1] / result.LearningRates[^2], 6);
        Assert.InRange(result.Valley, 1e-7, result.LearningRates[^1]);
        Assert.InRange(result.Steepest, 1e-7, result.LearningRates[^1]);
        Assert.True(result.Losses[^1] > 4 * result.Losses.Min() || !double.IsFinite(result.Losses[^1]));

        // Training afterwards still works from the restored optimizer.
        learner.Fit(1, 0.01);
    }

    [Fact]
    public void SuggestionsFollowTheLossCurve()
    {
        // Loss falls like a tanh centred at LR 1e-3, then blows up after 1e-1.
        var lrs = Enumerable.Range(0, 121).Select(i => Math.Pow(10, -7 + i * 0.05)).ToList();
        var losses = lrs.Select(lr => 2 - Math.Tanh(2 * (Math.Log10(lr) + 3)) + (lr > 0.1 ? 50 * (lr - 0.1) : 0)).ToList();
        Assert.Equal(-3, Math.Log10(LrFinder.Steepest(lrs, losses)), 1);
        double valley = LrFinder.Valley(lrs, losses);
        // The longest decreasing run spans 1e-7..1e-1; fastai's point half way into its middle third: 10^(-7 + 6 * 0.5).
        Assert.Equal(-4, Math.Log10(valley), 1);
    }

    [Fact]
    public void PlotIsWellFormedSvgWithBothSuggestions()
    {
        var lrs = Enumerable.Range(0, 50).Select(i => Math.Pow(10, -6 + i * 0.1)).ToList();
        var losses = lrs.Select(lr => 1.5 - Math.Tanh(Math.Log10(lr) + 3)).ToList();
        var svg = XDocument.Parse(LrFinder.ToSvg(new LrFindResult(lrs, losses, LrFinder.Steepest(lrs, losses), LrFinder.Valley(lrs, losses), false)));
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(50, svg.Descendants(ns + "polyline").Single().Attribute("points")!.Value.Split(' ').Length);
        Assert.Equal(2, svg.Descendants(ns + "circle").Count());
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value.StartsWith("valley"));
    }
}
