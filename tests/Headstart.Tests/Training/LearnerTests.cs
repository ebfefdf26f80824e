using Headstart.Models;
using Headstart.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training;

[Collection(Headstart.Tests.TestSupport.GlobalRngCollection.Name)]
public class LearnerTests
{
    private static ModelSpec Spec => ModelRegistry.Get("resnet18");

    /// <summary>Separable toy features for the 3-class head of resnet18: class c has mean +3 on dims [c*10, c*10+10).</summary>
    private static (Tensor X, Tensor Y) Toy(int n, int seed)
    {
        var g = new Generator((ulong)seed);
        var y = randint(0, 3, [n], generator: g);
        var x = randn([n, 512], generator: g);
        var shift = zeros(3, 512);
        for (int c = 0; c < 3; c++) shift[c, TensorIndex.Slice(c * 10, c * 10 + 10)] = tensor(3f);
        return (x + shift.index_select(0, y), y);
    }

    private static Learner ToyLearner(ImageClassifier model, int seed, params Callback[] cbs)
    {
        var (x, y) = Toy(300, 1);
        var (vx, vy) = Toy(150, 2);
        var l = new Learner(model, Spec, new TensorBatchSource(x, y, 32, seed), new TensorBatchSource(vx, vy, 64, seed),
            new OptimizerOptions { Kind = OptimizerKind.Sgd }, cbs, seed: seed);
        l.Freeze();
        return l;
    }

    [Fact]
    public void FrozenHeadOnCachedFeaturesLearnsAndLeavesBackboneUntouched()
    {
        manual_seed(0);
        using var model = Spec.Create(3);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var learner = ToyLearner(model, 7);
        learner.Fit(5, 0.05, new CosineSchedule());
        Assert.True(learner.ValAccuracy > 0.95, $"val accuracy {learner.ValAccuracy}");
        Assert.Equal(5, learner.Recorder.History.Count);
        foreach (var (name, t) in model.state_dict())
        {
            bool head = name.StartsWith("fc.", StringComparison.Ordinal);
            Assert.Equal(!head, t.allclose(before[name], 0, 0));
        }
    }

    [Fact]
    public void MicroBatchesAccumulateToTheWholeBatchStep()
    {
        // A linear head (no BatchNorm, no dropout): chunked gradient accumulation must give the whole batch's steps.
        (Tensor W, double Loss, double Acc) Run(int? micro)
        {
            manual_seed(5);
            using var model = Spec.Create(3);
            using var learner = ToyLearner(model, 13);
            learner.MicroBatch = micro;
            learner.Fit(2, 0.05, new CosineSchedule());
            var last = learner.Recorder.History[^1];
            return (model.state_dict()["fc.weight"].clone(), last.TrainLoss, last.TrainAccuracy);
        }
        var whole = Run(null);
        var chunked = Run(5);   // batches of 32 as 5+5+...+2: uneven chunks too
        Assert.True(whole.W.allclose(chunked.W, rtol: 0, atol: 1e-5), $"max difference {(whole.W - chunked.W).abs().max().item<float>()}");
        Assert.Equal(whole.Loss, chunked.Loss, 4);
        Assert.Equal(whole.Acc, chunked.Acc, 9);
    }

    [Fact]
    public void SameSeedGivesIdenticalWeights()
    {
        Tensor Run()
        {
            manual_seed(3);
            using var model = Spec.Create(3);
            using var learner = ToyLearner(model, 11);
            learner.Fit(3, 0.05, new StepSchedule(1, 0.5));
            return model.state_dict()["fc.weight"].clone();
        }
        Assert.True(Run().allclose(Run(), 0, 0));
    }

    [Fact]
    public void FrozenBatchNormKeepsRunningStatsDuringImageTraining()
    {
        manual_seed(0);
        using var model = Spec.Create(2);
        var x = randn(8, 3, 64, 64);
        var y = tensor(new long[] { 0, 1, 0, 1, 0, 1, 0, 1 });
        using var learner = new Learner(model, Spec, new TensorBatchSource(x, y, 4, 0, isFeatures: false), null);
        learner.FreezeTo(3); // stem, layer1, layer2 frozen
        var frozenBefore = model.state_dict().Where(kv => kv.Key.StartsWith("layer2.") || kv.Key.StartsWith("bn1."))
            .ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var trainedBnBefore = model.state_dict()["layer4.0.bn1.running_mean"].clone();
        learner.Fit(1, 0.01);
        foreach (var (k, v) in frozenBefore) Assert.True(model.state_dict()[k].allclose(v, 0, 0), $"{k} changed although frozen");
        Assert.False(model.state_dict()["layer4.0.bn1.running_mean"].allclose(trainedBnBefore, 0, 0), "unfrozen BatchNorm should update its stats");
        Assert.False(model.state_dict()["layer3.0.conv1.weight"].requires_grad is false);
    }

    [Fact]
    public void DiscriminativeLearningRatesSpreadGeometrically()
    {
        using var model = Spec.Create(2);
        using var learner = new Learner(model, Spec, new TensorBatchSource(randn(4, 3, 32, 32), tensor(new long[] { 0, 1, 0, 1 }), 4, 0, false), null);
        learner.Unfreeze();
        learner.Fit(1, new LearningRate(1e-4, 1e-2));
        var lrs = learner.Optimizer!.ParamGroups.Select(g => g.LearningRate).Distinct().Order().ToList();
        Assert.Equal(6, lrs.Count); // one LR per layer group: stem, layer1..4, head
        for (int i = 1; i < lrs.Count; i++) Assert.Equal(Math.Pow(100, 1 / 5.0), lrs[i] / lrs[i - 1], 6);
    }

    [Fact]
    public void EarlyStoppingRestoresBestWeights()
    {
        manual_seed(0);
        using var model = Spec.Create(3);
        var stop = new EarlyStoppingCallback(patience: 1, monitor: "val_accuracy");
        var spy = new BestSpy();
        using var learner = ToyLearner(model, 5, stop, spy);
        // A huge constant LR makes later epochs worse than the first good one.
        learner.Fit(8, 5.0);
        Assert.NotNull(stop.StoppedEpoch);
        Assert.True(model.state_dict()["fc.weight"].allclose(spy.BestWeight!, 0, 0), "weights should be those of the best epoch");
    }

    /// <summary>Records the head weights at the best val accuracy (independently of the callback under test).</summary>
    private sealed class BestSpy : Callback
    {
        private double best = -1;
        public Tensor? BestWeight { get; private set; }
        public override int Order => 65;

        public override void AfterEpoch(Learner l)
        {
            if (l.ValAccuracy > best) { best = l.ValAccuracy!.Value; BestWeight = l.Model.state_dict()["fc.weight"].clone(); }
        }
    }
}
