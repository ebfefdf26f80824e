using Headstart.Data;
using Headstart.Tests.TestSupport;
using Xunit;
using static Headstart.Tests.Data.TestImages;

namespace Headstart.Tests.Data;

public sealed class ImageFolderTests
{
    private static int _generated;

    /// <summary>Writes <paramref name="perClass"/> small JPEGs into dir/&lt;class&gt;/ for each class, each with content
    /// no other generated image has (so duplicates are only the ones a test makes).</summary>
    internal static void WriteClasses(string dir, IEnumerable<string> classes, int perClass)
    {
        foreach (var c in classes)
        {
            Directory.CreateDirectory(Path.Combine(dir, c));
            for (int i = 0; i < perClass; i++)
            {
                int k = Interlocked.Increment(ref _generated);
                File.WriteAllBytes(Path.Combine(dir, c, $"{i:D3}.jpg"),
                    Jpeg(40, 40, (x, y) => ((byte)k, (byte)(k >> 8), (byte)(x * 6 + y), 255)));
            }
        }
    }

    [Fact]
    public void StratifiedSplitIsSortedStratifiedAndSeeded()
    {
        using var dir = new TempDir();
        WriteClasses(dir.Path, ["b", "a", "C"], perClass: 10);
        var ds = ImageFolder.Load(dir.Path);
        Assert.Equal("stratified", ds.SplitKind);
        Assert.Equal(["C", "a", "b"], ds.Classes); // ordinal: upper case first
        Assert.Equal(24, ds.Train.Count);
        Assert.Equal(6, ds.Val.Count);
        Assert.All(Enumerable.Range(0, 3), c => Assert.Equal(2, ds.Val.Count(s => s.Label == c)));
        Assert.Empty(ds.Train.Select(s => s.Path).Intersect(ds.Val.Select(s => s.Path)));
        Assert.All(ds.Train.Concat(ds.Val), s => Assert.Equal(ds.Classes[s.Label], Path.GetFileName(Path.GetDirectoryName(s.Path))));

        var again = ImageFolder.Load(dir.Path);
        Assert.Equal(ds.Val, again.Val);
        var other = ImageFolder.Load(dir.Path, new ImageFolderOptions { Seed = 7 });
        Assert.NotEqual(ds.Val, other.Val);
        var half = ImageFolder.Load(dir.Path, new ImageFolderOptions { ValSplit = 0.5 });
        Assert.Equal(15, half.Val.Count);
    }

    [Fact]
    public void TrainAndValFoldersAreUsedAsGiven()
    {
        using var dir = new TempDir();
        WriteClasses(dir.Combine("train"), ["ants", "bees"], 3);
        WriteClasses(dir.Combine("val"), ["ants", "bees"], 2);
        var ds = ImageFolder.Load(dir.Path);
        Assert.Equal("folders", ds.SplitKind);
        Assert.Equal(["ants", "bees"], ds.Classes);
        Assert.Equal(6, ds.Train.Count);
        Assert.Equal(4, ds.Val.Count);
        Assert.All(ds.Val, s => Assert.Contains($"{Path.DirectorySeparatorChar}val{Path.DirectorySeparatorChar}", s.Path));
        Assert.IsType<FileImageSource>(ds.Source);
    }

    [Fact]
    public void NonImagesAndBadHeadersAreSkippedWithReasons()
    {
        using var dir = new TempDir();
        WriteClasses(dir.Path, ["cat", "dog"], 3);
        File.WriteAllText(dir.Combine("cat", "notes.txt"), "hello");
        File.WriteAllBytes(dir.Combine("dog", "broken.jpg"), ImageDecoderTests.RandomBytes(500, 1));
        File.WriteAllBytes(dir.Combine("dog", "empty.jpg"), []);
        File.WriteAllBytes(dir.Combine("dog", "bomb.png"), Png(1, 1, Solid(0, 0, 0), declaredWidth: 20000, declaredHeight: 20000));
        Directory.CreateDirectory(dir.Combine("empty-class"));
        File.CreateSymbolicLink(dir.Combine("dog", "loop"), dir.Combine("dog")); // a folder loop: never followed
        File.CreateSymbolicLink(dir.Combine("cat", "self.jpg"), dir.Combine("cat", "self.jpg"));
        var ds = ImageFolder.Load(dir.Path);
        Assert.Equal(["cat", "dog", "empty-class"], ds.Classes);
        Assert.Equal(6, ds.Train.Count + ds.Val.Count);
        var reasons = ds.Skipped.ToDictionary(s => Path.GetFileName(s.Path), s => s.Reason);
        Assert.Contains("not an image", reasons["notes.txt"]);
        Assert.Contains("not a supported image", reasons["broken.jpg"]);
        Assert.Contains("empty file", reasons["empty.jpg"]);
        Assert.Contains("pixel limit", reasons["bomb.png"]);
        Assert.Contains("cannot read", reasons["self.jpg"]);
        Assert.Contains("not followed", reasons["loop"]);
    }

    [Fact]
    public void FewerThanTwoClassesIsAClearError()
    {
        using var dir = new TempDir();
        WriteClasses(dir.Path, ["only"], 4);
        var ex = Assert.Throws<HeadstartException>(() => ImageFolder.Load(dir.Path));
        Assert.Contains("at least 2", ex.Message);
        Assert.Throws<HeadstartException>(() => ImageFolder.Load(dir.Combine("missing")));
        Assert.Throws<HeadstartException>(() => ImageFolder.Load(dir.Path, new ImageFolderOptions { ValSplit = 1.5 }));
    }

    [Fact]
    public void SingleImageClassStaysInTrain()
    {
        var samples = new[] { new ImageSample("/a/1", 0), new ImageSample("/b/1", 1), new ImageSample("/b/2", 1) };
        var (train, val) = ImageFolder.StratifiedSplit(samples, 0.2, 42);
        Assert.Contains(samples[0], train);
        Assert.Single(val); // round(0.4) = 0, but a class with 2+ images always gets one val image
        Assert.Equal(1, val[0].Label);
    }

    [SharedFact("datasets/flowers-small")]
    public void FlowersSmallLoads()
    {
        var ds = ImageFolder.Load(SharedData.PathTo("datasets/flowers-small"));
        Assert.Equal(["daisy", "dandelion", "roses", "sunflowers", "tulips"], ds.Classes);
        Assert.Equal((400, 200), (ds.Train.Count, ds.Val.Count));
        Assert.Empty(ds.Skipped);
    }
}
