using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training;

[Collection(GlobalRngCollection.Name)]
public class OptimizerAndCallbackTests
{
    private static ModelSpec Spec => ModelRegistry.Get("resnet18");

    private static Learner Unfrozen(ImageClassifier model, OptimizerOptions opt, params Callback[] cbs)
    {
        var x = randn(4, 3, 32, 32);
        var y = tensor(new long[] { 0, 1, 0, 1 });
        var l = new Learner(model, Spec, new TensorBatchSource(x, y, 4, 0, isFeatures: false), null, opt, cbs);
        l.Unfreeze();
        return l;
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.AdamW)]
    public void WeightDecaySkipsBiasesAndNormalisationWeights(OptimizerKind kind)
    {
        manual_seed(0);
        using var model = Spec.Create(2);
        using var learner = Unfrozen(model, new OptimizerOptions { Kind = kind, WeightDecay = 0.05, Nesterov = kind == OptimizerKind.Sgd });
        learner.Fit(1, 1e-3);
        var names = model.named_parameters().ToDictionary(p => p.parameter.Handle, p => p.name);
        int decayed = 0, exempt = 0;
        foreach (var g in learner.Optimizer!.ParamGroups.Cast<TorchSharp.Modules.ParamGroup>())
        {
            double wd = g switch
            {
                TorchSharp.Modules.SGD.ParamGroup s => s.Options.weight_decay!.Value,
                TorchSharp.Modules.AdamW.ParamGroup a => a.Options.weight_decay!.Value,
                _ => throw new InvalidOperationException(g.GetType().Name),
            };
            foreach (var p in g.Parameters)
            {
                if (p.dim() <= 1) { Assert.True(wd == 0, $"{names[p.Handle]} (1-d) has weight decay {wd}"); exempt++; }
                else { Assert.Equal(0.05, wd); decayed++; }
            }
        }
        Assert.Equal(model.parameters().Count(), decayed + exempt);
        Assert.Equal(model.parameters().Count(p => p.dim() <= 1), exempt); // every BN weight/bias and the fc bias
        if (kind == OptimizerKind.Sgd)
            Assert.All(learner.Optimizer.ParamGroups.Cast<TorchSharp.Modules.SGD.ParamGroup>(), g => Assert.True(g.Options.nesterov));
    }

    /// <summary>Records the global gradient norm the optimizer sees (after every AfterBackward callback).</summary>
    private sealed class GradNormSpy(ImageClassifier model, int order = 10) : Callback
    {
        public override int Order => order; // default: after the clip callback (Order 0)
        public List<double> Norms { get; } = [];

        public override void AfterBackward(Learner l)
        {
            double sq = model.parameters().Where(p => p.grad is not null).Sum(p => p.grad!.pow(2).sum().item<float>());
            Norms.Add(Math.Sqrt(sq));
        }
    }

    [Fact]
    public void GradientClippingBoundsTheGlobalNorm()
    {
        manual_seed(0);
        using var model = Spec.Create(2);
        var unclipped = new GradNormSpy(model);
        using (var l = Unfrozen(model, new OptimizerOptions(), unclipped)) l.Fit(1, 0.0);
        Assert.True(unclipped.Norms.Single() > 0.05, $"need a gradient norm above the clip value, got {unclipped.Norms.Single()}");

        var clipped = new GradNormSpy(model);
        var pre = new GradNormSpy(model, -10);
        using (var l = Unfrozen(model, new OptimizerOptions(), pre, new GradientClipCallback(0.05), clipped)) l.Fit(1, 0.0);
        Assert.True(pre.Norms.Single() > 0.05, $"pre {pre.Norms.Single()}");
        Assert.Equal(0.05, clipped.Norms.Single(), 4);
    }

    [Fact]
    public void LabelSmoothingChangesTheLossAsPyTorchDefines()
    {
        // Loss seen by callbacks equals (1 - e) * CE + e * mean(-log p) over classes (PyTorch's label_smoothing).
        manual_seed(0);
        using var model = Spec.Create(3);
        var x = randn(8, 512);
        var y = tensor(new long[] { 0, 1, 2, 0, 1, 2, 0, 1 });
        var seen = new List<double>();
        var spy = new LossSpy(seen);
        using var learner = new Learner(model, Spec, new TensorBatchSource(x, y, 8, 0), null, null, [spy], labelSmoothing: 0.2);
        learner.Freeze();
        learner.Fit(1, 0.0);
        model.eval();
        using var logp = nn.functional.log_softmax(model.ForwardClassifier(x), 1);
        double ce = -logp.gather(1, y.unsqueeze(1)).mean().item<float>();
        double uniform = -logp.mean().item<float>();
        Assert.Equal(0.8 * ce + 0.2 * uniform, seen.Single(), 4);
    }

    private sealed class LossSpy(List<double> seen) : Callback
    {
        public override void AfterLoss(Learner l) => seen.Add(l.Loss!.item<float>());
    }
}
