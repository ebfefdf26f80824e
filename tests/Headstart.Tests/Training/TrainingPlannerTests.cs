using System.Text.Json;
using Headstart.Data;
using Headstart.Models;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Training;

/// <summary>The planner: every combination of strategy and freeze gets a defined plan or a usage error that says why.</summary>
public sealed class TrainingPlannerTests
{
    private static readonly ModelSpec ResNet18 = ModelRegistry.Get("resnet18");   // stem, layer1-4, head: 6 groups
    private static TrainingPlan Plan(TrainOptions o) => TrainingPlanner.Plan(o, ResNet18);

    [Fact]
    public void TheDefaultIsTheFrozenFastPathWithTheConvexHeadOnTheCentreCrop()
    {
        var plan = Plan(new TrainOptions());
        var phase = Assert.Single(plan.Phases);
        Assert.Equal(("head", PhaseInput.CachedFeatures, 5), (phase.Name, phase.Input, phase.FrozenGroups));
        Assert.Equal((HeadFit.Lbfgs, TrainingPlanner.LbfgsFolds), (phase.Fit, phase.Folds));
        Assert.Equal(["head"], phase.TrainedGroups);
        Assert.False(phase.FreezeBatchNorm);
        Assert.True(plan.FeaturesOnly);
        Assert.Equal(new EvaluationPlan(PhaseInput.CachedFeatures, false), plan.Evaluation);
        Assert.Equal(new CachedViews(0, AugmentLevel.Light, false), plan.Features);
        Assert.Contains(plan.Notes, n => n.Contains("centre crop only") && n.Contains("--augment-views 1"));
        Assert.Contains(plan.Describe(), l => l.Contains("by L-BFGS") && l.Contains("5-fold cross-validation on the training rows"));
        Assert.DoesNotContain(plan.Describe(), l => l.Contains("epoch(s)"));
    }

    [Fact]
    public void TheSgdHeadIsTheTutorialRecipe()
    {
        var plan = Plan(new TrainOptions { HeadFit = HeadFit.Sgd });
        var phase = Assert.Single(plan.Phases);
        Assert.Equal(("head", PhaseInput.CachedFeatures, 5, 25, HeadFit.Sgd), (phase.Name, phase.Input, phase.FrozenGroups, phase.Epochs, phase.Fit));
        Assert.Equal(new LearningRate(0.01), phase.LearningRate);
        Assert.Equal(new StepSchedule(7, 0.1), phase.Schedule);
        Assert.Equal(new CachedViews(1, AugmentLevel.Light, false), plan.Features);
        Assert.Empty(plan.Notes);
    }

    [Fact]
    public void LeftToThePlannerTheHeadFallsBackToSgdWhereLbfgsDoesNotFitAndSaysWhy()
    {
        int max = TrainingPlanner.LbfgsMaxImages;
        var large = TrainingPlanner.Plan(new TrainOptions(), ResNet18, new DataShape(max + 1, 10, (max + 1) / 10));
        Assert.Equal(HeadFit.Sgd, large.Phases[0].Fit);
        Assert.Contains(large.Notes, n => n.Contains($"{max + 1} training images (> {max})"));
        Assert.Equal(HeadFit.Lbfgs, TrainingPlanner.Plan(new TrainOptions(), ResNet18, new DataShape(max, 10, max / 10)).Phases[0].Fit);

        var keepBest = Plan(new TrainOptions { KeepBest = true });
        Assert.Equal(HeadFit.Sgd, keepBest.Phases[0].Fit);
        Assert.Contains(keepBest.Notes, n => n.Contains("--keep-best or --patience"));
        Assert.Equal(HeadFit.Sgd, Plan(new TrainOptions { EarlyStoppingPatience = 3 }).Phases[0].Fit);

        // AlexNet's classifier section holds three Linear layers: the convex fit would be only the last.
        var alexnet = ModelRegistry.Get("alexnet");
        var deep = TrainingPlanner.Plan(new TrainOptions(), alexnet);
        Assert.Equal(HeadFit.Sgd, deep.Phases[0].Fit);
        Assert.Contains(deep.Notes, n => n.Contains("more than one Linear layer"));
        Assert.Equal(1, deep.Features!.TrainViews);   // and then the SGD head's views, by the data

        // Fine-tune's head phase trains by epochs, as before.
        Assert.All(Plan(new TrainOptions { Strategy = Strategy.FineTune }).Phases, p => Assert.Equal(HeadFit.Sgd, p.Fit));
    }

