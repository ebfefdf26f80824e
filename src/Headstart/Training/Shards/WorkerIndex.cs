namespace Headstart.Training;

/// <summary>Which shard a worker extracts, and where that came from (the flag, or the cluster engine's variable).</summary>
public sealed record ShardAssignment(int Index, int Count, string From);

/// <summary>
/// A worker's shard index: <c>--shard I/N</c>, else the engine's array index (Kubernetes Indexed Jobs set
/// <c>JOB_COMPLETION_INDEX</c>, Slurm job arrays <c>SLURM_ARRAY_TASK_ID</c>) minus <c>--index-base</c>, with the count
/// from <c>--shards</c> or Slurm's <c>SLURM_ARRAY_TASK_COUNT</c>; else shard 0 of 1 (one machine does it all).
/// </summary>
public static class WorkerIndex
{
    public const string KubernetesIndex = "JOB_COMPLETION_INDEX", SlurmIndex = "SLURM_ARRAY_TASK_ID", SlurmCount = "SLURM_ARRAY_TASK_COUNT";

    public static ShardAssignment Resolve(string? shardFlag, int? shards, int indexBase, Func<string, string?> env)
    {
        if (shards is < 1) throw new HeadstartException($"--shards must be 1 or more, got {shards}");
        if (shardFlag is not null)
        {
            var parts = shardFlag.Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out int n) || n < 1 || i < 0 || i >= n)
                throw new HeadstartException($"--shard takes I/N with 0 <= I < N (e.g. 0/4), got '{shardFlag}'");
            if (shards is int s && s != n) throw new HeadstartException($"--shard {shardFlag} says {n} shards and --shards says {s}");
            return new ShardAssignment(i, n, "--shard");
        }
        foreach (var name in new[] { KubernetesIndex, SlurmIndex })
        {
            if (env(name) is not { Length: > 0 } raw) continue;
            if (!int.TryParse(raw, out int index)) throw new HeadstartException($"{name}='{raw}' is not an index");
            int count = shards ?? (name == SlurmIndex && int.TryParse(env(SlurmCount), out int c) ? c
                : throw new HeadstartException($"{name} gives this worker's index ({raw}) but not the shard count: pass --shards N"));
            int shard = index - indexBase;
            if (shard < 0 || shard >= count)
                throw new HeadstartException($"{name}={raw} minus --index-base {indexBase} is {shard}, outside 0..{count - 1}" +
                                             (indexBase == 0 && shard == count ? " (a 1-based array? pass --index-base 1)" : ""));
            return new ShardAssignment(shard, count, $"{name}={raw}");
        }
        if (shards is int only && only != 1)
            throw new HeadstartException($"--shards {only} without an index: pass --shard I/{only}, or run under a job array ({KubernetesIndex} or {SlurmIndex})");
        return new ShardAssignment(0, 1, "single worker");
    }
}
