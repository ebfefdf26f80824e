using Headstart.Data;
using Headstart.Reporting;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Training;

public class ComparisonTests
{
    private static ImageDataset Data(int perClass = 30)
    {
        var train = Enumerable.Range(0, 3).SelectMany(c => Enumerable.Range(0, perClass).Select(i => new ImageSample($"c{c}/{i:D3}", c))).ToList();
        var val = Enumerable.Range(0, 3).Select(c => new ImageSample($"v{c}", c)).ToList();
        return new ImageDataset("mem", "idx", ["a", "b", "c"], train, val, [], new InMemoryImageSource(new Dictionary<string, DecodedImage>()));
    }

    [Fact]
    public void ShotSubsetsAreStratifiedNestedAndKeepValidation()
    {
        var data = Data();
        var s5 = Comparison.Subset(data, 5, seed: 42);
        var s10 = Comparison.Subset(data, 10, seed: 42);
        Assert.All(Enumerable.Range(0, 3), c => Assert.Equal(5, s5.Train.Count(s => s.Label == c)));
        Assert.Subset(s10.Train.ToHashSet(), s5.Train.ToHashSet());
        Assert.Same(data.Val, s5.Val);
        Assert.Equal(s5.Train, Comparison.Subset(data, 5, seed: 42).Train);
        Assert.NotEqual(s5.Train, Comparison.Subset(data, 5, seed: 7).Train);
    }

    [Fact]
    public void SmallCnnGetsEnoughStepsOnTinyTrainingSets()
    {
        var o = new ComparisonOptions { SmallCnnEpochs = 30, SmallCnnMinSteps = 150, BatchSize = 32 };   // explicit, not the defaults
        Assert.Equal(75, Comparison.OptionsFor(Recipe.SmallCnn, o, 50).Epochs);     // 2 batches per epoch
        Assert.Equal(30, Comparison.OptionsFor(Recipe.SmallCnn, o, 1000).Epochs);   // 32 batches per epoch
        var cnn = Comparison.OptionsFor(Recipe.SmallCnn, o, 50);
        Assert.Equal(("small_cnn", false, Strategy.Full, (Freeze?)null), (cnn.Model, cnn.Pretrained, cnn.Strategy, cnn.Freeze));
        var scratch = Comparison.OptionsFor(Recipe.Scratch, o with { Model = "resnet18" }, 50);
        Assert.Equal(("resnet18", false, Strategy.Full), (scratch.Model, scratch.Pretrained, scratch.Strategy));
        Assert.All(Enum.GetValues<Recipe>(), r => Assert.False(Comparison.OptionsFor(r, o, 50).KeepBest));
    }

    private static SeedRun Run(double acc, int seed = 42, double cpu = 1) => new(seed, acc, 1, cpu, new BackbonePasses(0, 0));

    private static ComparisonResult Result(params (int K, double Transfer, double Scratch)[] points) =>
        new([], points.SelectMany(p => new[]
        {
            new EfficiencyPoint(Recipe.Frozen, p.K, p.K * 10, [Run(p.Transfer)], false, 500),
            new EfficiencyPoint(Recipe.SmallCnn, p.K, p.K * 10, [Run(p.Scratch)], false, 500),
        }).ToList(), null, new ComparisonOptions(), "mem", 500, 10);

