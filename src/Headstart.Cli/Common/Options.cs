using System.CommandLine;

namespace Headstart.Cli.Common;

/// <summary>Small helpers to declare System.CommandLine options tersely and consistently.</summary>
public static class Opt
{
    public static Option<T> Of<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    public static Option<T?> Maybe<T>(string name, string description) => new(name) { Description = description };

    public static Option<string> Choice(string name, string description, string defaultValue, params string[] choices)
    {
        var o = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        o.AcceptOnlyFromAmong(choices);
        return o;
    }

    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };
}
