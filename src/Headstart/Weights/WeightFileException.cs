namespace Headstart.Weights;

/// <summary>
/// A weight file that cannot be read: malformed, truncated, hostile, over a safety bound or in an unsupported variant.
/// The message names the file and says what is wrong. Every reader in this namespace throws only this type (or a
/// subclass) for bad input.
/// </summary>
public class WeightFileException(string message, Exception? inner = null) : HeadstartException(message, inner);

/// <summary>A pickle that references a global outside the state_dict allowlist (e.g. <c>os.system</c>).</summary>
public sealed class UnsafePickleException(string globalName, string message) : WeightFileException(message)
{
    /// <summary>The refused global, as <c>module.name</c>.</summary>
    public string GlobalName { get; } = globalName;
}
