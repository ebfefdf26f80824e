using System.CommandLine;
using Headstart.Cli.Common;

// Program.cs only wires the verbs; each lives in its own folder.
var root = new RootCommand("headstart: transfer learning on images, on TorchSharp");
root.Options.Add(Shell.Json);
root.Subcommands.Add(Headstart.Cli.Models.ModelsCommand.Create());
root.Subcommands.Add(Headstart.Cli.Doctor.DoctorCommand.Create());
root.Subcommands.Add(Headstart.Cli.Weights.WeightsCommand.Create());
root.Subcommands.Add(Headstart.Cli.Check.CheckCommand.Create());
root.Subcommands.Add(Headstart.Cli.Train.TrainCommand.Create());
root.Subcommands.Add(Headstart.Cli.Evaluate.EvaluateCommand.Create());
root.Subcommands.Add(Headstart.Cli.Predict.PredictCommand.Create());
root.Subcommands.Add(Headstart.Cli.Demo.DemoCommand.Create());
root.Subcommands.Add(Headstart.Cli.Export.ExportCommand.Create());
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine("Run 'headstart --help' for usage.");
    return Shell.UsageError;
}
return parse.Invoke();
