using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Headstart.Studio;
using Headstart.Tests.Reporting;
using Headstart.Tests.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;
using Xunit;

namespace Headstart.Tests.Studio;

/// <summary>
/// A real Headstart Studio server on a free loopback port and the system's headless Chromium (never a downloaded
/// browser) on one page at 1280x800, recording console errors, uncaught exceptions and CSP violations.
/// </summary>
public sealed class BrowserStudio : IAsyncDisposable
{
    private readonly TempDir tmp = new("studio-browser");
    private readonly List<string> errors = [];
    private WebApplication? app;
    private IPlaywright? playwright;
    private IBrowser? browser;

    public string DataRoot => tmp.Combine("data");
    public string OutputRoot => tmp.Combine("out");
    public string Url { get; private set; } = "";
    public IPage Page { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    /// <summary>Where screenshots go: $HEADSTART_SCREENSHOTS, else studio-screenshots beside the test binary.</summary>
    public static string ScreenshotDir =>
        Environment.GetEnvironmentVariable("HEADSTART_SCREENSHOTS") is { Length: > 0 } d ? d : Path.Combine(AppContext.BaseDirectory, "studio-screenshots");

    public string Scratch(string name)
    {
        string dir = tmp.Combine(name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public async Task StartAsync()
    {
        Directory.CreateDirectory(DataRoot);
        int port = FreePort();
        app = StudioApp.Build(new StudioOptions { DataRoot = DataRoot, OutputRoot = OutputRoot, Port = port });
        await app.StartAsync();
        Url = $"http://127.0.0.1:{port}/";
        Http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };

        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = BrowserCheck.ChromiumPath,
            Headless = true,
            // A fake camera (Chromium's moving test pattern) and no permission prompt: the webcam snapshot runs for real.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
        });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
            TimezoneId = "UTC",
            Permissions = ["camera"],
            Locale = "en-GB",
        });
        Page = await context.NewPageAsync();
        Page.SetDefaultTimeout(60_000);
        Page.Console += (_, m) =>
        {
            if (m.Type != "error") return;
            // A refused API call (4xx) is logged by Chromium as a failed resource; the pages show those errors
            // themselves and the tests check that they do. Anything else (a CSP refusal, a script error, a missing
            // /static/ file) is a bug.
            if (m.Text.StartsWith("Failed to load resource", StringComparison.Ordinal) && m.Location.Contains("/api/", StringComparison.Ordinal)) return;
            lock (errors) errors.Add($"{m.Text} ({m.Location})");
        };
        Page.PageError += (_, e) => { lock (errors) errors.Add("uncaught: " + e); };
    }

    public IReadOnlyList<string> Errors
    {
        get { lock (errors) return [.. errors]; }
    }

    public void AssertNoConsoleErrors()
    {
        var e = Errors;
        Assert.True(e.Count == 0, "console errors or CSP violations in the page: " + string.Join(" | ", e));
    }

    public ILocator ById(string testid) => Page.Locator($"[data-testid={testid}]");

    public async Task Tab(string tab)
    {
        await ById($"tab-{tab}").ClickAsync();
        await Page.WaitForFunctionAsync($"() => !document.querySelector('[data-page={tab}]').hidden");
    }

    /// <summary>Waits until the JavaScript expression is truthy.</summary>
    public Task Until(string expression, float timeoutMs = 60_000) =>
        Page.WaitForFunctionAsync($"() => {{ try {{ return {expression}; }} catch {{ return false; }} }}", null,
            new PageWaitForFunctionOptions { Timeout = timeoutMs, PollingInterval = 100 });

    public async Task<string> ScreenshotAsync(string name)
    {
        Directory.CreateDirectory(ScreenshotDir);
        string path = Path.Combine(ScreenshotDir, $"studio-{name}.png");
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = false });
        return path;
    }

    public async Task<JsonElement> GetJson(string path)
    {
        using var response = await Http.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public async Task<JsonElement> Jobs() => await GetJson("/api/jobs");

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        if (browser is not null) await browser.CloseAsync();
        playwright?.Dispose();
        Http?.Dispose();
        if (app is not null)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try { await app.StopAsync(stop.Token); } catch (OperationCanceledException) { }
            await app.DisposeAsync();
        }
        tmp.Dispose();
    }
}
