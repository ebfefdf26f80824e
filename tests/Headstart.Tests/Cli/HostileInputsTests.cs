using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Headstart.Tests.TestSupport;
using Headstart.Tests.Weights;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>
/// Hostile and broken files through the real CLI (a child process): each must end with exit 1 and a message that says
/// what is wrong, with no crash (an unhandled exception exits 134 or 0xE0434352), no hang (a time limit per run) and
/// no unbounded allocation (the child's managed heap is capped at 512 MB; the readers validate sizes before any native
/// tensor is allocated).
/// </summary>
[Collection(CliCollection.Name)]
public sealed class HostileInputsTests(TrainedBundleFixture fx) : IClassFixture<TrainedBundleFixture>
{
    private const int TimeLimitSeconds = 120;

    private CliResult Run(params string[] args)
    {
        var env = new Dictionary<string, string>(fx.Env) { ["DOTNET_GCHeapHardLimit"] = "0x20000000" };
        return CliRunner.Run([.. args, "--json"], env, TimeLimitSeconds);
    }

    private static void AssertCleanFailure(CliResult r, string expected)
    {
        Assert.True(r.ExitCode == 1, $"expected exit 1\n{r}");
        Assert.DoesNotContain("Unhandled exception", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr); // no stack trace
        string error = r.Json.GetProperty("error").GetString()!;
        Assert.True(error.Contains(expected, StringComparison.OrdinalIgnoreCase), $"'{expected}' not in the error: {error}");
        Assert.Contains("error:", r.Stderr); // the human message too (wrapped to the console width, so not compared)
    }

    // ---- hostile weight files: `train --weights FILE` and `weights inspect FILE` ----

    public static TheoryData<string, string, string> WeightCases()
    {
        var data = new TheoryData<string, string, string>();
        (string Case, string Expected)[] cases =
        [
            ("pickle calls os.system", "'os.system', which is not on the allowlist"),
            ("pickle calls builtins.eval", "'builtins.eval', which is not on the allowlist"),
            ("legacy pickle references an unknown global", "'evilmodule.Payload', which is not on the allowlist"),
            ("pickle string of absurd length", "exceeds the limit"),
            ("storage of absurd size", "byte limit"),
            ("zip bomb storage", "zip bomb"),
            ("safetensors header length beyond the file", "runs past the end"),
            ("safetensors overlapping offsets", "overlap"),
            ("truncated onnx (4 KB)", "not a valid ONNX model"),
            ("truncated copy of the embedded ResNet18.onnx", "not a valid ONNX model"),
        ];
        foreach (var (c, e) in cases)
        {
            data.Add(c, e, "train");
            data.Add(c, e, "inspect");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(WeightCases))]
    public void HostileWeightFileFailsCleanly(string kase, string expected, string verb)
    {
        string path = WriteWeights(fx.NewDir("weights"), kase);
        var r = verb == "train"
            ? Run("train", fx.Data, "--weights", path, "--out", Path.Combine(fx.NewDir("out"), "b"), "--epochs", "1", "--cache-dir", "none")
            : Run("weights", "inspect", path);
        AssertCleanFailure(r, expected);
        if (kase.StartsWith("pickle calls", StringComparison.Ordinal) || kase.Contains("unknown global"))
            Assert.Equal("UnsafePickleException", r.Json.GetProperty("error_type").GetString());
    }

