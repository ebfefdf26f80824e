using System.Text.RegularExpressions;
using Xunit;

namespace Headstart.Tests.Architecture;

/// <summary>
/// The library's namespaces depend on each other one way (docs/ARCHITECTURE.md), read from the source: a file in
/// namespace A depends on B when it names Headstart.B (a using, a using static or a qualified name). Also checks that
/// every namespace ARCHITECTURE.md names (in backticks) exists and every library namespace is on it, so that the map
/// stays true.
/// </summary>
public partial class NamespaceLayersTests
{
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Headstart.slnx"))) return dir.FullName;
        throw new InvalidOperationException("the repository root (Headstart.slnx) is not above the test binary");
    }

    /// <summary>Top-level namespace (Headstart.X) → the top-level namespaces its files name.</summary>
    internal static Dictionary<string, HashSet<string>> Graph(string srcDir)
    {
        var graph = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(srcDir, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") ||
                file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")) continue;
            string text = File.ReadAllText(file);
            var ns = NamespaceRegex().Match(text);
            if (!ns.Success) continue;
            string from = Top(ns.Groups[1].Value);
            var deps = graph.TryGetValue(from, out var d) ? d : graph[from] = [];
            foreach (Match m in ReferenceRegex().Matches(CommentRegex().Replace(text, "")))
            {
                string to = Top($"Headstart.{m.Groups[1].Value}");
                if (to != from && Directory.Exists(Path.Combine(srcDir, to["Headstart.".Length..]))) deps.Add(to);
            }
        }
        return graph;
    }

    private static string Top(string ns) => string.Join('.', ns.Split('.').Take(2));

    /// <summary>A dependency cycle as "A -> B -> A", or null.</summary>
    internal static string? FindCycle(IReadOnlyDictionary<string, HashSet<string>> graph)
    {
        var state = new Dictionary<string, int>();   // 1 on the stack, 2 done
        var stack = new List<string>();
        string? Visit(string n)
        {
            state[n] = 1;
            stack.Add(n);
            foreach (var m in graph.TryGetValue(n, out var deps) ? deps.Order(StringComparer.Ordinal) : Enumerable.Empty<string>())
            {
                if (state.GetValueOrDefault(m) == 1) return string.Join(" -> ", stack.SkipWhile(s => s != m).Append(m));
                if (state.GetValueOrDefault(m) == 0 && Visit(m) is { } cycle) return cycle;
            }
            stack.RemoveAt(stack.Count - 1);
            state[n] = 2;
            return null;
        }
        foreach (var n in graph.Keys.Order(StringComparer.Ordinal))
            if (state.GetValueOrDefault(n) == 0 && Visit(n) is { } cycle) return cycle;
        return null;
    }

    [Fact]
    public void TheLibrarysNamespacesHaveNoCycle()
    {
        var graph = Graph(Path.Combine(RepoRoot(), "src", "Headstart"));
        Assert.True(graph.Count >= 10, $"only {graph.Count} namespaces found");
        var cycle = FindCycle(graph);
        Assert.True(cycle is null, $"namespace cycle: {cycle}\n" +
            string.Join("\n", graph.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} -> {string.Join(", ", kv.Value.Order())}")));
    }

    [Fact]
    public void TheCycleFinderFindsACycle()
    {
        var graph = new Dictionary<string, HashSet<string>>
        {
            ["Headstart.A"] = ["Headstart.B"], ["Headstart.B"] = ["Headstart.C"], ["Headstart.C"] = ["Headstart.A"], ["Headstart.D"] = [],
        };
        Assert.Equal("Headstart.A -> Headstart.B -> Headstart.C -> Headstart.A", FindCycle(graph));
        graph["Headstart.C"] = ["Headstart.D"];
        Assert.Null(FindCycle(graph));
    }

    [Fact]
    public void EveryNamespaceTheArchitecturePageNamesExists()
    {
        string root = RepoRoot();
        string page = File.ReadAllText(Path.Combine(root, "docs", "ARCHITECTURE.md"));
        var named = NamedNamespaceRegex().Matches(page).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.True(named.Count >= 10, $"ARCHITECTURE.md names only {named.Count} namespaces");
        var existing = Directory.EnumerateFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Select(f => NamespaceRegex().Match(File.ReadAllText(f))).Where(m => m.Success).Select(m => m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);
        var missing = named.Where(n => !existing.Contains(n)).ToList();
        Assert.True(missing.Count == 0, $"ARCHITECTURE.md names namespaces that do not exist: {string.Join(", ", missing)}");
        // And every top-level library namespace is on the map.
        var unmapped = Graph(Path.Combine(root, "src", "Headstart")).Keys.Where(k => !named.Contains(k)).ToList();
        Assert.True(unmapped.Count == 0, $"ARCHITECTURE.md does not mention: {string.Join(", ", unmapped)}");
    }

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceRegex();

    [GeneratedRegex(@"\bHeadstart\.([A-Z]\w*)")]
    private static partial Regex ReferenceRegex();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex CommentRegex();

    /// <summary>A namespace as the page writes one: in backticks, `Headstart.Training`.</summary>
    [GeneratedRegex(@"`(Headstart(?:\.[A-Z]\w*)*)`")]
    private static partial Regex NamedNamespaceRegex();
}
