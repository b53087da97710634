using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Wirestack.Wire;

namespace Wirestack.IntegrationTests;

/// <summary>
/// The seed's three setups over IPv6: router advertisements from the host side of a virtual interface, a bridge onto
/// a LAN whose router advertises, and routing (no NAT: IPv6 is forwarded) into an "Internet" that serves DNS (AAAA),
/// SNTP and HTTP.
/// </summary>
[Trait("Category", "Device")]
public sealed partial class SeedSetupIpv6Tests
{
    [GeneratedRegex(@"IPv6 address ([0-9a-f:]+)/64 \(slaac\) preferred")]
    private static partial Regex SlaacLine();

    static async Task<string> SlaacAddressAsync(ProgramProcess device)
    {
        await device.WaitForLogAsync("(slaac) preferred", TimeSpan.FromSeconds(30));
        return device.Log.Select(l => SlaacLine().Match(l)).First(m => m.Success).Groups[1].Value;
    }

    static string RouterAdvertiser(string iface, string port = "--port=0") =>
        $"dnsmasq --no-daemon --conf-file=/dev/null --interface={iface} --bind-interfaces {port} --user=root --no-resolv --no-hosts " +
        $"--enable-ra --dhcp-range=::,constructor:{iface},ra-only,64,1h --ra-param={iface},10,600";

