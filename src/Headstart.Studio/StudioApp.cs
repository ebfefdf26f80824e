using System.Reflection;
using System.Text.Json;
using Headstart.Studio.Api;
using Headstart.Studio.Jobs;
using Headstart.Studio.Security;
using Headstart.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Headstart.Studio;

/// <summary>
/// Headstart Studio's composition: services, the request pipeline (errors as JSON, the access guard, the pages and
/// the API) and a Kestrel server on the chosen address. Tests host the same pipeline in memory.
/// </summary>
public static class StudioApp
{
    public static void ConfigureServices(IServiceCollection services, StudioOptions options)
    {
        Directory.CreateDirectory(options.OutputRoot);
        services.AddSingleton(options);
        services.AddSingleton<DatasetCatalog>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<JobQueue>();
        services.AddHostedService(sp => sp.GetRequiredService<JobQueue>());
        services.AddSingleton<ClassifierCache>();
        services.AddRouting();
        // A body or parameter that does not bind throws, so the error handler answers with the reason, as JSON.
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(r => r.ThrowOnBadRequest = true);
        services.Configure<FormOptions>(f =>
        {
            f.MultipartBodyLengthLimit = options.MaxUploadBytes;
            f.ValueCountLimit = 64;
        });
        services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.PropertyNamingPolicy = StudioJson.Options.PropertyNamingPolicy;
            j.SerializerOptions.DefaultIgnoreCondition = StudioJson.Options.DefaultIgnoreCondition;
            foreach (var c in StudioJson.Options.Converters) j.SerializerOptions.Converters.Add(c);
        });
    }

    public static void ConfigurePipeline(IApplicationBuilder app)
    {
        app.UseMiddleware<ErrorResponses>();
        app.UseStatusCodePages(async ctx =>
        {
            if (ctx.HttpContext.Response.HasStarted || ctx.HttpContext.Response.ContentLength > 0) return;
            await AccessGuard.Refuse(ctx.HttpContext, ctx.HttpContext.Response.StatusCode, ctx.HttpContext.Response.StatusCode switch
            {
                404 => $"not found: {ctx.HttpContext.Request.Path}",
                405 => $"{ctx.HttpContext.Request.Method} is not allowed on {ctx.HttpContext.Request.Path}",
                413 => "the request is too large",
                _ => "the request was refused",
            });
        });
        app.UseMiddleware<AccessGuard>();
        app.UseRouting();
        app.UseEndpoints(e =>
        {
            StaticPages.Map(e);
            DatasetEndpoints.Map(e);
            JobEndpoints.Map(e);
            e.MapGet("/api/health", () => Results.Json(new { ok = true, version = HeadstartInfo.Version }));
        });
    }

    /// <summary>Builds the server on Kestrel at the options' address.</summary>
    public static WebApplication Build(StudioOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        Directory.CreateDirectory(options.OutputRoot);   // the content root must exist before the builder starts
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Headstart.Studio", ContentRootPath = options.OutputRoot });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxUploadBytes + (1 << 20);
            k.AddServerHeader = false;
        });
        builder.WebHost.UseUrls($"http://{(options.Host.Contains(':') && !options.Host.StartsWith('[') ? $"[{options.Host}]" : options.Host)}:{options.Port}");
        ConfigureServices(builder.Services, options);
        configure?.Invoke(builder);
        var app = builder.Build();
        ConfigurePipeline(app);
        return app;
    }
}

/// <summary>The pages, served from the assembly's embedded wwwroot/.</summary>
public static class StaticPages
{
    private static readonly Assembly Self = typeof(StaticPages).Assembly;

    public static void Map(IEndpointRouteBuilder e)
    {
        e.MapGet("/", () => Serve("index.html"));
        e.MapGet("/static/{file}", (string file) => Serve(file));
    }

    private static IResult Serve(string file)
    {
        var stream = Self.GetManifestResourceStream("wwwroot/" + SafePaths.Name(file, "file"));
        if (stream is null) return Results.Json(new { error = $"no page '{file}'" }, statusCode: 404);
        string type = Path.GetExtension(file) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            ".svg" => "image/svg+xml",
            ".png" => "image/png",
            _ => "application/octet-stream",
        };
        return Results.Stream(stream, type);
    }
}
