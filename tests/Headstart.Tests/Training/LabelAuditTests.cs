using Headstart.Data;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;
using Xunit.Abstractions;

namespace Headstart.Tests.Training;

/// <summary>A generated shapes dataset with label errors planted in its training split, and the audits of it.</summary>
public sealed class PlantedLabelErrors : IDisposable
{
    private readonly TempDir tmp = new("label-audit");
    private readonly Lazy<LabelAuditResult> outOfFold, inSample;

    public PlantedLabelErrors()
    {
        Root = tmp.Combine("shapes");
        Planted = Plant(Root, classes: 3, trainPerClass: 16, valPerClass: 4);
        Options = new TrainOptions { CacheDir = tmp.Combine("cache"), Epochs = 10 };
        Data = ImageFolder.Load(Root);
        outOfFold = new(() => LabelAudit.Run(Data, Options, new LabelAuditOptions { Folds = 5 }));
        inSample = new(() => LabelAudit.RunInSample(Data, Options, new LabelAuditOptions { Folds = 5 }));
    }

    /// <summary>Writes the shapes folder, then copies two circles and two squares of the validation split into the
    /// training folders of the next class (square, triangle): four training images with a wrong label, which the
    /// training split holds nowhere else. Returns their full paths.</summary>
    public static string[] Plant(string root, int classes, int trainPerClass, int valPerClass)
    {
        var names = SyntheticImages.WriteImageFolder(root, classes, trainPerClass, valPerClass);
        var planted = new List<string>();
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 2; i++)
            {
                string to = Path.Combine(root, "train", names[c + 1], $"planted_{names[c]}_{i}.jpg");
                File.Copy(Path.Combine(root, "val", names[c], $"{names[c]}_{i:D3}.jpg"), to);
                planted.Add(to);
            }
        return [.. planted];
    }

    public string Root { get; }
    public string[] Planted { get; }
    public TrainOptions Options { get; }
    public ImageDataset Data { get; }
    public LabelAuditResult OutOfFold => outOfFold.Value;
    public LabelAuditResult InSample => inSample.Value;

    /// <summary>1-based ranks of the planted images in a ranking.</summary>
    public int[] RanksOf(LabelAuditResult r) =>
        [.. Planted.Select(p => r.Ranked.Select(s => s.Path).ToList().IndexOf(p) + 1).Order()];

    public void Dispose() => tmp.Dispose();
}

[Collection(GlobalRngCollection.Name)]
public sealed class LabelAuditTests(PlantedLabelErrors planted, ITestOutputHelper log) : IClassFixture<PlantedLabelErrors>
{
    [Fact]
    public void PlantedLabelErrorsRankFirstOutOfFold()
    {
        var r = planted.OutOfFold;
        var ranks = planted.RanksOf(r);
        log.WriteLine($"out-of-fold ranks of the {planted.Planted.Length} planted errors among {r.Ranked.Count}: {string.Join(", ", ranks)}; " +
                      $"out-of-fold accuracy {r.OutOfFoldAccuracy:P1}; {r.Seconds:F1} s");
        Assert.All(ranks, rank => Assert.InRange(rank, 1, 2 * planted.Planted.Length));
        // Each planted image is predicted as the class it shows, not the one it was given.
        Assert.All(r.Ranked.Where(s => planted.Planted.Contains(s.Path)), s =>
        {
            Assert.Equal("train", s.Split);
            Assert.NotEqual(s.Label, s.Predicted);
            Assert.Equal(r.Classes[s.Predicted], Path.GetFileNameWithoutExtension(s.Path).Split('_')[1]);
        });
        Assert.Equal(5, r.Folds);
        Assert.Equal(0, r.Skipped);
        Assert.Equal(["circle", "square", "triangle"], r.Classes);
    }

