using System.Diagnostics;

namespace Wirestack.IntegrationTests;

[Trait("Category", "Device")]
public sealed class DeviceProgramTests
{

    [Fact(DisplayName = "wirestack-device with --host-address creates the TAP, configures the host side, answers ping, and removes the TAP on SIGTERM")]
    public async Task RunsAndStopsCleanly()
    {
        Prerequisites.Require("ping");
        await using var ns = await TestNamespace.CreateAsync();
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string data = Directory.CreateTempSubdirectory("wirestack-program").FullName;
        foreach (var argument in (string[])["netns", "exec", ns.Name, .. ProgramProcess.Command, "-i", "tap0", "--ip", "192.168.0.2/24", "--host-address", "192.168.0.1/24", "--data-dir", data])
            start.ArgumentList.Add(argument);
        using var device = Process.Start(start)!;
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        device.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            log.Enqueue(e.Data);
            if (e.Data.Contains("-> Ready", StringComparison.Ordinal))
                ready.TrySetResult();
        };
        device.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        device.BeginOutputReadLine();
        device.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            var link = await ns.CheckAsync("ip -o addr show tap0");
            Assert.Contains("192.168.0.1/24", link.Output);
            var ping = await ns.CheckAsync("ping -c 3 -i 0.2 -W 2 192.168.0.2");
            Assert.Contains("3 received", ping.Output);

            // ip netns exec execs the program, so this is the device's own PID.
            var kill = await ProcessRunner.RunAsync("kill", ["-TERM", device.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));
            Assert.Equal(0, kill.ExitCode);
            await device.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(15)).Token);
            Assert.Equal(0, device.ExitCode);
            var gone = await ns.ExecAsync("ip link show tap0");
            Assert.NotEqual(0, gone.ExitCode);
            Assert.Contains(log, line => line.Contains("Stopped", StringComparison.Ordinal));
        }
        catch (Exception e) when (e is not Xunit.Sdk.IAssertionException)
        {
            Assert.Fail($"{e.Message}\nDevice log:\n{string.Join('\n', log)}");
        }
        finally
        {
            if (!device.HasExited)
                device.Kill(entireProcessTree: true);
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact(DisplayName = "wirestack-device explains a missing permission instead of crashing")]
    public async Task ReportsOpenFailure()
    {
        Prerequisites.Require();
        // A name that exists but is not a TAP (the namespace's loopback) gives a clear error and exit code 1.
        await using var ns = await TestNamespace.CreateAsync();
        var result = await ns.ExecAsync($"{ProgramProcess.CommandLine} -i lo --ip 192.168.0.2/24", TimeSpan.FromSeconds(30));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Cannot open TAP interface lo", result.All);
    }
}
