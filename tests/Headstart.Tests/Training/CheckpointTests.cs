using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Headstart.Tests.Training;

/// <summary>A run interrupted mid-epoch and resumed from its last checkpoint ends with the uninterrupted run's weights.</summary>
[Collection(GlobalRngCollection.Name)]
public class CheckpointTests
{
    // mobilenet_v3_small: its classifier section has dropout, so torch's RNG state must be checkpointed too.
    private static ModelSpec Spec => ModelRegistry.Get("mobilenet_v3_small");

    private sealed class Interrupted : Exception;

    /// <summary>Throws at the given batch of the given (phase, epoch), as if the process had been killed there.</summary>
    private sealed class KillAt(int phase, int epoch, int batch) : Callback
    {
        private int fits = -1, batches;
        public override void BeforeFit(Learner l) => fits++;
        public override void BeforeEpoch(Learner l) => batches = 0;

        public override void BeforeBatch(Learner l)
        {
            if (l.Training && fits == phase && l.Epoch == epoch && batches++ == batch) throw new Interrupted();
        }
    }

    /// <summary>Features (N, 576) of 3 shifted Gaussian classes, like the cached features of the frozen strategy.</summary>
    private static (Tensor X, Tensor Y) Features(int n, int seed)
    {
        var g = new Generator((ulong)seed);
        var y = randint(0, 3, [n], generator: g);
        var x = randn([n, 576], generator: g) + 2 * nn.functional.one_hot(y, 576).to(float32);
        return (x, y);
    }

    /// <summary>Runs <paramref name="fit"/> on a fresh model, as a fresh process would (same seed, same init).</summary>
    private static Dictionary<string, Tensor> Run(Func<IBatchSource> train, Func<IBatchSource> valid, Action<Learner> fit,
        OptimizerOptions opt, bool earlyStopping, params Callback[] extra)
    {
        Callback[] stateful = earlyStopping ? [new SaveBestCallback("val_loss"), new EarlyStoppingCallback(patience: 10)] : [new SaveBestCallback("val_loss")];
        manual_seed(5);
        using var model = Spec.Create(3);
        using var learner = new Learner(model, Spec, train(), valid(), opt,
            [.. stateful, .. extra], seed: 9);
        fit(learner);
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
    }

