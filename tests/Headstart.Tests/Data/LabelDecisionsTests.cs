using Headstart.Data;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Data;

/// <summary>The label decisions sidecar: a file beside the dataset that ImageFolder.Load applies after the split,
/// so relabel and exclude decisions reach a re-train while the dataset's own files stay as they were.</summary>
public sealed class LabelDecisionsTests
{
    /// <summary>root/train/{circle,square}/ (6 each) and root/val/{circle,square}/ (3 each).</summary>
    private static string Dataset(TempDir tmp)
    {
        string root = tmp.Combine("shapes");
        SyntheticImages.WriteImageFolder(root, classes: 2, trainPerClass: 6, valPerClass: 3);
        return root;
    }

    [Fact]
    public void SidecarIsASiblingFileAndRoundTrips()
    {
        using var tmp = new TempDir("decisions");
        string root = Dataset(tmp);
        Assert.Equal(root + ".headstart-labels.json", LabelDecisions.SidecarPath(root));
        Assert.Equal(root + ".headstart-labels.json", LabelDecisions.SidecarPath(root + "/"));
        Assert.Null(LabelDecisions.Load(root));

        var before = SyntheticImages.TreeHashes(root);
        var decisions = new LabelDecisions(root,
        [
            new LabelDecision("train/circle/circle_000.jpg", LabelDecisions.Exclude),
            new LabelDecision("train/square/square_001.jpg", LabelDecisions.Relabel, "circle"),
            new LabelDecision("train\\square\\square_002.jpg", LabelDecisions.Relabel, "circle"),   // separators normalised
        ]);
        decisions.Set(new LabelDecision("train/square/square_002.jpg", LabelDecisions.Exclude));     // replaces the relabel
        decisions.Save();

        Assert.True(File.Exists(root + ".headstart-labels.json"));
        Assert.Equal(before, SyntheticImages.TreeHashes(root));                                      // nothing written inside
        var loaded = LabelDecisions.Load(root)!;
        Assert.Equal(root, loaded.DatasetRoot);
        Assert.Equal(
        [
            new LabelDecision("train/circle/circle_000.jpg", LabelDecisions.Exclude),
            new LabelDecision("train/square/square_001.jpg", LabelDecisions.Relabel, "circle"),
            new LabelDecision("train/square/square_002.jpg", LabelDecisions.Exclude),
        ], loaded.Decisions);
        Assert.True(loaded.Remove("train/circle/circle_000.jpg"));
        Assert.False(loaded.Remove("train/circle/circle_000.jpg"));
        Assert.Equal(2, loaded.Decisions.Count);
    }

    [Fact]
    public void LoadAppliesExclusionsAndRelabelsWithoutTouchingTheDataset()
    {
        using var tmp = new TempDir("decisions");
        string root = Dataset(tmp);
        var before = SyntheticImages.TreeHashes(root);
        var plain = ImageFolder.Load(root);
        Assert.Null(plain.DecisionsNote);

        new LabelDecisions(root,
        [
            new LabelDecision("train/circle/circle_000.jpg", LabelDecisions.Exclude),
            new LabelDecision("val/square/square_001.jpg", LabelDecisions.Exclude),
            new LabelDecision("train/square/square_002.jpg", LabelDecisions.Relabel, "circle"),
        ]).Save();
        var data = ImageFolder.Load(root);

        Assert.Equal(11, data.Train.Count);
        Assert.Equal(5, data.Val.Count);
        Assert.DoesNotContain(data.Train, s => s.Path.EndsWith("circle_000.jpg", StringComparison.Ordinal));
        Assert.DoesNotContain(data.Val, s => s.Path.EndsWith("square_001.jpg", StringComparison.Ordinal));
        Assert.Equal(0, data.Train.Single(s => s.Path.EndsWith("square_002.jpg", StringComparison.Ordinal)).Label);   // circle now
        Assert.Equal(5, data.Train.Count(s => s.Label == 0 && Path.GetFileName(Path.GetDirectoryName(s.Path)) == "circle"));
        // Everything else as the folders say; root, split kind, classes and source unchanged.
        Assert.Equal(plain.Train.Where(s => !s.Path.EndsWith("circle_000.jpg", StringComparison.Ordinal) && !s.Path.EndsWith("square_002.jpg", StringComparison.Ordinal)),
            data.Train.Where(s => !s.Path.EndsWith("square_002.jpg", StringComparison.Ordinal)));
        Assert.Equal((plain.Root, plain.SplitKind), (data.Root, data.SplitKind));
        Assert.Equal(plain.Classes, data.Classes);
        Assert.Equal(plain.Skipped, data.Skipped);
        Assert.Contains("2 file(s) excluded, 1 relabelled", data.DecisionsNote);
        Assert.DoesNotContain("no longer", data.DecisionsNote);
        Assert.Equal(before, SyntheticImages.TreeHashes(root));
    }

