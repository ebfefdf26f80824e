using Xunit;

namespace Headstart.Tests.TestSupport;

/// <summary>
/// Tests that seed torch's global RNG (manual_seed) and rely on what it draws next. They run alone, because any test
/// running alongside would draw from the same global generator in between.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRngCollection
{
    public const string Name = "global torch RNG";
}

/// <summary>End-to-end CLI runs: heavy child processes, one at a time so timings and memory stay sane on 2 cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CliCollection
{
    public const string Name = "cli";
}