    [Fact(DisplayName = "Seed setup 1 over IPv6, virtual interface: the host side advertises a prefix; the device takes a SLAAC address and serves its dashboard on it")]
    public async Task VirtualInterface()
    {
        Prerequisites.Require("dnsmasq", "curl");
        string dir = Directory.CreateTempSubdirectory("wirestack-seed1-v6").FullName;
        try
        {
            await using var host = await TestNamespace.CreateAsync();
            await host.CheckAsync("ip tuntap add dev tap0 mode tap && ip addr add 192.168.0.1/24 dev tap0 && ip -6 addr add 2001:db8:1::1/64 dev tap0 nodad && ip link set tap0 up");
            var ra = host.ExecAsync(RouterAdvertiser("tap0"), TimeSpan.FromMinutes(2));
            await using var device = ProgramProcess.Start(host, "-i", "tap0", "--ip", "192.168.0.2/24", "--user", "admin:secret", "--data-dir", dir, "--https-port", "0");
            try
            {
                string address = await SlaacAddressAsync(device);
                Assert.StartsWith("2001:db8:1:0:", address);
                var page = await host.CheckAsync($"curl -g -s -f -m 10 --retry 5 --retry-connrefused -u admin:secret http://[{address}]/api/network");
                Assert.Contains($"\"{address}\"", page.Output);
                Assert.Contains("\"slaac\"", page.Output);
            }
            finally
            {
                await host.StopProcessesAsync("interface=tap0");
                await ra;
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Seed setup 2 over IPv6, bridge: the LAN's router advertises; the device on the bridged TAP takes an address in the LAN's prefix and a LAN client reaches it")]
    public async Task Bridge()
    {
        Prerequisites.Require("dnsmasq", "curl");
        string dir = Directory.CreateTempSubdirectory("wirestack-seed2-v6").FullName;
        try
        {
            await using var host = await TestNamespace.CreateAsync();
            await using var lan = await TestNamespace.CreateAsync();
            await host.CheckAsync("ip link add br0 type bridge && ip link set br0 up && " +
                "ip tuntap add dev tap0 mode tap && ip link set tap0 master br0 && ip link set tap0 up && " +
                $"ip link add vhost type veth peer name vlan netns {lan.Name} && ip link set vhost master br0 && ip link set vhost up");
            await lan.CheckAsync("ip -6 addr add 2001:db8:2::1/64 dev vlan nodad && ip link set vlan up");
            var ra = lan.ExecAsync(RouterAdvertiser("vlan"), TimeSpan.FromMinutes(2));
            await using var device = ProgramProcess.Start(host, "-i", "tap0", "--ip", "10.1.0.2/24", "--user", "admin:secret", "--data-dir", dir, "--https-port", "0");
            try
            {
                string address = await SlaacAddressAsync(device);
                Assert.StartsWith("2001:db8:2:0:", address);
                var page = await lan.CheckAsync($"curl -g -s -f -m 10 --retry 5 --retry-connrefused -u admin:secret http://[{address}]/api/network");
                Assert.Contains($"\"{address}\"", page.Output);
            }
            finally
            {
                await lan.StopProcessesAsync("interface=vlan");
                await ra;
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Seed setup 3 over IPv6, routed: the host forwards IPv6 to an Internet that serves DNS (AAAA), SNTP and HTTP; the device resolves, synchronises and fetches a page by name")]
    public async Task Routed()
    {
        Prerequisites.Require("dnsmasq", "sysctl");
        var ct = TestContext.Current.CancellationToken;
        const string Server = "2001:db8:200::2";
        await using var internet = await TestNamespace.CreateAsync();
        Task<ProcessResult>? ra = null;
        await using var tap = await TapStack.StartAsync(beforeStart: async host =>
        {
            await host.CheckAsync("ip -6 addr add 2001:db8:1::1/64 dev tap0 nodad && " +
                $"ip link add vinet type veth peer name vout netns {internet.Name} && ip -6 addr add 2001:db8:200::1/64 dev vinet nodad && ip link set vinet up && " +
                "sysctl -q -w net.ipv6.conf.all.forwarding=1");
            await internet.CheckAsync($"ip -6 addr add {Server}/64 dev vout nodad && ip link set vout up && ip -6 route add default via 2001:db8:200::1");
            // The host is the device's router: it advertises the prefix and, by RDNSS, the Internet's DNS server.
            ra = host.ExecAsync(RouterAdvertiser("tap0") + $" --dhcp-option=option6:dns-server,[{Server}]", TimeSpan.FromMinutes(2));
        });
        var dns = internet.ExecAsync("dnsmasq --no-daemon --conf-file=/dev/null --interface=vout --bind-interfaces --user=root --no-resolv --no-hosts " +
            $"--host-record=www6.example.test,{Server} --host-record=time6.example.test,{Server}", TimeSpan.FromMinutes(2));
        var services = new InternetServices(internet, IPAddress.Parse(Server), "hello over ipv6 routing");
        try
        {
            IPAddress? global = null;
            for (int i = 0; i < 100 && (global is null || !tap.Stack.DnsServers.Contains(IPAddress.Parse(Server))); i++)
            {
                global = tap.Stack.Ipv6Addresses.FirstOrDefault(a => a.Origin == Ipv6AddressOrigin.Slaac && a.State == Ipv6AddressState.Preferred)?.Address;
                await Task.Delay(100, ct);
            }
            Assert.NotNull(global);
            Assert.Contains(IPAddress.Parse(Server), tap.Stack.DnsServers);

            IPAddress[] resolved = [];
            for (int attempt = 0; attempt < 20 && resolved.Length == 0; attempt++)
            {
                try
                {
                    resolved = await tap.Stack.Dns.ResolveAsync("www6.example.test", ct);
                }
                catch (SocketException)
                {
                    await Task.Delay(250, ct);
                }
            }
            Assert.Equal([IPAddress.Parse(Server)], resolved);

            await using var clock = new SntpClient(tap.Stack) { Server = "time6.example.test" };
            var sample = await clock.SynchronizeAsync(ct);
            Assert.InRange(sample.Offset.TotalMilliseconds, 2950, 3050);

            using var http = new HttpClient(tap.Stack.CreateHttpMessageHandler());
            Assert.Equal("hello over ipv6 routing", await http.GetStringAsync("http://www6.example.test/", ct));
            // Routed, not translated: the Internet saw the device's own global address.
            Assert.Equal(global, services.Caller!.Address);
        }
        finally
        {
            await services.DisposeAsync();
            await internet.StopProcessesAsync("interface=vout");
            await tap.Namespace.StopProcessesAsync("interface=tap0");
            await dns;
            if (ra is not null)
                await ra;
        }
    }
}
