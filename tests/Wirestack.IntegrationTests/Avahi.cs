using System.Collections.Concurrent;
using System.Diagnostics;

namespace Wirestack.IntegrationTests;

/// <summary>
/// avahi-daemon as the mDNS peer on the host side, inside the test namespace, with its own configuration and a
/// private D-Bus (the machine's bus, if any, is left alone); avahi-resolve, -browse and -publish talk to it.
/// </summary>
internal sealed class Avahi : IAsyncDisposable
{
    readonly TestNamespace _ns;
    readonly Process _bus, _daemon;
    readonly string _directory;
    readonly ConcurrentQueue<string> _log;

    Avahi(TestNamespace ns, Process bus, Process daemon, string directory, ConcurrentQueue<string> log)
    {
        (_ns, _bus, _daemon, _directory, _log) = (ns, bus, daemon, directory, log);
    }

    string BusAddress => BusAddressIn(_directory);

    static string BusAddressIn(string directory) => $"unix:path={Path.Combine(directory, "bus")}";

    public static async Task<Avahi> StartAsync(TestNamespace ns, string interfaceName)
    {
        string directory = Directory.CreateTempSubdirectory("wirestack-avahi").FullName;
        File.WriteAllText(Path.Combine(directory, "bus.conf"), $"""
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>system</type>
              <listen>unix:path={Path.Combine(directory, "bus")}</listen>
              <auth>EXTERNAL</auth>
              <policy context="default">
                <allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_destination="*"/><allow receive_sender="*"/>
              </policy>
            </busconfig>
            """);
        File.WriteAllText(Path.Combine(directory, "avahi.conf"), $"""
            [server]
            host-name=kernelside
            use-ipv4=yes
            use-ipv6=yes
            allow-interfaces={interfaceName}
            enable-dbus=yes
            ratelimit-interval-usec=0
            [publish]
            publish-hinfo=no
            publish-workstation=no
            """);
        var bus = Start("dbus-daemon", ["--config-file", Path.Combine(directory, "bus.conf"), "--nofork", "--nopidfile"], null);
        for (int i = 0; i < 50 && !File.Exists(Path.Combine(directory, "bus")); i++)
            await Task.Delay(50);
        var log = new ConcurrentQueue<string>();
        var daemon = Start("ip", ["netns", "exec", ns.Name, "env", $"DBUS_SYSTEM_BUS_ADDRESS={BusAddressIn(directory)}",
            "avahi-daemon", "-f", Path.Combine(directory, "avahi.conf"), "--no-drop-root", "--no-chroot", "--no-rlimits"], log);
        var avahi = new Avahi(ns, bus, daemon, directory, log);
        for (int i = 0; i < 100 && !avahi.Log.Any(l => l.Contains("Server startup complete", StringComparison.Ordinal)); i++)
            await Task.Delay(100);
        return avahi;
    }

    public IEnumerable<string> Log => _log;

    static Process Start(string program, string[] arguments, ConcurrentQueue<string>? log)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) log?.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) log?.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Runs an avahi client (avahi-resolve, avahi-browse…) in the namespace against this daemon.</summary>
    public Task<ProcessResult> ExecAsync(string command, TimeSpan? timeout = null) =>
        _ns.ExecAsync($"env DBUS_SYSTEM_BUS_ADDRESS={BusAddress} {command}", timeout);

    public async ValueTask DisposeAsync()
    {
        foreach (var process in new[] { _daemon, _bus })
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
            process.Dispose();
        }
        Directory.Delete(_directory, recursive: true);
    }
}
