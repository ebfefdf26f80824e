using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Models;
using Headstart.Weights;
using Spectre.Console;

namespace Headstart.Cli.Weights;

/// <summary>headstart weights: inspect, convert, list and download pretrained weight files.</summary>
public static class WeightsCommand
{
    private static readonly Option<string?> Cache = new("--cache")
    {
        Description = "Weight cache directory (default $XDG_CACHE_HOME/headstart, i.e. ~/.cache/headstart)",
    };

    public static Command Create()
    {
        var cmd = new Command("weights", "Inspect, convert, list and download pretrained weight files");
        cmd.Subcommands.Add(Inspect());
        cmd.Subcommands.Add(Convert());
        cmd.Subcommands.Add(List());
        cmd.Subcommands.Add(Download());
        return cmd;
    }

    private static Command Inspect()
    {
        var file = new Argument<string>("file") { Description = "A .pth/.pt (zip or legacy), .safetensors or .onnx file" };
        var cmd = new Command("inspect", "Show a weight file's format, tensors, shapes, dtypes and parameter count") { file };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var path = parse.GetValue(file)!;
            var format = WeightFile.Detect(path);
            using var sd = WeightFile.Read(path);
            var tensors = sd.Select(kv => new TensorInfo(kv.Key, kv.Value.shape, DTypes.Name(kv.Value.dtype))).ToList();
            long parameters = sd.Sum(kv => kv.Value.numel());
            long bytes = sd.Sum(kv => kv.Value.numel() * kv.Value.ElementSize);

            var table = new Table().AddColumns("name", "shape", "dtype");
            foreach (var t in tensors) table.AddRow(Markup.Escape(t.Name), $"[[{string.Join(", ", t.Shape)}]]", t.Dtype);
            output.Console.Write(table);
            output.Line($"[bold]{Markup.Escape(Path.GetFileName(path))}[/]: {FormatName(format)}, {tensors.Count} tensors, " +
                        $"{parameters:N0} parameters ({bytes / 1e6:F1} MB)");
            foreach (var (k, v) in sd.Metadata.Where(kv => kv.Key != "source"))
                output.Line($"  {Markup.Escape(k)}: {Markup.Escape(v)}");
            return (Shell.Ok, new
            {
                file = path, format = FormatName(format), tensor_count = tensors.Count, parameters, bytes,
                metadata = sd.Metadata, tensors,
            });
        }));
        return cmd;
    }

    private static Command Convert()
    {
        var input = new Argument<string>("input") { Description = "A .pth/.pt (zip or legacy), .safetensors or .onnx file" };
        var outputPath = new Argument<string>("output") { Description = "Destination .safetensors file" };
        var cmd = new Command("convert", "Convert any supported weight file to safetensors, keeping torchvision key names")
        {
            input, outputPath,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            string from = parse.GetValue(input)!, to = parse.GetValue(outputPath)!;
            if (!to.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
                throw new CliException($"the output must be a .safetensors file, got '{to}'", Shell.UsageError);
            if (Path.GetFullPath(from) == Path.GetFullPath(to))
                throw new CliException("input and output are the same file", Shell.UsageError);
            var format = WeightFile.Detect(from);
            using var sd = WeightFile.Read(from);
            // safetensors' own convention for PyTorch-origin files, plus where the tensors came from.
            var metadata = new Dictionary<string, string>
            {
                ["format"] = "pt",
                ["source"] = Path.GetFileName(from),
                ["source_format"] = FormatName(format),
            };
            Safetensors.Write(to, sd, metadata);
            long bytes = new FileInfo(to).Length;
            output.Line($"wrote [bold]{Markup.Escape(to)}[/]: {sd.Count} tensors from {FormatName(format)}, {bytes / 1e6:F1} MB");
            return (Shell.Ok, new { input = from, output = to, source_format = FormatName(format), tensor_count = sd.Count, bytes });
        }));
        return cmd;
    }

    private static Command List()
    {
        var model = new Argument<string?>("model") { Description = "Only this model", Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("list", "Known weight sources per model, and which are present locally") { model, Cache };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var store = new WeightStore(parse.GetValue(Cache));
            var name = parse.GetValue(model);
            var specs = name is null ? ModelRegistry.All : [ModelRegistry.Get(name)];
            var rows = specs.SelectMany(spec => spec.WeightSources.Select(s => new SourceInfo(
                spec.Name, s.Id, FormatName(s.Format), s.FileName, s.Url, s.Embedded, store.IsPresent(s),
                store.PathFor(s)))).ToList();
            var table = new Table().AddColumns("model", "source", "format", "file", "local");
            foreach (var r in rows)
                table.AddRow(r.Model, r.Source, r.Format, Markup.Escape(r.File),
                    r.Present ? "[green]yes[/]" : r.Embedded ? "[red]missing[/]" : "[grey]no[/]");
            output.Console.Write(table);
            output.Line($"cache: {Markup.Escape(store.Root)}");
            return (Shell.Ok, new { cache = store.Root, sources = rows });
        }));
        return cmd;
    }

    private static Command Download()
    {
        var model = new Argument<string>("model") { Description = "Model name, e.g. resnet18 (see 'headstart weights list')" };
        var source = new Option<string?>("--source") { Description = "Weight source id (default: the model's first)" };
        var cmd = new Command("download", "Download a model's pretrained weights into the cache, verifying the SHA-256")
        {
            model, source, Cache,
        };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var spec = ModelRegistry.Get(parse.GetValue(model)!);
            var id = parse.GetValue(source);
            var chosen = spec.WeightSources.FirstOrDefault(s => id is null || s.Id == id)
                         ?? throw new CliException($"{spec.Name} has no weight source '{id}'; " +
                                                   $"known: {string.Join(", ", spec.WeightSources.Select(s => s.Id))}", Shell.UsageError);
            var store = new WeightStore(parse.GetValue(Cache));
            bool present = store.IsPresent(chosen);
            string path = present ? store.PathFor(chosen) : output.IsJson
                ? store.DownloadAsync(chosen).GetAwaiter().GetResult()
                : output.Console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(),
                        new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask(Markup.Escape(chosen.FileName));
                        var progress = new InlineProgress(p =>
                        {
                            if (p.Total is long t) task.MaxValue = t;
                            task.Value = p.Bytes;
                        });
                        return store.DownloadAsync(chosen, progress).GetAwaiter().GetResult();
                    });
            output.Line(present
                ? $"already present and verified: [bold]{Markup.Escape(path)}[/]"
                : $"downloaded and verified: [bold]{Markup.Escape(path)}[/]");
            return (Shell.Ok, new { model = spec.Name, source = chosen.Id, path, downloaded = !present });
        }));
        return cmd;
    }

    private static string FormatName(WeightFormat format) => format switch
    {
        WeightFormat.PthZip => "pth-zip",
        WeightFormat.PthLegacy => "pth-legacy",
        WeightFormat.Safetensors => "safetensors",
        WeightFormat.Onnx => "onnx",
        _ => format.ToString(),
    };

    private sealed record TensorInfo(string Name, long[] Shape, string Dtype);

    private sealed record SourceInfo(string Model, string Source, string Format, string File, string? Url, bool Embedded,
        bool Present, string Path);

    /// <summary>Reports on the downloading thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class InlineProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
