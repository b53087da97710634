using System.Diagnostics;

namespace Wirestack.IntegrationTests;

/// <summary>dnsmasq as the real DHCP (and DNS) server on the TAP's host side, inside the test namespace.</summary>
internal sealed class Dnsmasq : IAsyncDisposable
{
    readonly Process _process;
    readonly string _directory;

    Dnsmasq(Process process, string directory)
    {
        _process = process;
        _directory = directory;
    }

    public string LeaseFile => Path.Combine(_directory, "leases");

    public static Dnsmasq Start(TestNamespace ns, params string[] extraArguments)
    {
        string directory = Directory.CreateTempSubdirectory("wirestack-dnsmasq").FullName;
        var start = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[]
        {
            "netns", "exec", ns.Name, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--interface=tap0", "--bind-interfaces",
            "--dhcp-range=192.168.0.50,192.168.0.99,255.255.255.0,2m", "--dhcp-option=3,192.168.0.1", "--dhcp-option=6,192.168.0.1",
            "--dhcp-option=42,192.168.0.1", $"--dhcp-leasefile={Path.Combine(directory, "leases")}", "--log-dhcp", "--dhcp-authoritative",
            "--user=root", "--no-resolv", "--no-hosts",
        }.Concat(extraArguments))
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Dnsmasq(process, directory);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
