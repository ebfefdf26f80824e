using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Headstart.Tests.TestSupport;
using Xunit;

namespace Headstart.Tests.Cli;

/// <summary>'headstart serve' as a user starts it: it answers on loopback without a token, prints a token URL for any
/// other address and then requires it, and refuses an output folder inside the data root.</summary>
[Collection(CliCollection.Name)]
public sealed class ServeCommandTests : IDisposable
{
    private readonly TempDir tmp = new("serve");

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private async Task<(Process Process, string Url)> Start(params string[] extra)
    {
        string data = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(Path.Combine(data, "shapes"), classes: 2, trainPerClass: 3, valPerClass: 1);
        int port = FreePort();
        var psi = CliRunner.StartInfo(["serve", "--data-root", data, "--out", tmp.Combine("out"), "--port", $"{port}", .. extra]);
        var p = Process.Start(psi)!;
        var lines = new List<string>();
        var url = new TaskCompletionSource<string>();
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (lines) lines.Add(e.Data);
            int at = e.Data.IndexOf("http://", StringComparison.Ordinal);
            if (at >= 0) url.TrySetResult(e.Data[at..].Trim());
        };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        p.Exited += (_, _) => url.TrySetException(new InvalidOperationException($"serve exited ({p.ExitCode}): {string.Join('\n', lines)}"));
        p.EnableRaisingEvents = true;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var first = await Task.WhenAny(url.Task, Task.Delay(60_000));
        Assert.True(first == url.Task, $"serve printed no URL in 60 s: {string.Join('\n', lines)}");
        return (p, await url.Task);
    }

    [Fact]
    public async Task ServesOnLoopbackAndNeedsItsTokenElsewhere()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var (local, url) = await Start();
        try
        {
            Assert.DoesNotContain("token=", url);
            var health = await http.GetAsync(new Uri(new Uri(url), "/api/health"));
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            var datasets = await http.GetStringAsync(new Uri(new Uri(url), "/api/datasets"));
            Assert.Contains("\"shapes\"", datasets);
        }
        finally { local.Kill(entireProcessTree: true); await local.WaitForExitAsync(); }

        var (open, tokenUrl) = await Start("--host", "0.0.0.0");
        try
        {
            var uri = new Uri(tokenUrl);
            Assert.Contains("token=", uri.Query);
            var root = new Uri($"http://127.0.0.1:{uri.Port}/");
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri(root, "/api/health"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(root, "/api/health" + uri.Query))).StatusCode);
        }
        finally { open.Kill(entireProcessTree: true); await open.WaitForExitAsync(); }
    }

    [Fact]
    public void OutputInsideTheDataRootIsRefused()
    {
        Directory.CreateDirectory(tmp.Combine("data"));
        var r = CliRunner.Run(["serve", "--data-root", tmp.Combine("data"), "--out", tmp.Combine("data", "out"), "--json"], null, 60);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("inside the data root", r.Json.GetProperty("error").GetString());
    }

    public void Dispose() => tmp.Dispose();
}