    [Fact]
    public void FindingsFollowTheNumbersAndCallSmallDifferencesNoise()
    {
        // 500 val images: two standard errors of the difference are about 5 points at 75-80% accuracy.
        var f = ComparisonFindings.Of(Result((5, 0.60, 0.45), (20, 0.778, 0.766), (100, 0.842, 0.85)));
        Assert.Equal("Transfer was ahead of the small CNN from scratch at 5 images per class (by 15.0 points), within noise at 20, 100. " +
                     "Point estimates: transfer higher at 5, 20, lower at 100 images per class; largest gap +15.0 points at 5.", f.Summary[0]);
        Assert.Contains("20 images per class: transfer 77.8% vs the small CNN from scratch 76.6% (+1.2 points, within noise", f.Details[1]);
        Assert.Contains("100 images per class: transfer 84.2% vs the small CNN from scratch 85.0% (-0.8 points, within noise", f.Details[2]);
        // Every run cost 1 core-second: 3 runs each.
        Assert.Equal("Compute: transfer's 3 runs took 3 core-seconds in all; the small CNN from scratch's 3 runs 3 (1.0x).", f.Summary[1]);

        Assert.StartsWith("Transfer did not beat the small CNN from scratch", ComparisonFindings.Of(Result((5, 0.3, 0.6))).Summary[0]);
        Assert.Equal("Transfer was ahead of the small CNN from scratch at every measured size (5, 10 images per class), by 35.0 to 40.0 points. " +
                     "Point estimates: transfer higher at every measured size; largest gap +40.0 points at 5.",
            ComparisonFindings.Of(Result((5, 0.9, 0.5), (10, 0.95, 0.6))).Summary[0]);
        Assert.Contains("Point estimates: transfer lower at every measured size",
            ComparisonFindings.Of(Result((5, 0.5, 0.52), (10, 0.6, 0.61))).Summary[0]);
        Assert.Contains("Point estimates: transfer higher at 5, equal at 10 images per class",
            ComparisonFindings.Of(Result((5, 0.55, 0.52), (10, 0.6, 0.6))).Summary[0]);
        Assert.StartsWith("Transfer and the small CNN from scratch are within noise of each other at 5 images per class",
            ComparisonFindings.Of(Result((5, 0.5, 0.5))).Summary[0]);
        Assert.True(ComparisonFindings.Of(Result()).IsEmpty);
    }

    [Fact]
    public void SeedsWidenTheIntervalByTheirSpreadAndSingleRunsKeepTheBinomialOne()
    {
        // One run: only the validation sample's binomial error (Agresti-Coull): p~ = (320 + 2) / 404 = 0.79703,
        // sqrt(p~ (1 - p~) / 404) = 0.020011.
        var one = new EfficiencyPoint(Recipe.Frozen, 5, 50, [Run(0.8)], false, 400);
        Assert.Equal(0.020011, one.StandardError, 6);
        Assert.Equal(0.8 - 1.96 * one.StandardError, one.Interval.Lo, 12);
        // Three seeds at 0.7, 0.8, 0.9: mean 0.8, sample sd 0.1, so SE = sqrt(0.01 / 3 + 0.020011^2) = 0.061105.
        var three = new EfficiencyPoint(Recipe.Frozen, 5, 50, [Run(0.7, 42), Run(0.8, 43), Run(0.9, 44)], false, 400);
        Assert.Equal(0.8, three.ValAccuracy, 12);
        Assert.Equal(0.1, three.SeedSpread, 12);
        Assert.Equal(0.061105, three.StandardError, 6);
        Assert.True(three.Interval.Hi - three.Interval.Lo > one.Interval.Hi - one.Interval.Lo);
        // Clamped to [0, 1], and 100% on 6 images is not certainty: p~ = 8 / 10, SE = 0.1265.
        Assert.Equal(1.0, new EfficiencyPoint(Recipe.Frozen, 5, 50, [Run(1.0), Run(0.98)], false, 20).Interval.Hi);
        var perfect = new EfficiencyPoint(Recipe.Frozen, 3, 6, [Run(1.0), Run(1.0)], false, 6);
        Assert.Equal(0.752077, perfect.Interval.Lo, 5);
        Assert.Equal(1.0, perfect.Interval.Hi);
        // A spread that large turns a 10-point lead into noise that one seed would have called a win.
        var wide = new ComparisonResult([], [three, new EfficiencyPoint(Recipe.SmallCnn, 5, 50, [Run(0.65, 42), Run(0.75, 43), Run(0.65, 44)], false, 400)],
            null, new ComparisonOptions { Seeds = 3 }, "mem", 400, 5);
        Assert.Contains("within noise", ComparisonFindings.Of(wide).Summary[0]);
        var narrow = new ComparisonResult([], [one, new EfficiencyPoint(Recipe.SmallCnn, 5, 50, [Run(0.68)], false, 400)],
            null, new ComparisonOptions(), "mem", 400, 5);
        Assert.StartsWith("Transfer was ahead of the small CNN from scratch at 5 images per class, by 12.0 points.", ComparisonFindings.Of(narrow).Summary[0]);
    }

