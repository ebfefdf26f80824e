using Headstart.Bundles;
using Headstart.Data;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Xunit;

namespace Headstart.Tests.Bundles;

/// <summary>The never-write-inside-the-dataset rule holds for library callers too, not only behind the CLI.</summary>
public class DatasetWritesTests
{
    [Fact]
    public void TheRuleNamesInsideAndContainingPathsOnly()
    {
        using var tmp = new TempDir("dataset-writes");
        string data = tmp.Combine("data");
        Directory.CreateDirectory(Path.Combine(data, "train", "a"));
        Assert.Contains("is inside the dataset folder", DatasetWrites.Conflict(data, Path.Combine(data, "train", "out")));
        Assert.Contains("is inside the dataset folder", DatasetWrites.Conflict(data, data + Path.DirectorySeparatorChar));
        Assert.Null(DatasetWrites.Conflict(data, tmp.Path));                              // a parent, written into
        Assert.Contains("contains the dataset folder", DatasetWrites.Conflict(data, tmp.Path, replacesFolder: true));
        Assert.Null(DatasetWrites.Conflict(data, tmp.Combine("data-bundle"), replacesFolder: true));   // a sibling
        Assert.Null(DatasetWrites.Conflict(tmp.Combine("absent"), tmp.Combine("absent", "x")));
    }

    [Fact]
    public void ModelBundleSaveRefusesAFolderInsideOrAroundTheDatasetAndWritesNothing()
    {
        using var tmp = new TempDir("bundle-in-data");
        string data = tmp.Combine("shapes");
        var classes = SyntheticImages.WriteImageFolder(data, classes: 2, trainPerClass: 2, valPerClass: 1);
        var before = SyntheticImages.TreeHashes(data);
        var spec = ModelRegistry.Get("small_cnn");
        using var model = spec.Create(classes.Length);
        var manifest = new BundleManifest
        {
            Arch = spec.Name, Classes = classes, Preprocessing = spec.Preprocessing,
            Dataset = new DatasetSummary(data, "folders", 4, 2, new Dictionary<string, int>(), new Dictionary<string, int>(), 0, []),
        };
        var inside = Assert.Throws<HeadstartException>(() => ModelBundle.Save(Path.Combine(data, "train", "bundle"), model, manifest));
        Assert.Contains("inside the dataset folder", inside.Message);
        Assert.Throws<HeadstartException>(() => ModelBundle.Save(tmp.Path, model, manifest));
        Assert.Equal(before, SyntheticImages.TreeHashes(data));
        ModelBundle.Save(tmp.Combine("bundle"), model, manifest);                          // beside it: fine
        Assert.True(File.Exists(tmp.Combine("bundle", "model.json")));
    }
}
