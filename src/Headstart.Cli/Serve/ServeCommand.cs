using System.CommandLine;
using Headstart.Cli.Common;
using Headstart.Data;
using Headstart.Studio;
using Headstart.Studio.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Spectre.Console;

namespace Headstart.Cli.Serve;

/// <summary>headstart serve: Headstart Studio, the local web app over the same verbs (data, train, results, try it).</summary>
public static class ServeCommand
{
    private static readonly Option<int> Port = Opt.Of("--port", "TCP port", 5117);
    private static readonly Option<string> Host = Opt.Of("--host", "Address to listen on; anything but loopback (127.0.0.1, ::1) requires the access token printed at start", "127.0.0.1");
    private static readonly Option<string?> DataRoot = Opt.Maybe<string>("--data-root", "The folder whose dataset subfolders the app may read and upload into (default: the current folder)");
    private static readonly Option<string?> Out = Opt.Maybe<string>("--out", "Where jobs, bundles and exports go (default: ./headstart-studio; never under the data root)");

    public static Command Create()
    {
        var cmd = new Command("serve", "Headstart Studio: a local web app to pick a dataset, train, read the report and try the model") { Port, Host, DataRoot, Out };
        cmd.SetAction(parse => Shell.Run(parse, output =>
        {
            string data = Path.GetFullPath(parse.GetValue(DataRoot) ?? ".");
            if (!Directory.Exists(data)) throw new CliException($"--data-root '{data}' does not exist", Shell.UsageError);
            string outDir = Path.GetFullPath(parse.GetValue(Out) ?? "headstart-studio");
            if (SafePaths.Inside(data, outDir) && outDir != data || outDir == data)
                throw new CliException($"--out {outDir} is inside the data root {data}: pass --out with a path outside it", Shell.UsageError);
            int port = parse.GetValue(Port);
            if (port is < 1 or > 65535) throw new CliException($"--port must be 1 to 65535, got {port}", Shell.UsageError);
            string host = parse.GetValue(Host)!;
            string? token = StudioOptions.IsLoopback(host) ? null : AccessGuard.NewToken();
            var options = new StudioOptions { DataRoot = data, OutputRoot = outDir, Host = host, Port = port, Token = token };
            using var app = StudioApp.Build(options);
            string shown = host is "0.0.0.0" or "::" ? Environment.MachineName : host.Contains(':') ? $"[{host}]" : host;
            string url = $"http://{shown}:{port}/" + (token is null ? "" : $"?token={token}");
            app.Start();
            output.Unwrapped($"Headstart Studio on {url}");
            output.Line($"[grey]data root {Markup.Escape(data)}; jobs and bundles in {Markup.Escape(outDir)}; Ctrl+C stops[/]");
            if (token is not null) output.Warn($"listening on {host}: every request needs the token in the URL above (it sets a cookie); share it only with people who may use this machine's data");
            app.WaitForShutdown();
            return (Shell.Ok, new { url, data_root = data, output = outDir, token_required = token is not null, stopped = true });
        }));
        return cmd;
    }
}