    private static void AssertSameWeights(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (k, e) in expected)
        {
            double diff = e.to(float64).sub(actual[k].to(float64)).abs().max().item<double>();
            Assert.True(diff <= 1e-6, $"{k} differs by {diff}");
        }
    }

    private static void ResumeMatches(Func<IBatchSource> train, Func<IBatchSource> valid, Action<Learner> fit, OptimizerOptions opt,
        KillAt kill, bool earlyStopping)
    {
        using var dir = new TempDir();
        string reference = Path.Combine(dir.Path, "ref.checkpoint"), interrupted = Path.Combine(dir.Path, "run.checkpoint");
        var expected = Run(train, valid, fit, opt, earlyStopping, new CheckpointCallback(reference));
        Assert.Throws<Interrupted>(() => Run(train, valid, fit, opt, earlyStopping, new CheckpointCallback(interrupted), kill));
        var before = Checkpoint.ReadState(interrupted);
        var resumed = Run(train, valid, fit, opt, earlyStopping, new CheckpointCallback(interrupted, resumeFrom: interrupted));
        AssertSameWeights(expected, resumed);
        Assert.True(Checkpoint.ReadState(interrupted).Epoch > before.Epoch || Checkpoint.ReadState(interrupted).Phase > before.Phase);
        Assert.Equal(Checkpoint.ReadState(reference).History.Select(h => h.TrainLoss), Checkpoint.ReadState(interrupted).History.Select(h => h.TrainLoss));
    }

    [Fact]
    public void FrozenHeadOnCachedFeaturesResumesToSameWeights()
    {
        var (x, y) = Features(200, 1);
        var (vx, vy) = Features(60, 2);
        ResumeMatches(() => new TensorBatchSource(x, y, 32, 9), () => new TensorBatchSource(vx, vy, 64, 9),
            l => { l.Freeze(); l.Fit(4, 0.05, new StepSchedule(2, 0.5)); },
            new OptimizerOptions { Kind = OptimizerKind.Sgd, Momentum = 0.9, Nesterov = true, WeightDecay = 1e-4 },
            new KillAt(phase: 0, epoch: 2, batch: 3), earlyStopping: true);
    }

    [Theory]
    [InlineData(0)] // killed in the second frozen-head epoch: phase 0 restored
    [InlineData(1)] // killed in the second unfrozen epoch: phase 0 skipped, phase 1 restored
    public void FineTuneResumesToSameWeightsInEitherPhase(int phase)
    {
        // Small images through the whole network (the on-the-fly path); adaptive pooling accepts 32x32.
        var g = new Generator(3);
        var x = randn([24, 3, 32, 32], generator: g);
        var y = tensor(Enumerable.Range(0, 24).Select(i => (long)(i % 3)).ToArray());
        var vx = randn([9, 3, 32, 32], generator: g);
        var vy = tensor(Enumerable.Range(0, 9).Select(i => (long)(i % 3)).ToArray());
        ResumeMatches(() => new TensorBatchSource(x, y, 8, 9, isFeatures: false), () => new TensorBatchSource(vx, vy, 9, 9, isFeatures: false),
            l => FineTune.Run(l, freezeEpochs: 2, epochs: 2, lr: 1e-3),
            new OptimizerOptions { Kind = OptimizerKind.AdamW, WeightDecay = 0.01 },
            new KillAt(phase, epoch: 1, batch: 1), earlyStopping: false);
    }

    [Fact]
    public void FrozenCheckpointHoldsOnlyTheTrainableGroups()
    {
        // A frozen backbone keeps its pretrained values, so rewriting it every epoch would only cost time and disk.
        var (x, y) = Features(64, 1);
        using var dir = new TempDir();
        string cp = Path.Combine(dir.Path, "run.checkpoint");
        Run(() => new TensorBatchSource(x, y, 32, 9), () => new TensorBatchSource(x, y, 64, 9),
            l => { l.Freeze(); l.Fit(1, 0.05); }, new OptimizerOptions(), earlyStopping: false, new CheckpointCallback(cp));
        using var saved = Headstart.Weights.Safetensors.Read(Path.Combine(cp, Checkpoint.ModelFile));
        Assert.Equal(Spec.LayerGroups.Count - 1, Checkpoint.ReadState(cp).FrozenGroups);
        Assert.NotEmpty(saved.Keys);
        Assert.All(saved.Keys, k => Assert.Equal(Spec.LayerGroups.Count - 1, Freezing.GroupOf(Spec, k)));
    }

    /// <summary>Sleeps after one epoch, so that epoch outlasts a checkpoint interval (runs before the checkpoint).</summary>
    private sealed class SlowEpoch(int epoch, int ms) : Callback
    {
        public override int Order => 50;
        public override void AfterEpoch(Learner l) { if (l.Epoch == epoch) Thread.Sleep(ms); }
    }

    [Fact]
    public void MinIntervalSkipsFastEpochsAndResumeRepeatsThemToTheSameWeights()
    {
        var (x, y) = Features(200, 1);
        var (vx, vy) = Features(60, 2);
        Func<IBatchSource> train = () => new TensorBatchSource(x, y, 32, 9), valid = () => new TensorBatchSource(vx, vy, 64, 9);
        Action<Learner> fit = l => { l.Freeze(); l.Fit(5, 0.05, new StepSchedule(2, 0.5)); };
        var opt = new OptimizerOptions { Kind = OptimizerKind.Sgd, Momentum = 0.9 };
        using var dir = new TempDir();
        string never = Path.Combine(dir.Path, "never.checkpoint"), run = Path.Combine(dir.Path, "run.checkpoint");

        var expected = Run(train, valid, fit, opt, false, new CheckpointCallback(never, minInterval: TimeSpan.FromHours(1)));
        Assert.False(Directory.Exists(never), "no epoch of a fast fit outlasts an hour: nothing is written");

        // Epoch 0 outlasts the interval and is checkpointed; epochs 1 and 2 take milliseconds and are not; killed in 3.
        var interval = TimeSpan.FromMilliseconds(250);
        Assert.Throws<Interrupted>(() => Run(train, valid, fit, opt, false,
            new SlowEpoch(0, 400), new CheckpointCallback(run, minInterval: interval), new KillAt(0, epoch: 3, batch: 1)));
        Assert.Equal(1, Checkpoint.ReadState(run).Epoch);
        var resumed = Run(train, valid, fit, opt, false, new CheckpointCallback(run, resumeFrom: run, minInterval: interval));
        AssertSameWeights(expected, resumed);
    }

    [Fact]
    public void StaleCheckpointIsReplacedAtTheFirstEpochWhateverTheInterval()
    {
        // An interrupted run's checkpoint must not survive the first epoch of a fresh run: --resume would continue it.
        var (x, y) = Features(64, 1);
        Func<IBatchSource> train = () => new TensorBatchSource(x, y, 32, 9);
        using var dir = new TempDir();
        string cp = Path.Combine(dir.Path, "run.checkpoint");
        Run(train, train, l => { l.Freeze(); l.Fit(3, 0.05); }, new OptimizerOptions(), false, new CheckpointCallback(cp));
        Assert.Equal(3, Checkpoint.ReadState(cp).Epochs);

        Run(train, train, l => { l.Freeze(); l.Fit(2, 0.05); }, new OptimizerOptions(), false,
            new CheckpointCallback(cp, minInterval: TimeSpan.FromHours(1)));
        var state = Checkpoint.ReadState(cp);
        Assert.Equal(2, state.Epochs);   // the fresh run's
        Assert.Equal(1, state.Epoch);    // written once, at its first epoch; the second was within the interval
    }
}
