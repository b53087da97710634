using System.Diagnostics;
using System.Net;

namespace Wirestack.IntegrationTests;

/// <summary>wirestack-device's mDNS responder against avahi-daemon on the host side of the TAP.</summary>
[Trait("Category", "Device")]
public sealed class MdnsTests(ITestOutputHelper output)
{
    const string Device = "192.168.0.2";

    static async Task<ProcessResult> ResolveAsync(Avahi avahi, string arguments, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        ProcessResult result;
        do
        {
            result = await avahi.ExecAsync($"avahi-resolve {arguments}", TimeSpan.FromSeconds(10));
            if (result.ExitCode == 0 && result.Output.Trim().Length > 0)
                return result;
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        return result;
    }

    [Fact(DisplayName = "RFC 6762 and RFC 6763 over TAP: avahi resolves wirestack.local to the device's IPv4 and IPv6 addresses and 192.168.0.2 back to the name; avahi-browse lists the dashboard's _http._tcp and _https._tcp services with address, port and path; curl reaches the dashboard by name")]
    public async Task AvahiResolvesTheDevice()
    {
        Prerequisites.Require("avahi-daemon", "avahi-resolve", "dbus-daemon", "curl");
        string data = Directory.CreateTempSubdirectory("wirestack-mdns").FullName;
        try
        {
            await using var ns = await TestNamespace.CreateAsync();
            await ns.CheckAsync("ip tuntap add dev tap0 mode tap");
            await ns.CheckAsync("ip addr add 192.168.0.1/24 dev tap0");
            await ns.CheckAsync("ip link set tap0 up");
            await using var avahi = await Avahi.StartAsync(ns, "tap0");
            var started = Stopwatch.StartNew();
            await using var device = ProgramProcess.Start(ns, "-i", "tap0", "--ip", $"{Device}/24", "--user", "admin:secretsecret", "--data-dir", data);
            var v4 = await ResolveAsync(avahi, "-4 -n wirestack.local", TimeSpan.FromSeconds(30));
            output.WriteLine($"wirestack.local resolvable by avahi {started.ElapsedMilliseconds} ms after the device process started");
            // When it fails, the device's log says whether it got as far as announcing (a rare flake seen once in CI).
            Assert.True(v4.Output.Trim() == $"wirestack.local\t{Device}",
                $"avahi-resolve: '{v4.All.Trim()}' (exit {v4.ExitCode}); the device's log:\n{string.Join('\n', device.Log)}");
            await device.WaitForLogAsync("mDNS: wirestack.local is ours", TimeSpan.FromSeconds(5));
            var v6 = await ResolveAsync(avahi, "-6 -n wirestack.local", TimeSpan.FromSeconds(10));
            var address6 = IPAddress.Parse(v6.Output.Trim().Split('\t')[1]);
            Assert.True(address6.IsIPv6LinkLocal);
            var reverse = await ResolveAsync(avahi, $"-a {Device}", TimeSpan.FromSeconds(10));
            Assert.Equal($"{Device}\twirestack.local", reverse.Output.Trim());

            // avahi-browse -p: "=;interface;protocol;name;type;domain;host;address;port;txt" per resolved instance.
            var browse = await avahi.ExecAsync("avahi-browse -rtp _http._tcp", TimeSpan.FromSeconds(20));
            Assert.Contains($"=;tap0;IPv4;wirestack;Web Site;local;wirestack.local;{Device};80;\"path=/\"", browse.Output);
            var secure = await avahi.ExecAsync("avahi-browse -rtp _https._tcp", TimeSpan.FromSeconds(20));
            Assert.Contains($";wirestack.local;{Device};443;\"path=/\"", secure.Output);
            var page = await ns.CheckAsync($"curl -s -f -m 10 --resolve wirestack.local:80:{Device} http://wirestack.local/");
            Assert.Contains("Wirestack device", page.Output);
            var network = await ns.CheckAsync($"curl -s -f -m 10 -u admin:secretsecret --resolve wirestack.local:80:{Device} http://wirestack.local/api/network");
            Assert.Contains("\"mdns_name\":\"wirestack.local\"", network.Output);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact(DisplayName = "RFC 6762 9 over TAP: a second device with the same host name on the same bridge becomes wirestack-2.local; avahi resolves both names to their own addresses")]
    public async Task SameNameOnOneBridge()
    {
        Prerequisites.Require("avahi-daemon", "avahi-resolve", "dbus-daemon");
        string first = Directory.CreateTempSubdirectory("wirestack-mdns1").FullName, second = Directory.CreateTempSubdirectory("wirestack-mdns2").FullName;
        try
        {
            await using var ns = await TestNamespace.CreateAsync();
            await ns.CheckAsync("ip link add br0 type bridge");
            foreach (string tap in new[] { "tap0", "tap1" })
            {
                await ns.CheckAsync($"ip tuntap add dev {tap} mode tap");
                await ns.CheckAsync($"ip link set {tap} master br0");
                await ns.CheckAsync($"ip link set {tap} up");
            }
            await ns.CheckAsync("ip addr add 192.168.0.1/24 dev br0");
            await ns.CheckAsync("ip link set br0 up");
            await using var avahi = await Avahi.StartAsync(ns, "br0");
            await using var one = ProgramProcess.Start(ns, "-i", "tap0", "--ip", "192.168.0.2/24", "--user", "admin:secretsecret", "--data-dir", first,
                "--http-port", "0", "--https-port", "0");
            await one.WaitForLogAsync("mDNS: wirestack.local is ours", TimeSpan.FromSeconds(30));
            await using var two = ProgramProcess.Start(ns, "-i", "tap1", "--mac", "02:00:01:02:03:78", "--ip", "192.168.0.3/24", "--user", "admin:secretsecret",
                "--data-dir", second, "--http-port", "0", "--https-port", "0");
            await two.WaitForLogAsync("mDNS: wirestack-2.local is ours", TimeSpan.FromSeconds(30));
            Assert.Contains(two.Log, l => l.Contains("wirestack.local is taken by another host; trying wirestack-2.local", StringComparison.Ordinal));
            Assert.Equal("wirestack.local\t192.168.0.2", (await ResolveAsync(avahi, "-4 -n wirestack.local", TimeSpan.FromSeconds(10))).Output.Trim());
            Assert.Equal("wirestack-2.local\t192.168.0.3", (await ResolveAsync(avahi, "-4 -n wirestack-2.local", TimeSpan.FromSeconds(10))).Output.Trim());
        }
        finally
        {
            Directory.Delete(first, recursive: true);
            Directory.Delete(second, recursive: true);
        }
    }

    [Fact(DisplayName = "RFC 6762 5.1 and RFC 6763 over TAP: the stack's HttpClient fetches a page from printer.local, a name avahi-publish announces on the host side, and browsing _http._tcp finds the service avahi publishes")]
    public async Task HttpClientReachesAvahiName()
    {
        Prerequisites.Require("avahi-daemon", "avahi-publish", "dbus-daemon", "busybox");
        var ct = TestContext.Current.CancellationToken;
        string web = Directory.CreateTempSubdirectory("wirestack-mdns-web").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(web, "index.html"), "served by the kernel side", ct);
            await using var tap = await TapStack.StartAsync(options: new StackOptions { Ipv4 = Ipv4Settings.Static(TapStack.StackAddress + "/24"), Mdns = new MdnsSettings { HostName = "client" } });
            await using var avahi = await Avahi.StartAsync(tap.Namespace, "tap0");
            var publish = avahi.ExecAsync($"timeout 30 avahi-publish -a -R printer.local {TapStack.KernelAddress}", TimeSpan.FromSeconds(35));
            var service = avahi.ExecAsync("timeout 30 avahi-publish -s 'Kernel web' _http._tcp 8080 path=/index.html", TimeSpan.FromSeconds(35));
            var server = tap.Namespace.ExecAsync($"timeout 30 busybox httpd -f -p {TapStack.KernelAddress}:8080 -h {web}", TimeSpan.FromSeconds(35));
            using var http = new HttpClient(tap.Stack.CreateHttpMessageHandler()) { Timeout = TimeSpan.FromSeconds(10) };
            string? page = null;
            for (int attempt = 0; attempt < 50 && page is null; attempt++)
            {
                try
                {
                    page = await http.GetStringAsync("http://printer.local:8080/index.html", ct);
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(200, ct);   // avahi probes the name for a moment before it answers
                }
            }
            Assert.Equal("served by the kernel side", page);
            await tap.Namespace.StopProcessesAsync("avahi-publish -a -R printer.local");
            await tap.Namespace.StopProcessesAsync("busybox httpd -f -p 192.168.0.1:8080");
            await Task.WhenAll(publish, server);
        }
        finally
        {
            Directory.Delete(web, recursive: true);
        }
    }
}
