using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Headstart.Data;
using Xunit;

namespace Headstart.Tests.Data;

/// <summary>
/// The photo set shipped for the demo (src/Headstart.Cli/DemoData/flowers, written by scripts/make-demo-photos.sh):
/// 5 classes × (80 train + 40 val), every file pinned by SHA256SUMS, every file credited in ATTRIBUTION.md with its
/// Flickr page, small enough to ship, and every file an image Headstart reads.
/// </summary>
public partial class DemoPhotosTests
{
    private static readonly string[] Classes = ["daisy", "dandelion", "roses", "sunflowers", "tulips"];

    private static string Dir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Headstart.slnx")))
                return Path.Combine(dir.FullName, "src", "Headstart.Cli", "DemoData", "flowers");
        throw new InvalidOperationException("the repository root (Headstart.slnx) is not above the test binary");
    }

    private static List<string> Photos(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).Equals("ATTRIBUTION.md", StringComparison.Ordinal)
                        && !Path.GetFileName(f).Equals("SHA256SUMS", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void ThePhotosTravelWithTheCliAndTheDemoFindsThemThere()
    {
        // The CLI's build copies DemoData next to Headstart.Cli.dll (so into this test's output, and into the CLI's
        // publish folder): byte for byte the checked-in set, where the demo looks for it.
        string shipped = Headstart.Cli.Demo.DemoCommand.PhotosDir;
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "DemoData", "flowers"), shipped);
        Assert.Equal(Photos(Dir()), Photos(shipped));
        foreach (var f in new[] { "ATTRIBUTION.md", "SHA256SUMS", Photos(Dir())[0], Photos(Dir())[^1] })
            Assert.Equal(File.ReadAllBytes(Path.Combine(Dir(), f)), File.ReadAllBytes(Path.Combine(shipped, f)));
    }

    [Fact]
    public void EveryClassHas80TrainingAnd40ValidationPhotosAndNothingElse()
    {
        var photos = Photos(Dir());
        Assert.Equal(600, photos.Count);
        foreach (var split in new[] { ("train", 80), ("val", 40) })
            foreach (var c in Classes)
                Assert.Equal(split.Item2, photos.Count(p => p.StartsWith($"{split.Item1}/{c}/", StringComparison.Ordinal) && p.EndsWith(".jpg", StringComparison.Ordinal)));
    }

    [Fact]
    public void EveryFileMatchesItsPinnedHash()
    {
        string dir = Dir();
        var pinned = File.ReadAllLines(Path.Combine(dir, "SHA256SUMS"))
            .Select(l => l.Split("  ", 2))
            .ToDictionary(p => p[1], p => p[0], StringComparer.Ordinal);
        Assert.Equal(Photos(dir), pinned.Keys.Order(StringComparer.Ordinal));
        foreach (var (file, sha) in pinned)
            Assert.True(sha == Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, file)))), $"{file} differs from SHA256SUMS");
    }

    [Fact]
    public void EveryPhotoIsCreditedWithItsFlickrPageAndTheLicence()
    {
        string dir = Dir();
        string text = File.ReadAllText(Path.Combine(dir, "ATTRIBUTION.md"));
        Assert.Contains("CC BY 2.0", text);
        Assert.Contains("https://creativecommons.org/licenses/by/2.0/", text);
        var rows = Row().Matches(text).ToDictionary(m => m.Groups["file"].Value, m => m.Groups["id"].Value, StringComparer.Ordinal);
        var photos = Photos(dir);
        Assert.Equal(photos, rows.Keys.Order(StringComparer.Ordinal));
        foreach (var file in photos)
            Assert.Equal(Path.GetFileName(file).Split('_')[0], rows[file]);
    }

    [Fact]
    public void ThePhotosAreSmallEnoughToShipAndReadableImages()
    {
        string dir = Dir();
        var photos = Photos(dir);
        long bytes = photos.Sum(p => new FileInfo(Path.Combine(dir, p)).Length);
        Assert.True(bytes <= 15L * 1024 * 1024, $"{bytes} bytes of photos; the budget is 15 MB");
        foreach (var p in photos)
        {
            var header = ImageDecoder.Probe(Path.Combine(dir, p));
            Assert.Equal("jpeg", header.Format.ToLowerInvariant());
            Assert.InRange(Math.Min(header.Width, header.Height), 100, 256);
        }
    }

    [GeneratedRegex(@"^\| (?<file>(train|val)/[a-z]+/[^ |]+\.jpg) \| https://www\.flickr\.com/photo\.gne\?id=(?<id>\d+) \|$", RegexOptions.Multiline)]
    private static partial Regex Row();
}
