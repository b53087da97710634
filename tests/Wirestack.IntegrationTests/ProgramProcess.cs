using System.Collections.Concurrent;
using System.Diagnostics;

namespace Wirestack.IntegrationTests;

/// <summary>A Wirestack program (wirestack-device or wirestack-tunnel) running inside a test namespace, its log captured, stopped with SIGTERM.</summary>
internal sealed class ProgramProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly ConcurrentQueue<string> _log = new();

    ProgramProcess(Process process) => _process = process;

    /// <summary>
    /// How the device under test starts: the JIT build beside the tests, or the native (NativeAOT) executable that
    /// WIRESTACK_DEVICE_BINARY names, so that the same tests run against both builds.
    /// </summary>
    public static IReadOnlyList<string> Command { get; } =
        Environment.GetEnvironmentVariable("WIRESTACK_DEVICE_BINARY") is { Length: > 0 } binary
            ? [binary]
            : ["dotnet", Path.Combine(AppContext.BaseDirectory, "wirestack-device.dll")];

    /// <summary><see cref="Command"/> as the start of a shell command line.</summary>
    public static string CommandLine => string.Join(' ', Command);

    public int Id => _process.Id;

    public IEnumerable<string> Log => _log;

    public static ProgramProcess Start(TestNamespace ns, params string[] arguments) =>
        Start("ip", ["netns", "exec", ns.Name, .. Command, .. arguments]);

    /// <summary>wirestack-tunnel (the JIT build beside the tests) inside <paramref name="ns"/>.</summary>
    public static ProgramProcess StartTunnel(TestNamespace ns, params string[] arguments) =>
        Start("ip", ["netns", "exec", ns.Name, "dotnet", Path.Combine(AppContext.BaseDirectory, "wirestack-tunnel.dll"), .. arguments]);

    /// <summary>The device started by a shell command line (for wrappers such as setpriv); stopping it signals the shell's process.</summary>
    public static ProgramProcess StartCommand(string commandLine) => Start("sh", ["-c", "exec " + commandLine]);

    static ProgramProcess Start(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        var device = new ProgramProcess(Process.Start(start)!);
        device._process.OutputDataReceived += (_, e) => { if (e.Data is not null) device._log.Enqueue(e.Data); };
        device._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) device._log.Enqueue(e.Data); };
        device._process.BeginOutputReadLine();
        device._process.BeginErrorReadLine();
        return device;
    }

    /// <summary>Waits until a log line contains <paramref name="text"/>; fails with the log when the process dies or time runs out.</summary>
    public async Task WaitForLogAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_log.Any(line => line.Contains(text, StringComparison.Ordinal)))
                return;
            if (_process.HasExited)
                break;
            await Task.Delay(50);
        }
        Assert.Fail($"'{text}' did not appear in the program's log:\n{string.Join('\n', _log)}");
    }

    /// <summary>The exit code of a device that stops by itself (a refused start), or a failure with its log.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"The device did not exit within {timeout}:\n{string.Join('\n', _log)}");
        }
        return _process.ExitCode;
    }

    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            await ProcessRunner.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
    }
}
