using System.CommandLine;
using Headstart.Cli.Common;

// Program.cs only wires the verbs; each lives in its own folder.
// A plain Command named "headstart" rather than RootCommand, whose name would be the assembly's (Headstart.Cli).
var root = new Command("headstart", "headstart: transfer learning on images, on TorchSharp")
{
    new System.CommandLine.Help.HelpOption(),
    new VersionOption(),
};
root.Options.Add(Shell.Json);
root.Options.Add(Shell.Verbose);
root.Subcommands.Add(Headstart.Cli.Models.ModelsCommand.Create());
root.Subcommands.Add(Headstart.Cli.Doctor.DoctorCommand.Create());
root.Subcommands.Add(Headstart.Cli.Weights.WeightsCommand.Create());
root.Subcommands.Add(Headstart.Cli.Check.CheckCommand.Create());
root.Subcommands.Add(Headstart.Cli.Train.TrainCommand.Create());
root.Subcommands.Add(Headstart.Cli.LrFind.LrFindCommand.Create());
root.Subcommands.Add(Headstart.Cli.Evaluate.EvaluateCommand.Create());
root.Subcommands.Add(Headstart.Cli.Predict.PredictCommand.Create());
root.Subcommands.Add(Headstart.Cli.Demo.DemoCommand.Create());
root.Subcommands.Add(Headstart.Cli.Report.ReportCommand.Create());
root.Subcommands.Add(Headstart.Cli.Compare.CompareCommand.Create());
root.Subcommands.Add(Headstart.Cli.Export.ExportCommand.Create());
root.Subcommands.Add(Headstart.Cli.Extract.ExtractCommand.Create());
root.Subcommands.Add(Headstart.Cli.Serve.ServeCommand.Create());
root.Subcommands.Add(EngineCheckFirst.Create());
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine("Run 'headstart --help' for usage.");
    // A cluster worker's malformed command line will not parse better on a retry: extract's permanent-failure code.
    return parse.CommandResult.Command.Name == "extract" ? Headstart.Cli.Extract.ExtractCommand.PermanentFailure : Shell.UsageError;
}
ProcessExit.Now(parse.Invoke());
return Shell.Ok; // not reached
