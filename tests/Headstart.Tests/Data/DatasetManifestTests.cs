using Headstart.Data;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Data;

/// <summary>Manifests (CSV and JSON Lines of path,label[,split]): bad rows reported by line and skipped, paths kept
/// inside the root unless allowed, and the same dataset as the folder it lists.</summary>
public sealed class DatasetManifestTests : IDisposable
{
    private readonly TempDir tmp = new("manifest");
    private readonly string root;

    public DatasetManifestTests()
    {
        root = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(root, classes: 2, trainPerClass: 3, valPerClass: 1);
    }

    private string Write(string name, params string[] lines)
    {
        string path = Path.Combine(root, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private static string[] Rows(string dir) =>
        [.. Directory.GetFiles(dir, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => Path.GetRelativePath(dir, f)).Select(r => $"{r},{r.Split('/')[1]},{r.Split('/')[0]}")];

    [Fact]
    public void AManifestOfAFolderIsThatFolder()
    {
        var folder = ImageFolder.Load(root);
        var csv = DatasetManifest.Load(Write("m.csv", ["path,label,split", .. Rows(root)]));
        var jsonl = DatasetManifest.Load(Write("m.jsonl", [.. Rows(root).Select(r => r.Split(','))
            .Select(f => $"{{\"path\": \"{f[0]}\", \"label\": \"{f[1]}\", \"split\": \"{f[2]}\"}}")]));
        foreach (var m in new[] { csv, jsonl })
        {
            Assert.Equal(folder.Classes, m.Classes);
            Assert.Equal(folder.Train, m.Train);
            Assert.Equal(folder.Val, m.Val);
            Assert.Empty(m.Skipped);
            Assert.Equal("manifest", m.SplitKind);
        }
    }

    [Fact]
    public void BadRowsAreSkippedAndReportedByLine()
    {
        var good = Rows(root);
        string m = Write("m.csv",
            "# a comment, then a header in another order",
            "label,path,split",
            $"{good[0].Split(',')[1]},{good[0].Split(',')[0]},train",
            ",train/a/nolabel.jpg,train",                                  // line 4: no label
            $"a,{good[1].Split(',')[0]},test",                             // line 5: unknown split
            "a,train/a/missing.jpg,train",                                 // line 6: no such file
            $"{good[0].Split(',')[1]},{good[0].Split(',')[0]},train",     // line 7: listed twice
            "a,notes.txt,train",                                           // line 8: not an image
            "a,\"unterminated,train",                                      // line 9: bad quoting
            "a,b,c,d",                                                     // line 10: too many fields
            $"{good[^1].Split(',')[1]},\"{good[^1].Split(',')[0]}\",val",  // quoted, fine
            $"{good[2].Split(',')[1]},{good[2].Split(',')[0]}");           // line 12: no split while others have one
        var d = DatasetManifest.Load(m);
        var reasons = d.Skipped.ToDictionary(s => int.Parse(s.Path[(s.Path.LastIndexOf(':') + 1)..]), s => s.Reason);
        Assert.Equal([4, 5, 6, 7, 8, 9, 10, 12], reasons.Keys.Order());
        Assert.Equal("no label", reasons[4]);
        Assert.Contains("split 'test' is neither train nor val", reasons[5]);
        Assert.Contains("file not found", reasons[6]);
        Assert.Contains("listed twice (first on line 3)", reasons[7]);
        Assert.Contains("not an image file", reasons[8]);
        Assert.Contains("unterminated quoted field", reasons[9]);
        Assert.Contains("4 fields", reasons[10]);
        Assert.Contains("no split on this row", reasons[12]);
        Assert.All(d.Skipped, s => Assert.StartsWith(m + ":", s.Path));
        Assert.Equal((1, 1), (d.Train.Count, d.Val.Count));
    }

    [Fact]
    public void WithoutSplitsEachClassIsSplitHere()
    {
        var d = DatasetManifest.Load(Write("m.csv", [.. Rows(root).Select(r => string.Join(',', r.Split(',')[..2]))]), new ManifestOptions { ValSplit = 0.25 });
        Assert.Equal("manifest-stratified", d.SplitKind);
        Assert.Equal((6, 2), (d.Train.Count, d.Val.Count));
    }

    [Theory]
    [InlineData("../outside.jpg")]
    [InlineData("/etc/outside.jpg")]
    [InlineData("train/../../outside.jpg")]
    [InlineData("link.jpg")]
    public void PathsOutsideTheRootAreRefusedUnlessAllowed(string path)
    {
        var rows = Rows(root);
        string outside = tmp.Combine("outside.jpg");
        File.Copy(Directory.GetFiles(root, "*.jpg", SearchOption.AllDirectories)[0], outside);
        File.CreateSymbolicLink(Path.Combine(root, "link.jpg"), outside);
        string row = path.StartsWith("/etc", StringComparison.Ordinal) ? outside : path;
        string m = Write("m.csv", [.. rows, $"{row},{rows[0].Split(',')[1]},train"]);
        var ex = Assert.Throws<HeadstartException>(() => DatasetManifest.Load(m));
        Assert.Contains("outside its root", ex.Message);
        Assert.Contains("--allow-outside-root", ex.Message);
        var allowed = DatasetManifest.Load(m, new ManifestOptions { AllowOutsideRoot = true });
        Assert.Equal(7, allowed.Train.Count);
    }

    [Fact]
    public void ARootElsewhereAndJsonLabelsThatAreNumbers()
    {
        string m = Path.Combine(tmp.Path, "list.jsonl");
        File.WriteAllLines(m, [.. Rows(root).Select(r => r.Split(',')).Select(f => $"{{\"path\": \"{f[0]}\", \"label\": {(f[1] == "circle" ? 0 : 1)}}}"), "[1, 2]", "{\"path\": 3}"]);
        var d = DatasetManifest.Load(m, new ManifestOptions { Root = root });
        Assert.Equal(["0", "1"], d.Classes);
        Assert.Equal(8, d.Train.Count + d.Val.Count);
        Assert.Equal(["no label", "not a JSON object"], d.Skipped.Select(s => s.Reason).Order(StringComparer.Ordinal));
    }

    public void Dispose() => tmp.Dispose();
}
