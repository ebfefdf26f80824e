using System.CommandLine;
using System.Security.Cryptography;
using Headstart.Cli.Check;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Tests.TestSupport;
using SkiaSharp;
using Xunit;
using static Headstart.Tests.Data.TestImages;

namespace Headstart.Tests.Data;

public sealed class DatasetCheckerTests
{
    /// <summary>The bad-input corpus of issue 7 as an ImageFolder with train/ and val/.</summary>
    internal static void WriteCorpus(string root)
    {
        string train = Path.Combine(root, "train"), val = Path.Combine(root, "val");
        ImageFolderTests.WriteClasses(train, ["ants", "bees"], 4);
        ImageFolderTests.WriteClasses(val, ["ants", "bees"], 2);
        string ants = Path.Combine(train, "ants"), bees = Path.Combine(train, "bees");
        foreach (var name in new[] { "zero-byte.jpg", "truncated.jpg", "random.jpg", "text.png" })
            File.WriteAllBytes(Path.Combine(ants, name), ImageDecoderTests.Corpus(name));
        (byte, byte, byte)[] palette = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)];
        File.WriteAllBytes(Path.Combine(ants, "imageNotFound.gif"), Gif(40, 40, palette, new byte[1600]));
        File.WriteAllBytes(Path.Combine(ants, "animated.gif"), Gif(40, 40, palette, new byte[1600], Enumerable.Repeat((byte)1, 1600).ToArray()));
        File.WriteAllBytes(Path.Combine(bees, "cmyk.jpg"), CmykJpeg);
        File.WriteAllBytes(Path.Combine(bees, "deep.png"), Png(40, 40, Solid(1, 2, 3), colorType: 2, bitDepth: 16));
        File.WriteAllBytes(Path.Combine(bees, "rgba.png"), Png(40, 40, (x, _) => (9, 9, 9, (byte)x), colorType: 6));
        File.WriteAllBytes(Path.Combine(bees, "gray.png"), Png(40, 40, Solid(50, 50, 50), colorType: 0));
        File.WriteAllBytes(Path.Combine(bees, "one.png"), Png(1, 1, Solid(1, 1, 1)));
        File.WriteAllBytes(Path.Combine(bees, "bomb.png"), Png(1, 1, Solid(0, 0, 0), declaredWidth: 20000, declaredHeight: 20000));
        Directory.CreateDirectory(Path.Combine(bees, "fleurs d'été 🌻"));
        File.WriteAllBytes(Path.Combine(bees, "fleurs d'été 🌻", "n°1 ok.webp"), Encode(48, 48, Solid(7, 8, 9), SKEncodedImageFormat.Webp));
        File.WriteAllText(Path.Combine(bees, "README.txt"), "not an image");
        File.CreateSymbolicLink(Path.Combine(bees, "loop.jpg"), Path.Combine(bees, "loop.jpg"));
        File.Copy(Path.Combine(train, "ants", "000.jpg"), Path.Combine(val, "ants", "leak.jpg")); // train/val leak
        File.Copy(Path.Combine(train, "bees", "000.jpg"), Path.Combine(train, "bees", "copy.jpg")); // plain duplicate
        Directory.CreateDirectory(Path.Combine(train, "wasps")); // empty class folder
    }

    private static Dictionary<string, string> Snapshot(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Order(StringComparer.Ordinal)
            .ToDictionary(p => p, p =>
            {
                var info = new FileInfo(p);
                if (info.LinkTarget is not null) return "link:" + info.LinkTarget;
                if (Directory.Exists(p)) return "dir";
                return Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))) + "@" + info.LastWriteTimeUtc.Ticks;
            });

    [Fact]
    public void CorpusIsReportedCaseByCaseAndLeftUntouched()
    {
        using var dir = new TempDir();
        WriteCorpus(dir.Path);
        var before = Snapshot(dir.Path);

        var report = DatasetChecker.Check(dir.Path);

        Assert.Equal(before, Snapshot(dir.Path)); // nothing written, nothing touched
        Assert.Equal(DatasetVerdict.Warnings, report.Verdict);
        Assert.Equal(["ants", "bees", "wasps"], report.Classes.Select(c => c.Name));
        string Reason(string file) => Assert.Single(report.Issues, i => i.Kind == IssueKind.Undecodable && Path.GetFileName(i.Paths[0]) == file).Message;
        Assert.Contains("empty file", Reason("zero-byte.jpg"));
        Assert.Contains("truncated", Reason("truncated.jpg"));
        Assert.Contains("not a supported image", Reason("random.jpg"));
        Assert.Contains("text file", Reason("text.png"));
        Assert.Contains("20000x20000", Reason("bomb.png"));
        Assert.Contains("cannot read", Reason("loop.jpg"));
        Assert.Equal(6, report.Issues.Count(i => i.Kind == IssueKind.Undecodable));

        IReadOnlyList<string> Files(IssueKind kind) =>
            report.Issues.Where(i => i.Kind == kind).SelectMany(i => i.Paths).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList()!;
        Assert.Equal(["README.txt"], Files(IssueKind.NonImage));
        Assert.Equal(["cmyk.jpg", "one.png"], Files(IssueKind.Tiny)); // the CMYK sample is 16x8
        Assert.Equal(["gray.png"], Files(IssueKind.Grayscale));
        Assert.Equal(["cmyk.jpg"], Files(IssueKind.Cmyk));
        Assert.Equal(["rgba.png"], Files(IssueKind.Alpha));
        Assert.Equal(["animated.gif"], Files(IssueKind.Animated));
        Assert.Equal(["000.jpg", "leak.jpg"], Files(IssueKind.DuplicateAcrossSplits));
        Assert.Equal(["000.jpg", "copy.jpg"], Files(IssueKind.Duplicate));
        Assert.Equal(["wasps"], Files(IssueKind.EmptyClass));
        // 16-bit PNG, unicode path, GIFs and the 1x1 image are readable images, not failures.
        var bees = report.Classes.Single(c => c.Name == "bees");
        Assert.Equal(4 + 1 + 6, bees.Train); // generated + copy + cmyk, deep, rgba, gray, one, webp (bomb and loop fail)
        Assert.Equal((6, 3), (report.Classes[0].Train, report.Classes[0].Val)); // ants: generated + 2 GIFs; val + leak
    }

    [Fact]
    public void SingleClassIsFatal()
    {
        using var dir = new TempDir();
        ImageFolderTests.WriteClasses(dir.Path, ["only"], 3);
        var report = DatasetChecker.Check(dir.Path);
        Assert.Equal(DatasetVerdict.Fatal, report.Verdict);
        Assert.Contains(report.Issues, i => i.Kind == IssueKind.TooFewClasses && i.Severity == CheckSeverity.Fatal);
    }

    [Fact]
    public void CleanBalancedDatasetIsOkAndImbalanceWarns()
    {
        using var dir = new TempDir();
        ImageFolderTests.WriteClasses(dir.Path, ["a", "b"], 4);
        Assert.Equal(DatasetVerdict.Ok, DatasetChecker.Check(dir.Path).Verdict);
        ImageFolderTests.WriteClasses(dir.Combine("c"), ["x"], 1); // writes c/x/000.jpg: class c with one image
        var report = DatasetChecker.Check(dir.Path);
        Assert.Contains(report.Issues, i => i.Kind == IssueKind.ClassImbalance);
        Assert.Contains(report.Issues, i => i.Kind == IssueKind.TooFewImages && i.Message.Contains("'c'"));
    }

    [Fact]
    public void CheckVerbExitCodes()
    {
        using var dir = new TempDir();
        WriteCorpus(dir.Combine("corpus"));
        ImageFolderTests.WriteClasses(dir.Combine("single"), ["only"], 2);
        int Invoke(params string[] args)
        {
            var root = new RootCommand { Options = { Shell.Json }, Subcommands = { CheckCommand.Create() } };
            var parse = root.Parse(args);
            return parse.Errors.Count > 0 ? Shell.UsageError : parse.Invoke();
        }
        Assert.Equal(0, Invoke("check", dir.Combine("corpus"), "--show", "3"));
        Assert.Equal(1, Invoke("check", dir.Combine("single")));
        Assert.Equal(1, Invoke("check", dir.Combine("absent")));
        Assert.Equal(2, Invoke("check", dir.Combine("corpus"), "--max-pixels", "0"));
    }

    [SharedFact("datasets/flowers-small")]
    public void FlowersSmallHasTwoDuplicatePairsAndIsUnchanged()
    {
        string root = SharedData.PathTo("datasets/flowers-small");
        var before = Snapshot(root);
        var report = DatasetChecker.Check(root);
        Assert.Equal(before, Snapshot(root));
        Assert.Equal(600, report.Images);
        Assert.Equal(2, report.Issues.Count(i => i.Kind == IssueKind.Duplicate)); // real duplicates in train/sunflowers
        Assert.Equal(DatasetVerdict.Warnings, report.Verdict);
    }
}
