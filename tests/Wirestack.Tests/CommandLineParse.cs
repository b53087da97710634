using System.CommandLine;

namespace Wirestack.Tests;

/// <summary>Runs a program's command line on arguments, with an action that only keeps the settings it is given.</summary>
internal static class CommandLineParse
{
    /// <summary>The parse errors, or the settings the program would have run with.</summary>
    public static (IReadOnlyList<string> Errors, TSettings? Settings) Run<TSettings>(
        Func<Func<TSettings, CancellationToken, Task<int>>, RootCommand> create, string[] args) where TSettings : class
    {
        TSettings? settings = null;
        var command = create((s, _) =>
        {
            settings = s;
            return Task.FromResult(0);
        });
        var result = command.Parse(args);
        if (result.Errors.Count == 0)
            result.Invoke();
        return (result.Errors.Select(e => e.Message).ToList(), settings);
    }
}