    [Fact]
    public void EveryOpponentGetsItsVerdictAndTheCostIsComparedToTransfers()
    {
        var curve = new List<EfficiencyPoint>
        {
            new(Recipe.Frozen, 80, 400, [Run(0.85, cpu: 10), Run(0.86, 43, cpu: 2)], true, 200),
            new(Recipe.Frozen, 5, 25, [Run(0.70, cpu: 1), Run(0.72, 43, cpu: 1)], false, 200),
            new(Recipe.Scratch, 80, 400, [Run(0.25, cpu: 280)], true, 200),
            new(Recipe.SmallCnn, 80, 400, [Run(0.60, cpu: 20), Run(0.62, 43, cpu: 20)], true, 200),
            new(Recipe.SmallCnn, 5, 25, [Run(0.40, cpu: 5), Run(0.44, 43, cpu: 5)], false, 200),
        };
        var f = ComparisonFindings.Of(new ComparisonResult([], curve, null, new ComparisonOptions { Seeds = 2 }, "mem", 200, 5));
        Assert.Equal(3, f.Summary.Count);
        Assert.StartsWith("Transfer was ahead of the same architecture from scratch at 80 images per class, by 60.5 points.", f.Summary[0]);
        Assert.StartsWith("Transfer was ahead of the small CNN from scratch at every measured size (5, 80 images per class), by 24.5 to 29.0 points.", f.Summary[1]);
        Assert.Equal("Compute: transfer's 4 runs took 14 core-seconds in all; the same architecture from scratch's 1 run 280 (20.0x); " +
                     "the small CNN from scratch's 4 runs 50 (3.6x).", f.Summary[2]);
        Assert.Contains(f.Details, d => d.StartsWith("80 images per class (all): transfer 85.5% vs the same architecture from scratch 25.0%", StringComparison.Ordinal));
    }

    [Fact]
    public void ComparisonPageTellsTheStoryTopDownWithErrorBarsAndTheContrast()
    {
        var r = Result((5, 0.60, 0.45), (100, 0.842, 0.85));
        string html = ComparisonReport.Render(r, "intro <b>text</b>");
        Assert.Contains("id=\"efficiency-curve\"", html);
        Assert.Contains("id=\"efficiency-table\"", html);
        Assert.Contains("class=\"error-bar\"", html);
        Assert.Contains("Transfer was ahead of the small CNN from scratch at 5 images per class (by 15.0 points), within noise at 100.", html);
        Assert.Contains("lower at 100 images per class", html);
        Assert.Contains("intro &lt;b&gt;text&lt;/b&gt;", html);
        Assert.DoesNotContain("id=\"contrast\"", html);

        var contrast = Result((5, 0.70, 0.69));
        string both = ComparisonReport.Render(new ComparisonPanel("Photos", "p", r), [new ComparisonPanel("Fashion-MNIST", "f", contrast)]);
        int Pos(string id) => both.IndexOf($"id=\"{id}\"", StringComparison.Ordinal);
        // Headline, then curves, then the contrast panel with its own curve, then the protocol.
        Assert.True(Pos("findings") < Pos("efficiency-curve") && Pos("efficiency-curve") < Pos("contrast")
                    && Pos("contrast") < Pos("contrast-efficiency-curve") && Pos("contrast-efficiency-curve") < Pos("config"), "sections out of order");
        Assert.Contains("Transfer and the small CNN from scratch are within noise of each other at 5 images per class.", both);
    }
}
