using Headstart.Studio;
using Headstart.Tests.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Hosting;

namespace Headstart.Tests.Studio;

/// <summary>
/// The Studio's pipeline in memory (WebApplicationFactory + TestServer), with a data root holding one generated
/// dataset ("shapes": 2 classes, train/ + val/) and an output root of its own.
/// </summary>
public sealed class StudioFactory : WebApplicationFactory<StudioFactory>
{
    private readonly TempDir tmp = new("studio");
    public StudioOptions Options { get; }
    public string DataRoot => Options.DataRoot;

    public StudioFactory() : this(o => o) { }

    public StudioFactory(Func<StudioOptions, StudioOptions> adjust)
    {
        string data = tmp.Combine("data");
        SyntheticImages.WriteImageFolder(Path.Combine(data, "shapes"), classes: 2, trainPerClass: 8, valPerClass: 4);
        Options = adjust(new StudioOptions { DataRoot = data, OutputRoot = tmp.Combine("out") });
        // The factory looks for the app's content root from this setting before it tries to find a solution file.
        Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_HEADSTART_TESTS", tmp.Path);
    }

    public string Combine(params string[] parts) => tmp.Combine(parts);

    protected override IHostBuilder CreateHostBuilder() =>
        Host.CreateDefaultBuilder().ConfigureWebHostDefaults(web => web
            .ConfigureServices(s => StudioApp.ConfigureServices(s, Options))
            .Configure(app => StudioApp.ConfigurePipeline(app)));

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) tmp.Dispose();
    }
}
