namespace Headstart.Models;

/// <summary>Weight sources on download.pytorch.org, as torchvision 0.14.1 names them.</summary>
internal static class TorchvisionHub
{
    public const string BaseUrl = "https://download.pytorch.org/models/";

    /// <summary>
    /// A torchvision weight file. torch.hub names files "name-HASH.pth", HASH being the leading hex digits of the file's
    /// SHA-256 (8 for recent files, 10 for older ones such as "mnasnet0.5_top1_67.823-3ffadce67e.pth").
    /// </summary>
    public static WeightSource Source(string id, string file, WeightFormat format) =>
        new(id, format, file, BaseUrl + file, HashPrefix(file));

    internal static string HashPrefix(string file)
    {
        var stem = Path.GetFileNameWithoutExtension(file);
        return stem[(stem.LastIndexOf('-') + 1)..];
    }

    /// <summary>Stem, stages and head as <see cref="LayerGroup"/>s; the head (last) group is the classifier section.</summary>
    public static LayerGroup[] Groups(string[] stem, IEnumerable<(string Name, string[] Prefixes)> stages, string head) =>
        [new("stem", stem), .. stages.Select(s => new LayerGroup(s.Name, s.Prefixes)), new("head", [head])];
}
