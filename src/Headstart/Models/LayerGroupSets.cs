namespace Headstart.Models;

/// <summary>Helpers that build a registry record's <see cref="LayerGroup"/>s.</summary>
internal static class LayerGroupSets
{
    /// <summary>"stem", then the named stages, then "head" (the classifier section, always last).</summary>
    public static LayerGroup[] StemStagesHead(string[] stem, IEnumerable<(string Name, string[] Prefixes)> stages, string head) =>
        [new("stem", stem), .. stages.Select(s => new LayerGroup(s.Name, s.Prefixes)), new("head", [head])];
}
