namespace Wirestack.IntegrationTests;

/// <summary>
/// A network namespace this test creates and deletes. All test traffic stays inside it: the TAP device, the
/// kernel peer's address and every tool run with <see cref="ExecAsync"/>.
/// </summary>
internal sealed class TestNamespace : IAsyncDisposable
{
    TestNamespace(string name) => Name = name;

    public string Name { get; }

    public static async Task<TestNamespace> CreateAsync()
    {
        string name = $"wst-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        var result = await ProcessRunner.RunAsync("ip", ["netns", "add", name], TimeSpan.FromSeconds(10));
        Assert.True(result.ExitCode == 0, $"ip netns add failed: {result.All}");
        var ns = new TestNamespace(name);
        await ns.ExecAsync("ip link set lo up");
        return ns;
    }

    /// <summary>Runs a shell command inside the namespace.</summary>
    public Task<ProcessResult> ExecAsync(string command, TimeSpan? timeout = null, string? standardInput = null) =>
        ProcessRunner.RunAsync("ip", ["netns", "exec", Name, "sh", "-c", command], timeout ?? TimeSpan.FromSeconds(30), standardInput);

    /// <summary>Runs a command and fails the test when it exits non-zero.</summary>
    public async Task<ProcessResult> CheckAsync(string command, TimeSpan? timeout = null)
    {
        var result = await ExecAsync(command, timeout);
        Assert.True(result.ExitCode == 0, $"'{command}' exited {result.ExitCode}:\n{result.All}");
        return result;
    }

    /// <summary>
    /// Stops (SIGTERM) the processes of this namespace whose command line contains <paramref name="commandLinePart"/>.
    /// pkill would match across the whole machine, and with tests running in parallel it ends another test's daemon
    /// of the same shape (two tests both serving RAs on an interface named vlan).
    /// </summary>
    public Task<ProcessResult> StopProcessesAsync(string commandLinePart) =>
        ProcessRunner.RunAsync("sh", ["-c",
            $"for p in $(ip netns pids {Name}); do tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -qF -- \"$1\" && kill $p; done; true", "sh", commandLinePart],
            TimeSpan.FromSeconds(10));

    public async ValueTask DisposeAsync()
    {
        // Kill anything still running in the namespace, then delete it (its interfaces go with it).
        await ProcessRunner.RunAsync("sh", ["-c", $"for p in $(ip netns pids {Name}); do kill -9 $p; done"], TimeSpan.FromSeconds(10));
        await ProcessRunner.RunAsync("ip", ["netns", "del", Name], TimeSpan.FromSeconds(10));
    }
}
