using Headstart.Data;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Data;

/// <summary>train's header-level check remembers each file's hash and header by path, size and mtime.</summary>
public sealed class FileCheckMemoTests
{
    private static string Summary(DatasetReport r) =>
        string.Join("\n", r.Issues.Select(i => $"{i.Severity} {i.Kind} {string.Join(",", i.Paths.Order(StringComparer.Ordinal))}").Order(StringComparer.Ordinal))
        + $"\n{r.Files} {r.Images} {r.Verdict}";

    [Fact]
    public void MemoGivesTheSameReportAndRereadsOnlyChangedFiles()
    {
        using var tmp = new TempDir("memo");
        string data = tmp.Combine("data"), cache = tmp.Combine("cache");
        DatasetCheckerTests.WriteCorpus(data);
        var plain = new DatasetCheckOptions { DecodeImages = false };
        var memo = plain with { MemoCacheRoot = cache };
        string expected = Summary(DatasetChecker.Check(data, plain));
        Assert.Equal(expected, Summary(DatasetChecker.Check(data, memo)));     // first run fills the memo
        Assert.Single(Directory.GetFiles(Path.Combine(cache, "file-checks")));
        Assert.Equal(expected, Summary(DatasetChecker.Check(data, memo)));     // second run answers from it

        // Same size and mtime but a destroyed header: the memo is trusted (as the feature cache trusts size + mtime),
        // so it is really answering from memory...
        string a = Path.Combine(data, "train", "ants", "001.jpg");
        var stamp = File.GetLastWriteTimeUtc(a);
        var bytes = File.ReadAllBytes(a);
        bytes.AsSpan(0, 4).Clear();
        File.WriteAllBytes(a, bytes);
        File.SetLastWriteTimeUtc(a, stamp);
        Assert.Equal(expected, Summary(DatasetChecker.Check(data, memo)));
        Assert.Contains(DatasetChecker.Check(data, plain).Issues, i => i.Kind == IssueKind.Undecodable && i.Paths.Contains(a));
        // ...and a new mtime makes it read the file again.
        File.SetLastWriteTimeUtc(a, stamp.AddSeconds(5));
        var report = DatasetChecker.Check(data, memo);
        Assert.Contains(report.Issues, i => i.Kind == IssueKind.Undecodable && i.Paths.Contains(a));
        Assert.Equal(Summary(DatasetChecker.Check(data, plain)), Summary(report));
    }

    [Fact]
    public void CorruptMemoIsIgnored()
    {
        using var tmp = new TempDir("memo-corrupt");
        string data = tmp.Combine("data"), cache = tmp.Combine("cache");
        DatasetCheckerTests.WriteCorpus(data);
        var memo = new DatasetCheckOptions { DecodeImages = false, MemoCacheRoot = cache };
        string expected = Summary(DatasetChecker.Check(data, memo));
        string file = Directory.GetFiles(Path.Combine(cache, "file-checks")).Single();
        File.WriteAllText(file, "{ not json");
        Assert.Equal(expected, Summary(DatasetChecker.Check(data, memo)));
        File.WriteAllText(file, "{\"x\": {\"Size\": 1}}");                   // valid JSON, not a memo
        Assert.Equal(expected, Summary(DatasetChecker.Check(data, memo)));
    }
}
