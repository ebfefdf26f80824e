namespace Headstart.Bench.Shared;

/// <summary>The data sets TtaBench and ViewsBench share (compiled into both): flowers-small from ../shared, and its
/// 2-class daisy/dandelion subset (the closest to the ants/bees case) as links in a work folder.</summary>
public static class BenchSets
{
    /// <summary>../shared/datasets/flowers-small, seen from the repository root (the benches' working directory).</summary>
    public static string FlowersSmall => Path.GetFullPath(Path.Combine(Directory.GetCurrentDirectory(), "..", "shared", "datasets", "flowers-small"));

    /// <summary>Links two of flowers-small's class folders (train and val) under <paramref name="work"/>; returns the root.</summary>
    public static string TwoFlowers(string work)
    {
        string two = Path.Combine(work, "flowers-2");
        foreach (var split in new[] { "train", "val" })
        {
            Directory.CreateDirectory(Path.Combine(two, split));
            foreach (var cls in new[] { "daisy", "dandelion" })
                Directory.CreateSymbolicLink(Path.Combine(two, split, cls), Path.Combine(FlowersSmall, split, cls));
        }
        return two;
    }
}