    private static string WriteWeights(string dir, string kase)
    {
        string Save(string name, byte[] bytes)
        {
            string p = Path.Combine(dir, name);
            File.WriteAllBytes(p, bytes);
            return p;
        }
        switch (kase)
        {
            case "pickle calls os.system":
                return Save("evil.pth", PthReaderTests.Zip(new PickleBuilder().Proto().Global("os", "system")
                    .Mark().Unicode("touch /tmp/headstart-pwned").Tuple().Reduce().Stop().ToArray()));
            case "pickle calls builtins.eval":
                return Save("evil.pth", PthReaderTests.Zip(new PickleBuilder().Proto().Global("builtins", "eval")
                    .Mark().Unicode("__import__('os').system('id')").Tuple().Reduce().Stop().ToArray()));
            case "legacy pickle references an unknown global":
                return Save("evil.pth", new PickleBuilder().Proto().Global("evilmodule", "Payload").EmptyTuple().Reduce().Stop().ToArray());
            case "pickle string of absurd length":
                return Save("absurd.pth", PthReaderTests.Zip(new PickleBuilder().Proto().Op((byte)'X')
                    .Raw(0xff, 0xff, 0xff, 0x7f).Raw("abc"u8.ToArray()).Stop().ToArray()));
            case "storage of absurd size":
                return Save("absurd.pth", PickleBuilder.ZipPth(1L << 60, [1L << 60], zip =>
                {
                    using var s = zip.CreateEntry("archive/data/0", CompressionLevel.NoCompression).Open();
                    s.Write(new byte[16]);
                }));
            case "zip bomb storage":
                const long numel = 16L << 20; // 64 MB of zeros deflate to ~64 KB: ratio ~1000
                return Save("bomb.pth", PickleBuilder.ZipPth(numel, [numel], zip =>
                {
                    using var s = zip.CreateEntry("archive/data/0", CompressionLevel.Fastest).Open();
                    var zeros = new byte[1 << 20];
                    for (int i = 0; i < 64; i++) s.Write(zeros);
                }));
            case "safetensors header length beyond the file":
                return Save("long.safetensors", Safetensors("{}", 0, ulong.MaxValue / 2));
            case "safetensors overlapping offsets":
                return Save("overlap.safetensors", Safetensors(
                    """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12));
            case "truncated onnx (4 KB)":
                return Save("cut.onnx", Head(EmbeddedResNet18, 4096));
            case "truncated copy of the embedded ResNet18.onnx":
                return Save("ResNet18.onnx", Head(EmbeddedResNet18, (int)(new FileInfo(EmbeddedResNet18).Length / 2)));
            default:
                throw new ArgumentException(kase);
        }
    }

    private static string EmbeddedResNet18 => EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18);

    private static byte[] Head(string path, int count)
    {
        var buffer = new byte[count];
        using var fs = File.OpenRead(path);
        fs.ReadExactly(buffer);
        return buffer;
    }

    private static byte[] Safetensors(string header, int dataBytes, ulong? lengthOverride = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, lengthOverride ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    // ---- broken bundles: `predict` and `evaluate` ----

    public static TheoryData<string, string, string> BundleCases()
    {
        var data = new TheoryData<string, string, string>();
        (string Case, string Expected)[] cases =
        [
            ("model.json names another known arch", "says arch 'resnet50' but model.safetensors holds 'resnet18-cntk' weights"),
            ("model.json names an unknown arch", "unknown arch 'resnet9000'"),
            ("model.json class count disagrees with the weights", "lists 3 classes but the weights' classifier head has 2 outputs"),
            ("model.json is not JSON", "is not a valid bundle manifest"),
            ("model.json is empty", "is not a valid bundle manifest"),
            ("model.json asks for an absurd input size", "invalid preprocessing"),
            ("model.json weights_file escapes the bundle", "plain file name"),
            ("weights file missing", "missing its weights file model.safetensors"),
            ("weights file truncated", "is damaged"),
        ];
        foreach (var (c, e) in cases)
        {
            data.Add(c, e, "predict");
            data.Add(c, e, "evaluate");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(BundleCases))]
    public void BrokenBundleFailsCleanly(string kase, string expected, string verb)
    {
        string bundle = BreakBundle(fx.NewDir("bundle"), kase);
        var r = verb == "predict" ? Run("predict", bundle, fx.Image) : Run("evaluate", bundle, fx.Data);
        AssertCleanFailure(r, expected);
    }

    private string BreakBundle(string dir, string kase)
    {
        string manifestPath = Path.Combine(dir, "model.json"), weights = Path.Combine(dir, "model.safetensors");
        File.Copy(Path.Combine(fx.Bundle, "model.json"), manifestPath);
        string original = Path.Combine(fx.Bundle, "model.safetensors");
        if (kase == "weights file truncated") File.WriteAllBytes(weights, Head(original, (int)(new FileInfo(original).Length / 2)));
        else if (kase != "weights file missing") File.CreateSymbolicLink(weights, original);

        void Edit(Action<JsonObject> edit)
        {
            var m = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
            edit(m);
            File.WriteAllText(manifestPath, m.ToJsonString());
        }
        switch (kase)
        {
            case "model.json names another known arch": Edit(m => m["arch"] = "resnet50"); break;
            case "model.json names an unknown arch": Edit(m => m["arch"] = "resnet9000"); break;
            case "model.json class count disagrees with the weights": Edit(m => m["classes"] = new JsonArray("a", "b", "c")); break;
            case "model.json is not JSON": File.WriteAllText(manifestPath, "arch: resnet18-cntk\nclasses: [a, b]\n"); break;
            case "model.json is empty": File.WriteAllText(manifestPath, ""); break;
            case "model.json asks for an absurd input size": Edit(m => m["preprocessing"]!["input_size"] = 100_000); break;
            case "model.json weights_file escapes the bundle": Edit(m => m["weights_file"] = "../../../etc/passwd"); break;
        }
        return dir;
    }

    // ---- files that must not be opened: a named pipe blocks on open, /dev/zero and /dev/urandom never end ----

    [UnixFact]
    public void PipesAndDevicesAreSkippedNotReadForever()
    {
        string data = fx.NewDir("special");
        foreach (var f in Directory.GetFiles(fx.Data, "*", SearchOption.AllDirectories))
        {
            string to = Path.Combine(data, Path.GetRelativePath(fx.Data, f));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(f, to);
        }
        string train0 = Path.Combine(data, "train", fx.Classes[0]), train1 = Path.Combine(data, "train", fx.Classes[1]);
        string pipe = Path.Combine(train0, "pipe.jpg");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [pipe])) mkfifo.WaitForExit();
        Assert.True(File.Exists(pipe), "mkfifo failed");
        File.CreateSymbolicLink(Path.Combine(train1, "zero.jpg"), "/dev/zero");
        File.CreateSymbolicLink(Path.Combine(train1, "random.png"), "/dev/urandom");

        var check = Run("check", data);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Equal(3, check.Json.GetProperty("issues").EnumerateArray().Count(i => i.GetProperty("message").GetString()!.Contains("not a regular file")));
        var train = Run("train", data, "--out", Path.Combine(fx.NewDir("out"), "b"), "--epochs", "1", "--augment-views", "0", "--cache-dir", "none");
        Assert.True(train.ExitCode == 0, train.ToString());
        Assert.Equal(3, train.Json.GetProperty("skipped").GetInt32());
        var predict = Run("predict", fx.Bundle, train0, train1);
        Assert.True(predict.ExitCode == 1, predict.ToString());
        Assert.Equal(3, predict.Json.GetProperty("errors").GetArrayLength());
        AssertCleanFailure(Run("weights", "inspect", pipe), "not a regular file");
        AssertCleanFailure(Run("train", fx.Data, "--weights", "/dev/zero", "--out", Path.Combine(fx.NewDir("out"), "b")), "not a regular file");
    }

    [Fact]
    public void AFolderGivenAsWeightsSaysSo()
    {
        string dir = fx.NewDir("not-weights");
        AssertCleanFailure(Run("weights", "inspect", dir), "is a folder, not a weight file");
        AssertCleanFailure(Run("train", fx.Data, "--weights", dir, "--out", Path.Combine(fx.NewDir("out"), "b")), "is a folder; pass the weight file itself");
    }

    // ---- model names ----

    [Fact]
    public void UnknownModelNameSuggestsCloseNamesBeforeReadingTheData()
    {
        var r = Run("train", fx.Data, "--model", "resnet5O", "--out", Path.Combine(fx.NewDir("out"), "b"));
        AssertCleanFailure(r, "unknown model 'resnet5O'");
        string error = r.Json.GetProperty("error").GetString()!;
        Assert.Contains("Did you mean", error);
        Assert.Contains("resnet50", error);
        Assert.Contains("headstart models", error);
        Assert.DoesNotContain("dataset check", r.Stderr); // failed before scanning the data

        AssertCleanFailure(Run("train", fx.Data, "--model", "nosuchmodel"), "unknown model 'nosuchmodel'");
        AssertCleanFailure(Run("weights", "list", "nosuchmodel"), "unknown model 'nosuchmodel'");
    }
}

/// <summary>A fact for Unix only (named pipes, /dev/zero).</summary>
public sealed class UnixFactAttribute : FactAttribute
{
    public UnixFactAttribute()
    {
        if (OperatingSystem.IsWindows()) Skip = "needs Unix named pipes and devices";
    }
}
