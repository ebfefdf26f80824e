using Headstart.Data;
using Headstart.Models;
using Headstart.Reporting;
using Headstart.Studio.Security;
using Headstart.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Headstart.Studio.Api;

/// <summary>The Data page's API: datasets under the data root, their check report, thumbnails, zip uploads; the models.</summary>
public static class DatasetEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/api/datasets", (DatasetCatalog catalog) => Results.Json(catalog.List(), Jobs.StudioJson.Options));

        api.MapGet("/api/datasets/{name}", (string name, DatasetCatalog catalog) =>
            catalog.Describe(catalog.Resolve(name)) is { } info ? Results.Json(info, Jobs.StudioJson.Options)
                : Results.Json(new { error = $"'{name}' has no class folders" }, statusCode: 404));

        api.MapGet("/api/datasets/{name}/check", (string name, DatasetCatalog catalog) =>
        {
            var report = DatasetChecker.Check(catalog.Resolve(name), new DatasetCheckOptions { DecodeImages = false, MemoCacheRoot = FeatureCache.Root(null) });
            return Results.Json(report, Jobs.StudioJson.Options);
        });

        api.MapGet("/api/datasets/{name}/images", (string name, string @class, int? max, DatasetCatalog catalog) =>
            Results.Json(catalog.Images(name, @class, max ?? 48), Jobs.StudioJson.Options));

        api.MapGet("/api/datasets/{name}/thumbnail", (string name, string path, DatasetCatalog catalog) =>
        {
            string file = SafePaths.Resolve(catalog.Resolve(name), path);
            if (!File.Exists(file) || !ImageDecoder.HasImageExtension(file)) return Results.Json(new { error = "no such image" }, statusCode: 404);
            try
            {
                var image = ImageDecoder.Decode(file, DecodeOptions.Default, minShortSide: 160);
                return Results.Bytes(Thumbnails.Jpeg(image, 160), "image/jpeg");
            }
            catch (ImageDecodeException ex)
            {
                return Results.Json(new { error = $"cannot decode: {ex.Reason}" }, statusCode: 422);
            }
        });

        api.MapPost("/api/datasets", async (HttpRequest request, DatasetCatalog catalog, StudioOptions options) =>
        {
            if (!request.HasFormContentType) return Results.Json(new { error = "upload a zip as multipart/form-data (field 'file', optional 'name')" }, statusCode: 400);
            var form = await request.ReadFormAsync();
            var file = form.Files.GetFile("file");
            if (file is null) return Results.Json(new { error = "no file in the upload (field 'file')" }, statusCode: 400);
            if (file.Length > options.MaxUploadBytes)
                return Results.Json(new { error = $"the upload is {file.Length:N0} bytes; at most {options.MaxUploadBytes:N0} are accepted" }, statusCode: 413);
            string name = SafePaths.Name(string.IsNullOrEmpty(form["name"]) ? Path.GetFileNameWithoutExtension(file.FileName) : form["name"].ToString(), "dataset");
            string target = SafePaths.Resolve(options.DataRoot, name);
            await using var stream = file.OpenReadStream();
            // Seekable copy: ZipArchive reads the central directory at the end.
            await using var buffer = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
            await stream.CopyToAsync(buffer);
            buffer.Position = 0;
            int files = ZipImport.Unpack(buffer, target, options);
            var info = catalog.Describe(target);
            return Results.Json(new { name, files, dataset = info }, Jobs.StudioJson.Options, statusCode: 201);
        }).DisableAntiforgery();

        // Relabel and exclude decisions of the cleaner: a sidecar beside the dataset folder that a re-train honours
        // (ImageFolder.Load applies it); the dataset's own files are never moved or deleted.
        api.MapGet("/api/datasets/{name}/decisions", (string name, DatasetCatalog catalog) =>
        {
            var decisions = LabelDecisions.Load(catalog.Resolve(name));
            return Results.Json(new { decisions = decisions?.Decisions ?? [] }, Jobs.StudioJson.Options);
        });

        api.MapPut("/api/datasets/{name}/decisions", (string name, DecisionsBody body, DatasetCatalog catalog) =>
        {
            string root = catalog.Resolve(name);
            var classes = catalog.Describe(root)?.Classes.Select(c => c.Name).ToHashSet(StringComparer.Ordinal) ?? [];
            var decisions = new LabelDecisions(root);
            foreach (var d in body.Decisions ?? [])
            {
                SafePaths.Resolve(root, d.Path);   // inside the dataset, or refused
                if (d.Action == LabelDecisions.Relabel && (d.Label is null || !classes.Contains(d.Label)))
                    throw new HeadstartException($"'{d.Label}' is not a class of {name} ({string.Join(", ", classes.Order(StringComparer.Ordinal))})");
                decisions.Set(d);
            }
            decisions.Save();
            return Results.Json(new { decisions = decisions.Decisions, sidecar = Path.GetFileName(LabelDecisions.SidecarPath(root)) }, Jobs.StudioJson.Options);
        });

        api.MapGet("/api/models", () => Results.Json(new
        {
            @default = ModelRegistry.DefaultModel,
            models = ModelRegistry.All.Select(m => new { name = m.Name, family = m.Family, description = m.Description }),
        }, Jobs.StudioJson.Options));
    }
}

/// <summary>The body of PUT /api/datasets/{name}/decisions: every decision of the dataset (replacing the saved ones).</summary>
public sealed record DecisionsBody(IReadOnlyList<LabelDecision>? Decisions);
