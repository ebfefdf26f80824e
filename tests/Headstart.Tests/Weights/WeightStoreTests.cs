using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Headstart.Models;
using Headstart.Tests.TestSupport;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Weights;

/// <summary>Downloads against a loopback HTTP server started by the test; nothing leaves the machine.</summary>
public sealed class WeightStoreTests : IDisposable
{
    private readonly TempDir dir = new("headstart-store");
    private readonly LoopbackServer server;
    private readonly byte[] payload = RandomNumberGenerator.GetBytes(300_000);

    public WeightStoreTests()
    {
        server = new LoopbackServer(payload);
    }

    public void Dispose()
    {
        server.Dispose();
        dir.Dispose();
    }

    private string Prefix(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data))[..8];

    private WeightSource Source(string route, string? prefix = null)
    {
        prefix ??= Prefix(payload);
        return new WeightSource("TEST", WeightFormat.PthZip, $"{route}-{prefix}.pth", $"{server.BaseUrl}{route}", prefix);
    }

    [Fact]
    public async Task DownloadsVerifiesAndNeverFetchesAgain()
    {
        var store = new WeightStore(dir.Combine("cache"));
        var source = Source("good");
        var reports = new List<DownloadProgress>();
        var path = await store.DownloadAsync(source, new SyncProgress(reports.Add));
        Assert.Equal(payload, await File.ReadAllBytesAsync(path));
        Assert.Equal(payload.Length, reports[^1].Bytes);
        Assert.True(store.IsPresent(source));
        Assert.Equal(path, store.Resolve(new ModelSpec
        {
            Name = "m", Family = "f", Description = "d", Factory = _ => throw new NotSupportedException(),
            ClassifierPrefix = "fc", HeadPrefix = "fc", LayerGroups = [], WeightSources = [source],
        }));

        int requests = server.Requests;
        Assert.Equal(path, await store.DownloadAsync(source)); // offline-first: no request
        Assert.Equal(requests, server.Requests);
    }

    [Fact]
    public async Task InterruptedDownloadResumesWithARangeRequest()
    {
        var store = new WeightStore(dir.Combine("cache"));
        var source = Source("flaky"); // the first response stops after half the bytes
        var ex = await Assert.ThrowsAsync<HeadstartException>(() => store.DownloadAsync(source));
        Assert.Contains("resume", ex.Message);
        var part = store.PathFor(source) + ".part";
        Assert.True(File.Exists(part));
        long kept = new FileInfo(part).Length;
        Assert.InRange(kept, 1, payload.Length - 1);
        Assert.False(store.IsPresent(source));

        var path = await store.DownloadAsync(source);
        Assert.Equal(payload, await File.ReadAllBytesAsync(path));
        Assert.Equal($"bytes={kept}-", server.LastRange);
        Assert.False(File.Exists(part));
    }

    [Fact]
    public async Task CorruptedDownloadIsRefusedAndNotKept()
    {
        var store = new WeightStore(dir.Combine("cache"));
        var source = Source("corrupt"); // serves the payload with one byte flipped
        var ex = await Assert.ThrowsAsync<HeadstartException>(() => store.DownloadAsync(source));
        Assert.Contains("checksum mismatch", ex.Message);
        Assert.False(File.Exists(store.PathFor(source)));
        Assert.False(File.Exists(store.PathFor(source) + ".part"));
        Assert.False(store.IsPresent(source));
        Assert.Null(store.Resolve(new ModelSpec
        {
            Name = "m", Family = "f", Description = "d", Factory = _ => throw new NotSupportedException(),
            ClassifierPrefix = "fc", HeadPrefix = "fc", LayerGroups = [], WeightSources = [source],
        }));
    }

    [Fact]
    public void TamperedCacheFileDoesNotCountAsPresent()
    {
        var store = new WeightStore(dir.Combine("cache"));
        var source = Source("good");
        Directory.CreateDirectory(store.Root);
        File.WriteAllBytes(store.PathFor(source), [1, 2, 3]);
        Assert.False(store.IsPresent(source));
    }

    [Fact]
    public void DefaultRootFollowsXdgCacheHome()
    {
        var old = (Environment.GetEnvironmentVariable("XDG_CACHE_HOME"), Environment.GetEnvironmentVariable("HEADSTART_CACHE"));
        try
        {
            Environment.SetEnvironmentVariable("HEADSTART_CACHE", null);
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", "/tmp/xdg-test");
            Assert.Equal("/tmp/xdg-test/headstart", WeightStore.DefaultRoot);
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", null);
            Assert.EndsWith(Path.Combine(".cache", "headstart"), WeightStore.DefaultRoot);
        }
        finally
        {
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", old.Item1);
            Environment.SetEnvironmentVariable("HEADSTART_CACHE", old.Item2);
        }
    }

    private sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }

    /// <summary>
    /// HttpListener on 127.0.0.1: /good (Range-aware), /flaky (first response cut in half, then Range-aware),
    /// /corrupt (one byte flipped). The accept loop stops after 50 requests or on dispose.
    /// </summary>
    private sealed class LoopbackServer : IDisposable
    {
        private const int MaxRequests = 50;
        private readonly HttpListener listener = new();
        private readonly byte[] payload;
        private readonly Task loop;
        private int flakyServed;

        public LoopbackServer(byte[] payload)
        {
            this.payload = payload;
            int port = FreePort();
            BaseUrl = $"http://127.0.0.1:{port}/";
            listener.Prefixes.Add(BaseUrl);
            listener.Start();
            loop = Task.Run(Serve);
        }

        public string BaseUrl { get; }
        public int Requests;
        public string? LastRange { get; private set; }

        private static int FreePort()
        {
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            return ((IPEndPoint)l.LocalEndpoint).Port;
        }

        private async Task Serve()
        {
            while (listener.IsListening && Requests < MaxRequests)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                Interlocked.Increment(ref Requests);
                try
                {
                    await Handle(ctx);
                }
                catch (Exception ex) when (ex is HttpListenerException or IOException) { } // client went away
            }
        }

        private async Task Handle(HttpListenerContext ctx)
        {
            var route = ctx.Request.Url!.AbsolutePath.Trim('/');
            var body = route == "corrupt" ? Corrupt() : payload;
            LastRange = ctx.Request.Headers["Range"];
            var response = ctx.Response;
            if (route == "flaky" && Interlocked.Increment(ref flakyServed) == 1)
            {
                response.ContentLength64 = body.Length;
                await response.OutputStream.WriteAsync(body.AsMemory(0, body.Length / 2));
                await response.OutputStream.FlushAsync();
                response.Abort(); // connection dropped mid-transfer
                return;
            }
            long from = 0;
            if (LastRange is { } range && range.StartsWith("bytes=") && range.EndsWith('-')
                && long.TryParse(range[6..^1], out from) && from < body.Length)
            {
                response.StatusCode = 206;
                response.Headers["Content-Range"] = $"bytes {from}-{body.Length - 1}/{body.Length}";
            }
            else from = 0;
            response.ContentLength64 = body.Length - from;
            await response.OutputStream.WriteAsync(body.AsMemory((int)from));
            response.Close();
        }

        private byte[] Corrupt()
        {
            var copy = (byte[])payload.Clone();
            copy[copy.Length / 3] ^= 0xff;
            return copy;
        }

        public void Dispose()
        {
            listener.Stop();
            listener.Close();
            loop.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