    [Fact]
    public void EveryTrainingImageIsRankedOnceByLossWithConsistentScores()
    {
        var r = planted.OutOfFold;
        Assert.Equal(planted.Data.Train.Count, r.Ranked.Count);
        Assert.Equal(planted.Data.Train.Select(s => s.Path).Order(StringComparer.Ordinal), r.Ranked.Select(s => s.Path).Order(StringComparer.Ordinal));
        Assert.All(r.Ranked, s =>
        {
            Assert.Equal(planted.Data.Train.Single(t => t.Path == s.Path).Label, s.Label);
            Assert.Equal(-MathF.Log(s.LabelProbability), s.Loss, 1e-4f);
            Assert.True(s.PredictedProbability >= s.LabelProbability);
            Assert.InRange(s.PredictedProbability, 1f / r.Classes.Count, 1f);
        });
        for (int i = 1; i < r.Ranked.Count; i++) Assert.True(r.Ranked[i - 1].Loss >= r.Ranked[i].Loss);
        double accuracy = r.Ranked.Count(s => s.Predicted == s.Label) / (double)r.Ranked.Count;
        Assert.Equal(accuracy, r.OutOfFoldAccuracy, 12);
        // The four planted errors are wrong; the generated shapes are easy, so little else is.
        Assert.InRange(r.OutOfFoldAccuracy, 0.8, 1 - planted.Planted.Length / (double)r.Ranked.Count + 1e-9);
    }

    [Fact]
    public void SameSeedSameRankingAndLosses()
    {
        var first = planted.OutOfFold;
        var again = LabelAudit.Run(planted.Data, planted.Options, new LabelAuditOptions { Folds = 5 });   // features from the cache now
        Assert.Equal(first.Ranked, again.Ranked);
        var otherSeed = LabelAudit.Run(planted.Data, planted.Options, new LabelAuditOptions { Folds = 5, Seed = 7 });
        Assert.NotEqual(first.Ranked.Select(s => s.Loss), otherSeed.Ranked.Select(s => s.Loss));
        Assert.All(planted.RanksOf(otherSeed), rank => Assert.InRange(rank, 1, 2 * planted.Planted.Length));
    }

    [Fact]
    public void OutOfFoldLossExposesWhatInSampleLossHides()
    {
        var oof = planted.OutOfFold;
        var ins = planted.InSample;
        int[] oofRanks = planted.RanksOf(oof), inRanks = planted.RanksOf(ins);
        float Mean(LabelAuditResult r) => r.Ranked.Where(s => planted.Planted.Contains(s.Path)).Average(s => s.Loss);
        log.WriteLine($"planted ranks out-of-fold {string.Join(", ", oofRanks)} (mean loss {Mean(oof):F3}); " +
                      $"in-sample {string.Join(", ", inRanks)} (mean loss {Mean(ins):F3}); of {oof.Ranked.Count}");
        Assert.Equal(1, ins.Folds);
        Assert.Equal(oof.Ranked.Count, ins.Ranked.Count);
        // The head that trained on the wrong labels believes them more than heads that never saw those images.
        Assert.True(Mean(ins) < Mean(oof), $"in-sample mean loss {Mean(ins)} vs out-of-fold {Mean(oof)}");
        Assert.True(oofRanks.Sum() <= inRanks.Sum(), $"out-of-fold ranks {string.Join(", ", oofRanks)} vs in-sample {string.Join(", ", inRanks)}");
    }

    [Fact]
    public void FoldsAreStratifiedBalancedAndSeeded()
    {
        long[] labels = [.. Enumerable.Repeat(0L, 13), .. Enumerable.Repeat(1L, 7), .. Enumerable.Repeat(2L, 2)];
        int[] folds = LabelAudit.AssignFolds(labels, classes: 3, folds: 5, seed: 42);
        var sizes = Enumerable.Range(0, 5).Select(f => folds.Count(x => x == f)).ToArray();
        Assert.True(sizes.Max() - sizes.Min() <= 1, string.Join(", ", sizes));
        for (int c = 0; c < 3; c++)
        {
            var perFold = Enumerable.Range(0, 5).Select(f => Enumerable.Range(0, labels.Length).Count(i => labels[i] == c && folds[i] == f)).ToArray();
            Assert.True(perFold.Max() - perFold.Min() <= 1, $"class {c}: {string.Join(", ", perFold)}");
        }
        Assert.Equal(folds, LabelAudit.AssignFolds(labels, 3, 5, 42));
        Assert.NotEqual(folds, LabelAudit.AssignFolds(labels, 3, 5, 43));
    }

    [Fact]
    public void FewerThanTwoFoldsIsRefused()
    {
        var ex = Assert.Throws<HeadstartException>(() => LabelAudit.Run(planted.Data, planted.Options, new LabelAuditOptions { Folds = 1 }));
        Assert.Contains("at least 2 folds", ex.Message);
    }
}