    [Fact]
    public void StratifiedFoldersUsePathsWithoutASplit()
    {
        using var tmp = new TempDir("decisions");
        string root = tmp.Combine("flat");
        ImageFolderTests.WriteClasses(root, ["ants", "bees"], perClass: 10);
        var plain = ImageFolder.Load(root);
        new LabelDecisions(root, [new LabelDecision("bees/003.jpg", LabelDecisions.Relabel, "ants")]).Save();

        var data = ImageFolder.Load(root);
        var relabelled = data.Train.Concat(data.Val).Single(s => s.Path.EndsWith("bees/003.jpg", StringComparison.Ordinal));
        Assert.Equal(0, relabelled.Label);
        // Applied after the split: the same files in each split as without the sidecar.
        Assert.Equal(plain.Val.Select(s => s.Path), data.Val.Select(s => s.Path));
        Assert.Equal(plain.Train.Select(s => s.Path), data.Train.Select(s => s.Path));
    }

    [Fact]
    public void UnknownLabelIsAnErrorNamingTheFileAndTheLabel()
    {
        using var tmp = new TempDir("decisions");
        string root = Dataset(tmp);
        new LabelDecisions(root, [new LabelDecision("train/square/square_003.jpg", LabelDecisions.Relabel, "hexagon")]).Save();
        var ex = Assert.Throws<HeadstartException>(() => ImageFolder.Load(root));
        Assert.Contains("train/square/square_003.jpg", ex.Message);
        Assert.Contains("'hexagon'", ex.Message);
        Assert.Contains("circle, square", ex.Message);
    }

    [Fact]
    public void DecisionsForFilesThatAreGoneAreCountedAndIgnored()
    {
        using var tmp = new TempDir("decisions");
        string root = Dataset(tmp);
        new LabelDecisions(root,
        [
            new LabelDecision("train/circle/deleted_since.jpg", LabelDecisions.Exclude),
            new LabelDecision("train/square/renamed.jpg", LabelDecisions.Relabel, "no-such-class"),   // gone: its label is not checked
            new LabelDecision("train/square/square_000.jpg", LabelDecisions.Exclude),
        ]).Save();
        var data = ImageFolder.Load(root);
        Assert.Equal(11, data.Train.Count);
        Assert.Equal(6, data.Val.Count);
        Assert.Contains("1 file(s) excluded, 0 relabelled; 2 decision(s) name files no longer in the dataset (ignored)", data.DecisionsNote);
    }

    [Fact]
    public void MalformedDecisionsAreRefusedWithTheSidecarNamed()
    {
        using var tmp = new TempDir("decisions");
        string root = Dataset(tmp);
        Assert.Throws<HeadstartException>(() => new LabelDecisions(root, [new LabelDecision("../elsewhere.jpg", LabelDecisions.Exclude)]));
        Assert.Throws<HeadstartException>(() => new LabelDecisions(root, [new LabelDecision("/etc/passwd", LabelDecisions.Exclude)]));
        Assert.Throws<HeadstartException>(() => new LabelDecisions(root, [new LabelDecision("train/a.jpg", "delete")]));
        Assert.Throws<HeadstartException>(() => new LabelDecisions(root, [new LabelDecision("train/a.jpg", LabelDecisions.Relabel)]));

        string sidecar = LabelDecisions.SidecarPath(root);
        File.WriteAllText(sidecar, "{ not json");
        Assert.Contains(sidecar, Assert.Throws<HeadstartException>(() => ImageFolder.Load(root)).Message);
        File.WriteAllText(sidecar, """{"version": 1, "decisions": [{"path": "train/circle/circle_000.jpg", "action": "remove"}]}""");
        var ex = Assert.Throws<HeadstartException>(() => LabelDecisions.Load(root));
        Assert.Contains(sidecar, ex.Message);
        Assert.Contains("'remove'", ex.Message);
        File.WriteAllText(sidecar, """{"version": 1, "decisions": [{"path": "train/circle/circle_000.jpg", "action": "exclude"}]}""");
        Assert.Equal(11, ImageFolder.Load(root).Train.Count);   // a hand-written file in the documented form
    }
}