    [Theory]
    [InlineData("keep-best", "--keep-best and --patience pick among epochs")]
    [InlineData("alexnet", "holds more than its last layer")]
    [InlineData("fine-tune", "drop --head-fit")]
    [InlineData("partial", "--freeze 3 trains groups")]
    public void AskedForWhereItCannotRunLbfgsIsAUsageError(string where, string message)
    {
        var o = new TrainOptions { HeadFit = HeadFit.Lbfgs };
        var spec = ResNet18;
        switch (where)
        {
            case "keep-best": o = o with { KeepBest = true }; break;
            case "alexnet": spec = ModelRegistry.Get("alexnet"); break;
            case "fine-tune": o = o with { Strategy = Strategy.FineTune }; break;
            case "partial": o = o with { Freeze = Freeze.Groups(3) }; break;
        }
        var e = Assert.Throws<TrainingPlanException>(() => TrainingPlanner.Plan(o, spec));
        Assert.Contains(message, e.Message);
        // Asked for on a large set, it is what was asked.
        if (where == "keep-best")
            Assert.Equal(HeadFit.Lbfgs, TrainingPlanner.Plan(new TrainOptions { HeadFit = HeadFit.Lbfgs }, ResNet18,
                new DataShape(TrainingPlanner.LbfgsMaxImages * 2, 2, TrainingPlanner.LbfgsMaxImages)).Phases[0].Fit);
    }

    [Fact]
    public void FreezingEveryGroupBeforeTheHeadByNumberIsTheFastPathToo()
    {
        var byNumber = Plan(new TrainOptions { Freeze = Freeze.Groups(5) });
        var byName = Plan(new TrainOptions { Freeze = Freeze.Features });
        // The same phases (the first line of Describe names the --freeze given, the notes differ).
        Assert.Equal(byName.Describe().Skip(1).Where(l => !l.StartsWith("note")), byNumber.Describe().Skip(1).Where(l => !l.StartsWith("note")));
        Assert.True(byNumber.FeaturesOnly);
        Assert.Contains(byNumber.Notes, n => n.Contains("fast path"));
    }

    [Fact]
    public void FrozenWithFewerGroupsTrainsOnImagesAndSaysWhy()
    {
        var plan = Plan(new TrainOptions { Freeze = Freeze.Groups(3), FreezeBatchNorm = true });
        var phase = Assert.Single(plan.Phases);
        Assert.Equal(("partial", PhaseInput.Images, 3), (phase.Name, phase.Input, phase.FrozenGroups));
        Assert.Equal(["layer3", "layer4", "head"], phase.TrainedGroups);
        Assert.True(phase.FreezeBatchNorm);
        Assert.Null(plan.Features);
        Assert.False(plan.FeaturesOnly);
        string note = Assert.Single(plan.Notes);
        Assert.Contains("features can't be cached", note);
        Assert.Contains("layer3, layer4", note);
    }

