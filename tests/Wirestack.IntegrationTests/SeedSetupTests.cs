using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Wirestack.Wire;

namespace Wirestack.IntegrationTests;

/// <summary>
/// The seed's three ways to use the TAP interface, each built from namespaces the test makes: a virtual interface
/// with a DHCP server on the host side, a bridge onto a "LAN" namespace with its own DHCP server, and forwarding
/// with masquerading into an "Internet" namespace that serves DNS, SNTP and HTTP.
/// </summary>
[Trait("Category", "Device")]
public sealed partial class SeedSetupTests
{
    [GeneratedRegex(@"Lease (\d+\.\d+\.\d+\.\d+)/")]
    private static partial Regex LeaseLine();

    static string LeasedAddress(ProgramProcess device) =>
        device.Log.Select(l => LeaseLine().Match(l)).First(m => m.Success).Groups[1].Value;

    [Fact(DisplayName = "Seed setup 1, virtual interface: host side 192.168.0.1/24 with dnsmasq; the device gets a lease and is reachable from the host")]
    public async Task VirtualInterface()
    {
        Prerequisites.Require("dnsmasq", "curl");
        string dir = Directory.CreateTempSubdirectory("wirestack-seed1").FullName;
        try
        {
            await using var host = await TestNamespace.CreateAsync();
            await host.CheckAsync("ip tuntap add dev tap0 mode tap && ip addr add 192.168.0.1/24 dev tap0 && ip link set tap0 up");
            await using var dhcp = Dnsmasq.Start(host);
            await using var device = ProgramProcess.Start(host, "-i", "tap0", "--user", "admin:secret", "--data-dir", dir, "--https-port", "0");
            await device.WaitForLogAsync("Lease ", TimeSpan.FromSeconds(40));
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(10));
            string address = LeasedAddress(device);
            Assert.StartsWith("192.168.0.", address);
            Assert.Contains(address, await File.ReadAllTextAsync(dhcp.LeaseFile, TestContext.Current.CancellationToken));
            var page = await host.CheckAsync($"curl -s -f -m 10 --retry 5 --retry-connrefused -u admin:secret http://{address}/api/network");
            Assert.Contains($"\"ipv4\":\"{address}\"", page.Output);
            Assert.Contains("\"gateway\":\"192.168.0.1\"", page.Output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Seed setup 2, bridge: the TAP and a veth to a LAN namespace share a bridge; the device leases from the LAN's DHCP server and a LAN client reaches its dashboard")]
    public async Task Bridge()
    {
        Prerequisites.Require("dnsmasq", "curl");
        string dir = Directory.CreateTempSubdirectory("wirestack-seed2").FullName;
        string leases = Path.Combine(dir, "lan.leases");
        try
        {
            await using var host = await TestNamespace.CreateAsync();
            await using var lan = await TestNamespace.CreateAsync();
            await host.CheckAsync("ip link add br0 type bridge && ip link set br0 up && " +
                "ip tuntap add dev tap0 mode tap && ip link set tap0 master br0 && ip link set tap0 up && " +
                $"ip link add vhost type veth peer name vlan netns {lan.Name} && ip link set vhost master br0 && ip link set vhost up");
            await lan.CheckAsync("ip addr add 10.1.0.1/24 dev vlan && ip link set vlan up");
            var lanDhcp = lan.ExecAsync("dnsmasq --no-daemon --conf-file=/dev/null --interface=vlan --bind-interfaces --port=0 --user=root " +
                $"--dhcp-range=10.1.0.50,10.1.0.99,255.255.255.0,2m --dhcp-option=3,10.1.0.1 --dhcp-leasefile={leases}", TimeSpan.FromMinutes(2));
            // The device's data directory holds only its own files (a root-owned one holding others is refused).
            await using var device = ProgramProcess.Start(host, "-i", "tap0", "--user", "admin:secret", "--data-dir", Path.Combine(dir, "data"), "--https-port", "0");
            try
            {
                await device.WaitForLogAsync("Lease ", TimeSpan.FromSeconds(40));
                await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(10));
                string address = LeasedAddress(device);
                Assert.StartsWith("10.1.0.", address);
                var page = await lan.CheckAsync($"curl -s -f -m 10 --retry 5 --retry-connrefused -u admin:secret http://{address}/api/network");
                Assert.Contains($"\"ipv4\":\"{address}\"", page.Output);
                Assert.Contains("\"gateway\":\"10.1.0.1\"", page.Output);
            }
            finally
            {
                await lan.StopProcessesAsync("interface=vlan");
                await lanDhcp;
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Seed setup 3, forward/masquerade: through the host's NAT the device resolves a name, synchronises its clock and fetches a page with its HttpClient")]
    public async Task ForwardAndMasquerade()
    {
        Prerequisites.Require("dnsmasq", "iptables", "sysctl");
        var ct = TestContext.Current.CancellationToken;
        await using var internet = await TestNamespace.CreateAsync();
        await using var tap = await TapStack.StartAsync(ipv4: Ipv4Settings.Static($"{TapStack.StackAddress}/24", TapStack.KernelAddress, "10.200.0.2"),
            beforeStart: async host =>
            {
                await host.CheckAsync($"ip link add vinet type veth peer name vout netns {internet.Name} && ip addr add 10.200.0.1/24 dev vinet && ip link set vinet up && " +
                    "sysctl -q -w net.ipv4.ip_forward=1 && iptables -t nat -A POSTROUTING -o vinet -j MASQUERADE");
                await internet.CheckAsync("ip addr add 10.200.0.2/24 dev vout && ip link set vout up");
            });
        // The "Internet": a DNS server, an SNTP server 3 s ahead, and an HTTP server that reports who called.
        var dns = internet.ExecAsync("dnsmasq --no-daemon --conf-file=/dev/null --interface=vout --bind-interfaces --user=root --no-resolv --no-hosts " +
            "--host-record=www.example.test,10.200.0.2 --host-record=time.example.test,10.200.0.2", TimeSpan.FromMinutes(2));
        var services = new InternetServices(internet, IPAddress.Parse("10.200.0.2"), "hello from the internet");
        try
        {
            IPAddress[] resolved = [];
            for (int attempt = 0; attempt < 20 && resolved.Length == 0; attempt++)
            {
                try
                {
                    resolved = await tap.Stack.Dns.ResolveAsync("www.example.test", ct);
                }
                catch (SocketException)
                {
                    await Task.Delay(250, ct);
                }
            }
            Assert.Equal([IPAddress.Parse("10.200.0.2")], resolved);

            await using var clock = new SntpClient(tap.Stack) { Server = "time.example.test" };
            var sample = await clock.SynchronizeAsync(ct);
            Assert.InRange(sample.Offset.TotalMilliseconds, 2950, 3050);

            using var http = new HttpClient(tap.Stack.CreateHttpMessageHandler());
            Assert.Equal("hello from the internet", await http.GetStringAsync("http://www.example.test/", ct));
            // The Internet saw the host's address: the device's traffic was masqueraded.
            Assert.Equal(IPAddress.Parse("10.200.0.1"), services.Caller!.Address);
        }
        finally
        {
            await services.DisposeAsync();
            await internet.StopProcessesAsync("interface=vout");
            await dns;
        }
    }
}
