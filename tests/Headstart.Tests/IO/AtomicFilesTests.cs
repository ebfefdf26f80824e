using Headstart.IO;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.IO;

/// <summary>The states a killed run can leave behind, and what the next run makes of them.</summary>
public sealed class AtomicFilesTests : IDisposable
{
    private readonly TempDir tmp = new("atomic-files");

    private string Write(string relative, string text)
    {
        string path = tmp.Combine(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void AFailingBuildLeavesTheOldDirectoryAndNoTempBehind()
    {
        string dir = tmp.Combine("bundle");
        Write("bundle/model.json", "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFiles.WriteDirectory(dir, t =>
        {
            File.WriteAllText(Path.Combine(t, "model.json"), "half");
            throw new InvalidOperationException("killed");
        }));
        Assert.Equal("old", File.ReadAllText(Path.Combine(dir, "model.json")));
        Assert.Equal(["bundle"], Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void LeftoversOfAKilledRunAreCleanedAndAMovedAsideCopyIsRestored()
    {
        // Killed between the two renames: only the moved-aside old copy and the finished temp exist.
        Write("bundle.old-123-abc/model.json", "old");
        Write("bundle.tmp-123-def/model.json", "new, unpublished");
        Write("bundle.tmp-456-ghi", "a temp file");
        Write("bundle.keep/model.json", "not ours");
        AtomicFiles.CleanLeftovers(tmp.Combine("bundle"));
        Assert.Equal("old", File.ReadAllText(tmp.Combine("bundle", "model.json")));
        Assert.Equal(["bundle", "bundle.keep"], Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void WriteFileReplacesWholeOrNotAtAll()
    {
        string path = Write("metrics.json", "old");
        Assert.Throws<IOException>(() => AtomicFiles.WriteFile(path, s => { s.Write("partial"u8); throw new IOException("disk full"); }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(["metrics.json"], Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName));
        AtomicFiles.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
    }

    public void Dispose() => tmp.Dispose();
}