    [Theory]
    [InlineData(Strategy.Frozen, "none", "that is --strategy full")]
    [InlineData(Strategy.Frozen, "0", "that is --strategy full")]
    [InlineData(Strategy.Frozen, "9", "more layer groups than resnet18 has")]
    [InlineData(Strategy.FineTune, "features", "would never unfreeze")]
    [InlineData(Strategy.FineTune, "5", "would unfreeze nothing")]
    [InlineData(Strategy.Full, "2", "--strategy full trains every layer group")]
    [InlineData(Strategy.Full, "features", "--strategy full trains every layer group")]
    public void CombinationsWithoutAPlanSayWhy(Strategy strategy, string freeze, string why)
    {
        var e = Assert.Throws<TrainingPlanException>(() => Plan(new TrainOptions { Strategy = strategy, Freeze = Freeze.Parse(freeze) }));
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void OptionsThatOnlyFineTuneReadsAreRefusedElsewhere()
    {
        Assert.Contains("--freeze-epochs", Assert.Throws<TrainingPlanException>(() => Plan(new TrainOptions { FreezeEpochs = 3 })).Message);
        Assert.Contains("--fine-tune-lr", Assert.Throws<TrainingPlanException>(() =>
            Plan(new TrainOptions { Strategy = Strategy.Full, FineTuneLearningRate = 1e-3 })).Message);
        Assert.Contains("--engine onnx", Assert.Throws<TrainingPlanException>(() =>
            Plan(new TrainOptions { Strategy = Strategy.Full, Engine = FeatureEngine.Onnx })).Message);
        Assert.Throws<TrainingPlanException>(() => Plan(new TrainOptions { Epochs = -1 }));
        Assert.Contains("--micro-batch", Assert.Throws<TrainingPlanException>(() => Plan(new TrainOptions { MicroBatch = 0 })).Message);
        // Chunks apply where images train, and say so in the plan; on cached features there is nothing to chunk.
        var full = Plan(new TrainOptions { Strategy = Strategy.Full, MicroBatch = 16 });
        Assert.Equal(16, full.MicroBatch);
        Assert.Contains(full.Describe(), l => l.Contains("in chunks of 16 images", StringComparison.Ordinal));
        Assert.Null(Plan(new TrainOptions { MicroBatch = 16 }).MicroBatch);
        Assert.Null(Plan(new TrainOptions { Strategy = Strategy.Full, MicroBatch = 32 }).MicroBatch);   // not smaller than the batch
        Assert.False(Plan(new TrainOptions { ValidateEachEpoch = false }).ValidateEachEpoch);
        // Keeping the best epoch, or stopping early, needs a validation after every epoch.
        Assert.Contains("validates only once", Assert.Throws<TrainingPlanException>(() =>
            Plan(new TrainOptions { ValidateEachEpoch = false, KeepBest = true })).Message);
        Assert.Contains("--patience", Assert.Throws<TrainingPlanException>(() =>
            Plan(new TrainOptions { ValidateEachEpoch = false, EarlyStoppingPatience = 3 })).Message);
        Assert.Throws<TrainingPlanException>(() => Plan(new TrainOptions { AugmentViews = -1 }));
    }

    [Fact]
    public void TheMirrorViewIsCachedWhileTheSmallestClassIsSmallAndTheNoteSaysWhy()
    {
        // The rule of the SGD head; the L-BFGS head caches the centre crop alone (the default test above).
        int t = TrainingPlanner.MirrorViewBelowPerClass;
        TrainingPlan For(TrainOptions o, int smallest) => TrainingPlanner.Plan(o with { HeadFit = HeadFit.Sgd }, ResNet18, new DataShape(10 * smallest + 500, 2, smallest));

        var small = For(new TrainOptions(), t - 1);
        Assert.Equal(1, small.Features!.TrainViews);
        Assert.Contains(small.Notes, n => n.Contains($"has {t - 1} training images (< {t})") && n.Contains("--augment-views 0"));
        var large = For(new TrainOptions(), t);
        Assert.Equal(0, large.Features!.TrainViews);
        Assert.Contains(large.Notes, n => n.Contains($"has {t} training images (>= {t})") && n.Contains("--augment-views 1"));
        // It is the smallest class that decides, not the total.
        Assert.Equal(1, TrainingPlanner.Plan(new TrainOptions { HeadFit = HeadFit.Sgd }, ResNet18, new DataShape(100 * t, 5, t - 1)).Features!.TrainViews);
        // Asked for, the views are what was asked, at any size, with no note; --augment none caches none.
        foreach (int n in new[] { 5, t, 100 * t })
        {
            Assert.Equal(2, For(new TrainOptions { AugmentViews = 2 }, n).Features!.TrainViews);
            Assert.Empty(For(new TrainOptions { AugmentViews = 0 }, n).Notes);
            Assert.Equal(0, For(new TrainOptions { Augment = AugmentLevel.None }, n).Features!.TrainViews);
        }
        // Without the data (options checked before it is read) the plan is the small-set one.
        Assert.Equal(1, Plan(new TrainOptions { HeadFit = HeadFit.Sgd }).Features!.TrainViews);
        // The plan records the decision: the bundle's plan says what ran.
        var json = JsonSerializer.Serialize(large, BundleManifest.JsonOptions);
        Assert.Equal(0, JsonSerializer.Deserialize<TrainingPlan>(json, BundleManifest.JsonOptions)!.Features!.TrainViews);
    }

    [Fact]
    public void FineTuneIsTheFrozenRecipeOnCachedFeaturesThenTheUnfrozenPhaseOnImages()
    {
        var plan = Plan(new TrainOptions { Strategy = Strategy.FineTune, Epochs = 3, TestTimeFlip = true });
        Assert.Equal(2, plan.Phases.Count);
        var (head, unfrozen) = (plan.Phases[0], plan.Phases[1]);
        Assert.Equal((PhaseInput.CachedFeatures, 5, 25, "--lr"), (head.Input, head.FrozenGroups, head.Epochs, head.RateOption));
        Assert.Equal(Plan(new TrainOptions()).Phases[0].Schedule, head.Schedule);   // the frozen recipe's own schedule
        Assert.Equal((PhaseInput.Images, 0, 3, "--fine-tune-lr"), (unfrozen.Input, unfrozen.FrozenGroups, unfrozen.Epochs, unfrozen.RateOption));
        Assert.Equal(new LearningRate(0.005 / 100, 0.005), unfrozen.LearningRate);   // half the head's, spread 100x
        Assert.Equal(new OneCycleSchedule(PctStart: 0.3), unfrozen.Schedule);
        // Scored on images (the backbone changed), with the flip; the cache then needs no mirrored validation views.
        Assert.Equal(new EvaluationPlan(PhaseInput.Images, true), plan.Evaluation);
        Assert.Equal(new CachedViews(1, AugmentLevel.Light, false), plan.Features);

        var keep2 = Plan(new TrainOptions { Strategy = Strategy.FineTune, Freeze = Freeze.Groups(2), FineTuneLearningRate = 1e-3 });
        Assert.Equal(2, keep2.Phases[1].FrozenGroups);
        Assert.Equal(new LearningRate(1e-5, 1e-3), keep2.Phases[1].LearningRate);
    }

    [Fact]
    public void FineTuneFromScratchWarmsTheHeadUpOnImagesAndZeroEpochPhasesAreDropped()
    {
        var plan = Plan(new TrainOptions { Strategy = Strategy.FineTune, Pretrained = false, Epochs = 2 });
        Assert.Equal((PhaseInput.Images, 1), (plan.Phases[0].Input, plan.Phases[0].Epochs));
        Assert.Equal(new OneCycleSchedule(PctStart: 0.99), plan.Phases[0].Schedule);
        Assert.Null(plan.Features);
        Assert.Equal(["unfrozen"], Plan(new TrainOptions { Strategy = Strategy.FineTune, FreezeEpochs = 0 }).Phases.Select(p => p.Name));
        Assert.Equal(["head"], Plan(new TrainOptions { Strategy = Strategy.FineTune, Epochs = 0 }).Phases.Select(p => p.Name));
    }

    [Fact]
    public void FullTrainsEverythingOnImages()
    {
        foreach (var freeze in new Freeze?[] { null, Freeze.None, Freeze.Groups(0) })
        {
            var plan = Plan(new TrainOptions { Strategy = Strategy.Full, Freeze = freeze, Optimizer = OptimizerKind.AdamW });
            var phase = Assert.Single(plan.Phases);
            Assert.Equal(("all", PhaseInput.Images, 0), (phase.Name, phase.Input, phase.FrozenGroups));
            Assert.Equal(new LearningRate(1e-3), phase.LearningRate);   // AdamW's default
        }
    }

    /// <summary>Contract over the registry: each strategy's default has a plan for every model, and the frozen one is
    /// the fast path that trains the classifier section alone.</summary>
    [Fact]
    public void EveryModelHasAPlanForEveryStrategy()
    {
        foreach (var spec in ModelRegistry.All)
        {
            int head = spec.LayerGroups.Count - 1;
            var frozen = TrainingPlanner.Plan(new TrainOptions { Model = spec.Name }, spec);
            Assert.True(frozen.FeaturesOnly, spec.Name);
            Assert.Equal(head, frozen.Phases[0].FrozenGroups);
            var fine = TrainingPlanner.Plan(new TrainOptions { Model = spec.Name, Strategy = Strategy.FineTune }, spec);
            Assert.Equal([head, 0], fine.Phases.Select(p => p.FrozenGroups));
            var full = TrainingPlanner.Plan(new TrainOptions { Model = spec.Name, Strategy = Strategy.Full }, spec);
            Assert.Equal(0, full.Phases[0].FrozenGroups);
        }
    }

    [Fact]
    public void APlanRoundTripsThroughTheManifestsJson()
    {
        var plan = Plan(new TrainOptions { Strategy = Strategy.FineTune, Freeze = Freeze.Groups(1), Schedule = ScheduleKind.Cosine });
        string json = JsonSerializer.Serialize(plan, BundleManifest.JsonOptions);
        Assert.Contains("\"freeze\": \"1\"", json);
        Assert.Contains("\"kind\": \"cosine\"", json);
        var back = JsonSerializer.Deserialize<TrainingPlan>(json, BundleManifest.JsonOptions)!;
        Assert.Equal(plan.Describe(), back.Describe());
        Assert.Equal(plan.Phases, back.Phases, (a, b) => a.Schedule == b.Schedule && a.Name == b.Name && a.LearningRate == b.LearningRate &&
                                                          a.TrainedGroups.SequenceEqual(b.TrainedGroups));
    }

    [Theory]
    [InlineData("features", FreezeKind.Features, 0)]
    [InlineData("none", FreezeKind.None, 0)]
    [InlineData(" 3 ", FreezeKind.Groups, 3)]
    public void FreezeParsesAndPrints(string text, FreezeKind kind, int count)
    {
        var f = Freeze.Parse(text);
        Assert.Equal((kind, count), (f.Kind, f.Count));
        Assert.Equal(f, Freeze.Parse(f.ToString()));
        Assert.Equal(f, JsonSerializer.Deserialize<Freeze>(JsonSerializer.Serialize(f)));
    }

    [Fact]
    public void FreezeRejectsWhatIsNotAFreeze()
    {
        Assert.Throws<TrainingPlanException>(() => Freeze.Parse("all"));
        Assert.Throws<TrainingPlanException>(() => Freeze.Parse("-1"));
        Assert.Equal(Freeze.Groups(2), JsonSerializer.Deserialize<Freeze>("2"));
    }
}
