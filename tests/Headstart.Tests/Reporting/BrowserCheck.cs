using Microsoft.Playwright;
using Xunit;

namespace Headstart.Tests.Reporting;

/// <summary>What a real browser saw when it opened a report.</summary>
public sealed record BrowserResult(
    IReadOnlyList<string> ConsoleErrors,
    IReadOnlyList<string> Requests,
    IReadOnlyList<int> ImageNaturalWidths,
    int ConfusionCells,
    int CurvePaths,
    IReadOnlyList<string> Ids);

/// <summary>
/// Opens an HTML file in the system's headless Chromium through Playwright (never a downloaded browser), with a fresh
/// profile and every background-network feature off, and reports console errors, network requests and decoded images.
/// </summary>
public static class BrowserCheck
{
    public static string ChromiumPath => Environment.GetEnvironmentVariable("HEADSTART_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    public static bool Available => File.Exists(ChromiumPath);

    public const string SkipReason = "needs Chromium at /usr/bin/chromium (apt-get install chromium, or ./setup.sh with HEADSTART_SETUP_TESTS=1)";

    public static async Task<BrowserResult> OpenAsync(string htmlPath, string? screenshot = null)
    {
        string profile = Path.Combine(Path.GetTempPath(), $"headstart-chromium-{Guid.NewGuid():N}");
        using var playwright = await Playwright.CreateAsync();
        await using var context = await playwright.Chromium.LaunchPersistentContextAsync(profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
        });
        try
        {
            var page = context.Pages.Count > 0 ? context.Pages[0] : await context.NewPageAsync();
            var errors = new List<string>();
            var requests = new List<string>();
            page.Console += (_, m) => { if (m.Type == "error") lock (errors) errors.Add(m.Text); };
            page.PageError += (_, e) => { lock (errors) errors.Add(e); };
            page.Request += (_, r) => { lock (requests) requests.Add(r.Url); };
            string url = new Uri(Path.GetFullPath(htmlPath)).AbsoluteUri;
            await page.GotoAsync(url, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
            // Every image must have finished decoding; naturalWidth is 0 for a broken one.
            await page.WaitForFunctionAsync("Array.from(document.images).every(i => i.complete)");
            var widths = await page.EvaluateAsync<int[]>("Array.from(document.images).map(i => i.naturalWidth)");
            int cells = await page.EvaluateAsync<int>("document.querySelectorAll('#confusion-matrix rect.cell').length");
            int curves = await page.EvaluateAsync<int>("document.querySelectorAll('svg.chart path.series').length");
            var ids = await page.EvaluateAsync<string[]>("Array.from(document.querySelectorAll('[id]')).map(e => e.id)");
            if (screenshot is not null) await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
            lock (errors) lock (requests)
                return new BrowserResult(errors.ToList(), requests.Where(u => u != url).ToList(), widths, cells, curves, ids);
        }
        finally
        {
            await context.CloseAsync();
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The checks every report must pass in a browser.</summary>
    public static void AssertClean(BrowserResult r, int expectedImages, int classes)
    {
        Assert.True(r.ConsoleErrors.Count == 0, "console errors: " + string.Join(" | ", r.ConsoleErrors));
        Assert.True(r.Requests.All(u => u.StartsWith("data:", StringComparison.Ordinal)), "network requests: " + string.Join(", ", r.Requests));
        Assert.Equal(expectedImages, r.ImageNaturalWidths.Count);
        Assert.All(r.ImageNaturalWidths, w => Assert.True(w > 0, "an <img> failed to decode (naturalWidth 0)"));
        Assert.Equal(classes * classes, r.ConfusionCells);
        Assert.Contains("loss-curve", r.Ids);
        Assert.Contains("accuracy-curve", r.Ids);
        Assert.True(r.CurvePaths >= 4, $"expected train and val lines in both curve charts, found {r.CurvePaths} paths");
    }
}

/// <summary>A fact that needs the system Chromium; skipped with the reason when it is absent.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (!BrowserCheck.Available) Skip = BrowserCheck.SkipReason;
    }
}
