using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Models;
using Spectre.Console;

namespace Headstart.Cli.Models;

/// <summary>headstart models: the registry, with parameter counts, input size and local weight availability.</summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var cmd = new Command("models", "List the model zoo: parameters, input size, pretrained weights on this machine");
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            var rows = ModelRegistry.All.Select(spec =>
            {
                using var model = spec.Create();
                long parameters = model.parameters().Sum(p => p.numel());
                return new
                {
                    name = spec.Name,
                    family = spec.Family,
                    parameters,
                    input_size = spec.Preprocessing.InputSize,
                    description = spec.Description,
                };
            }).ToList();
            var table = new Table().AddColumns("model", "family", "params", "input", "description");
            foreach (var r in rows)
                table.AddRow(r.name, r.family, $"{r.parameters / 1e6:F1}M", r.input_size.ToString(), Markup.Escape(r.description));
            output.Console.Write(table);
            return (Shell.Ok, new { models = rows });
        }));
        return cmd;
    }
}
