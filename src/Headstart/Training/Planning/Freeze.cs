using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Headstart.Models;

namespace Headstart.Training;

/// <summary>The three things --freeze can ask for.</summary>
public enum FreezeKind
{
    /// <summary>Every layer group but the classifier section: the backbone is a fixed feature extractor.</summary>
    Features,
    /// <summary>No layer group.</summary>
    None,
    /// <summary>The first <see cref="Freeze.Count"/> layer groups (stem first).</summary>
    Groups,
}

/// <summary>
/// Which leading layer groups stay frozen, as the user asked for it. What it means for a run depends on the strategy,
/// and only <see cref="TrainingPlanner"/> decides that; <see cref="GroupsFor"/> turns it into a group count for a model.
/// Written to JSON as "features", "none" or the number, so manifests and checkpoints stay readable.
/// </summary>
[JsonConverter(typeof(FreezeJsonConverter))]
public readonly record struct Freeze
{
    private Freeze(FreezeKind kind, int count) => (Kind, Count) = (kind, count);

    public FreezeKind Kind { get; }
    /// <summary>The group count of <see cref="FreezeKind.Groups"/>; 0 otherwise.</summary>
    public int Count { get; }

    public static Freeze Features { get; } = new(FreezeKind.Features, 0);
    public static Freeze None { get; } = new(FreezeKind.None, 0);

    public static Freeze Groups(int count) => count >= 0
        ? new(FreezeKind.Groups, count)
        : throw new TrainingPlanException($"--freeze takes a number of layer groups of 0 or more, got {count}");

    /// <summary>Parses --freeze: "features", "none" or a number of layer groups.</summary>
    public static Freeze Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "features" => Features,
        "none" => None,
        var s when int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) => Groups(n),
        _ => throw new TrainingPlanException($"--freeze must be 'features', 'none' or a number of layer groups; got '{text}'"),
    };

    /// <summary>The number of leading layer groups this freezes in <paramref name="spec"/> (groups: stem, stages...,
    /// classifier section).</summary>
    public int GroupsFor(ModelSpec spec)
    {
        int last = spec.LayerGroups.Count - 1;
        return Kind switch
        {
            FreezeKind.Features => last,
            FreezeKind.None => 0,
            _ when Count <= last => Count,
            _ => throw new TrainingPlanException(
                $"--freeze {Count} is more layer groups than {spec.Name} has before its classifier section ({last}: " +
                $"{string.Join(", ", spec.LayerGroups.Take(last).Select(g => g.Name))}); use 0..{last}, 'features' or 'none'"),
        };
    }

    public override string ToString() => Kind switch
    {
        FreezeKind.Features => "features",
        FreezeKind.None => "none",
        _ => Count.ToString(CultureInfo.InvariantCulture),
    };
}

/// <summary>Reads "features", "none", "3" or 3; writes the string form.</summary>
public sealed class FreezeJsonConverter : JsonConverter<Freeze>
{
    public override Freeze Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.String => Freeze.Parse(reader.GetString()!),
        JsonTokenType.Number => Freeze.Groups(reader.GetInt32()),
        _ => throw new JsonException($"a freeze is a string or a number, not {reader.TokenType}"),
    };

    public override void Write(Utf8JsonWriter writer, Freeze value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}
