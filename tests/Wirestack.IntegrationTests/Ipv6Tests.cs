using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Wirestack.IntegrationTests;

/// <summary>IPv6 over TAP with the kernel as the peer: NDP, SLAAC from a real router advertisement, ICMPv6, TCP, UDP.</summary>
public sealed class Ipv6Tests
{
    const string KernelGlobal = "2001:db8:1::1";
    const string StackGlobal = "2001:db8:1::2";

    static StackOptions StaticOptions(string address = StackGlobal) => new()
    {
        Ipv4 = Ipv4Settings.Static(TapStack.StackAddress + "/24"),
        Ipv6 = new Ipv6Settings { StaticAddresses = [Ipv6Settings.ParseAddress(address + "/64")] },
    };

    /// <summary>Gives the host side a global address (no DAD) and waits until its link-local one is usable.</summary>
    static async Task HostIpv6Async(TestNamespace ns, bool globalAddress = true)
    {
        if (globalAddress)
            await ns.CheckAsync($"ip -6 addr add {KernelGlobal}/64 dev tap0 nodad");
        for (int i = 0; i < 50; i++)
        {
            var tentative = await ns.CheckAsync("ip -6 addr show dev tap0 tentative");
            if (tentative.Output.Trim().Length == 0)
                return;
            await Task.Delay(100);
        }
        throw new TimeoutException("the host side's IPv6 addresses stayed tentative");
    }

    static async Task<Ipv6AddressInfo> WaitForAddressAsync(NetworkStack stack, Func<Ipv6AddressInfo, bool> match, Ipv6AddressState state = Ipv6AddressState.Preferred)
    {
        for (int i = 0; i < 100; i++)
        {
            if (stack.Ipv6Addresses.FirstOrDefault(a => match(a) && a.State == state) is { } found)
                return found;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException($"no {state} address matched; have: {string.Join(", ", stack.Ipv6Addresses)}");
    }

    [Theory(DisplayName = "RFC 4443 over TAP: the kernel's ping -6 of the link-local and global addresses gets intact replies for 0, 56, 1452 and 8000 bytes (fragmented both ways)")]
    [InlineData(0)]
    [InlineData(56)]
    [InlineData(1452)]
    [InlineData(8000)]
    public async Task KernelPing6IsAnswered(int size)
    {
        Prerequisites.Require("ping");
        await using var tap = await TapStack.StartAsync(beforeStart: ns => HostIpv6Async(ns), options: StaticOptions());
        var linkLocal = await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.LinkLocal);
        await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.Static);
        foreach (var target in new[] { StackGlobal, $"{linkLocal.Address}%tap0" })
        {
            var result = await tap.Namespace.CheckAsync($"ping -6 -c 3 -i 0.2 -W 2 -s {size} -p a55a0ff0 {target}");
            Assert.Contains("3 received", result.Output);
            Assert.DoesNotContain("wrong data", result.All);
            Assert.DoesNotContain("truncated", result.All);
        }
        if (size > 1452)
        {
            Assert.True(tap.Stack.GetCounter(StackCounter.Ipv6PacketsReassembled) >= 6);
            Assert.True(tap.Stack.GetCounter(StackCounter.Ipv6FragmentsSent) >= 36);
        }
        // RFC 4861 7.3: the kernel has the stack in its neighbour cache, resolved.
        var neighbours = await tap.Namespace.CheckAsync("ip -6 neigh show dev tap0");
        Assert.Contains("02:00:01:02:03:77", neighbours.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact(DisplayName = "RFC 4862 over TAP: dnsmasq's router advertisement gives the stack a SLAAC address the kernel reaches (REACHABLE in ip -6 neigh); the router is learned")]
    public async Task SlaacFromDnsmasq()
    {
        Prerequisites.Require("dnsmasq", "ping");
        Dnsmasq? dnsmasq = null;
        await using var tap = await TapStack.StartAsync(beforeStart: async ns =>
        {
            await HostIpv6Async(ns);
            dnsmasq = Dnsmasq.Start(ns, "--enable-ra", "--dhcp-range=::,constructor:tap0,ra-only,64,1h", "--ra-param=tap0,10,600");
        });
        await using var _ = dnsmasq!;
        var slaac = await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.Slaac);
        Assert.StartsWith("2001:db8:1:0:", slaac.Address.ToString());
        Assert.Equal(64, slaac.PrefixLength);
        Assert.NotNull(slaac.ValidLifetime);
        Assert.NotEmpty(tap.Stack.Ipv6Routers);
        var ping = await tap.Namespace.CheckAsync($"ping -6 -c 2 -i 0.2 -W 2 {slaac.Address}");
        Assert.Contains("2 received", ping.Output);
        var neighbours = await tap.Namespace.CheckAsync($"ip -6 neigh show {slaac.Address} dev tap0");
        Assert.Contains("REACHABLE", neighbours.Output);
    }

    [Fact(DisplayName = "RFC 4862 5.4.5 over TAP: a static address the host already holds fails DAD and is not used")]
    public async Task DuplicateAddressDetected()
    {
        await using var tap = await TapStack.StartAsync(beforeStart: async ns =>
        {
            await HostIpv6Async(ns, globalAddress: false);
            await ns.CheckAsync($"ip -6 addr add {StackGlobal}/64 dev tap0 nodad");
        }, options: StaticOptions());
        var conflicts = new List<StackEventArgs>();
        tap.Stack.EventRaised += (_, e) => { lock (conflicts) conflicts.Add(e); };
        var duplicate = await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.Static, Ipv6AddressState.Duplicate);
        Assert.Equal(IPAddress.Parse(StackGlobal), duplicate.Address);
        await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.LinkLocal);
    }

    [Fact(DisplayName = "RFC 9293 over IPv6 on TAP: 16 MiB each way between the kernel and Wirestack, SHA-256 intact, MSS = MTU - 60")]
    public async Task TcpBothWays()
    {
        Prerequisites.Require("socat", "sha256sum");
        await using var tap = await TapStack.StartAsync(beforeStart: ns => HostIpv6Async(ns), options: StaticOptions());
        await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.Static);
        var data = new byte[16 << 20];
        new Random(3).NextBytes(data);

        // Kernel client to a Wirestack server.
        await using (var listener = await tap.Stack.ListenTcpAsync(5101))
        {
            string directory = Directory.CreateTempSubdirectory("wirestack-tcp6").FullName;
            try
            {
                string file = Path.Combine(directory, "data");
                await File.WriteAllBytesAsync(file, data, TestContext.Current.CancellationToken);
                var client = tap.Namespace.ExecAsync($"socat -u FILE:{file} TCP6:[{StackGlobal}]:5101", TimeSpan.FromSeconds(60));
                await using var connection = await listener.AcceptAsync(TestContext.Current.CancellationToken);
                Assert.Equal(IPAddress.Parse(KernelGlobal), connection.RemoteEndPoint.Address);
                Assert.Equal(1440, (await connection.GetInfoAsync(TestContext.Current.CancellationToken)).SendMss);
                var received = new MemoryStream();
                await connection.CopyToAsync(received, TestContext.Current.CancellationToken);
                var result = await client;
                Assert.True(result.ExitCode == 0, result.All);
                Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
            }
            finally
            {
                Directory.Delete(directory, recursive: true);
            }
        }

        // Wirestack client to a kernel server that hashes what it gets.
        var server = tap.Namespace.ExecAsync($"timeout 60 socat TCP6-LISTEN:5102,bind=[{KernelGlobal}],reuseaddr SYSTEM:'sha256sum | cut -c1-64'", TimeSpan.FromSeconds(70));
        var outbound = await tap.ConnectWhenListeningAsync(5102, TestContext.Current.CancellationToken, KernelGlobal);
        await using (outbound)
        {
            await outbound.WriteAsync(data, TestContext.Current.CancellationToken);
            outbound.ShutdownSend();
            var reply = new MemoryStream();
            await outbound.CopyToAsync(reply, TestContext.Current.CancellationToken);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), System.Text.Encoding.ASCII.GetString(reply.ToArray()).Trim());
        }
        await server;
    }

    [Fact(DisplayName = "RFC 768 over IPv6 on TAP: socat's datagram reaches a Wirestack UDP socket, whose answer comes back")]
    public async Task UdpEcho()
    {
        Prerequisites.Require("socat");
        await using var tap = await TapStack.StartAsync(beforeStart: ns => HostIpv6Async(ns), options: StaticOptions());
        await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.Static);
        using var socket = await tap.Stack.BindUdpAsync(5300);
        var echo = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            var got = await socket.ReceiveFromAsync(buffer, TestContext.Current.CancellationToken);
            await socket.SendToAsync(buffer.AsMemory(0, got.ReceivedBytes), (IPEndPoint)got.RemoteEndPoint, TestContext.Current.CancellationToken);
            return (IPEndPoint)got.RemoteEndPoint;
        }, TestContext.Current.CancellationToken);
        var result = await tap.Namespace.ExecAsync($"sh -c 'echo hello-over-ipv6 | timeout 5 socat -t 3 - UDP6:[{StackGlobal}]:5300'", TimeSpan.FromSeconds(10));
        Assert.Contains("hello-over-ipv6", result.Output);
        Assert.Equal(IPAddress.Parse(KernelGlobal), (await echo).Address);
    }

    [Fact(DisplayName = "RFC 8106 and RFC 3596 over TAP: dnsmasq's RA names its DNS server; a dual-stack name resolves IPv6 first and the stack connects over IPv6 by name")]
    public async Task DnsOverIpv6ByName()
    {
        Prerequisites.Require("dnsmasq", "socat");
        Dnsmasq? dnsmasq = null;
        await using var tap = await TapStack.StartAsync(beforeStart: async ns =>
        {
            await HostIpv6Async(ns);
            dnsmasq = Dnsmasq.Start(ns, "--enable-ra", "--dhcp-range=::,constructor:tap0,ra-only,64,1h", "--ra-param=tap0,10,600",
                $"--host-record=dual.test,{KernelGlobal},{TapStack.KernelAddress}");
        });
        await using var _ = dnsmasq!;
        await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.Slaac);
        for (int i = 0; i < 100 && !tap.Stack.DnsServers.Any(s => s.AddressFamily == AddressFamily.InterNetworkV6); i++)
            await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Contains(tap.Stack.DnsServers, s => s.AddressFamily == AddressFamily.InterNetworkV6);

        // A loaded machine may answer AAAA later than the 50 ms RFC 8305 grants after A: the first answer can lack it,
        // but the late one fills the cache, so the second is whole.
        await tap.Stack.Dns.ResolveAsync("dual.test", TestContext.Current.CancellationToken);
        await Task.Delay(500, TestContext.Current.CancellationToken);
        var addresses = await tap.Stack.Dns.ResolveAsync("dual.test", TestContext.Current.CancellationToken);
        Assert.Equal([IPAddress.Parse(KernelGlobal), IPAddress.Parse(TapStack.KernelAddress)], addresses);

        var server = tap.Namespace.ExecAsync($"timeout 20 socat TCP6-LISTEN:5103,bind=[{KernelGlobal}],reuseaddr SYSTEM:'echo over-ipv6'", TimeSpan.FromSeconds(25));
        TcpConnection? connection = null;
        for (int attempt = 0; connection is null; attempt++)
        {
            try
            {
                connection = await tap.Stack.ConnectTcpAsync("dual.test", 5103, TestContext.Current.CancellationToken);
            }
            catch (SocketException) when (attempt < 50)
            {
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
        }
        await using (connection)
        {
            Assert.Equal(IPAddress.Parse(KernelGlobal), connection.RemoteEndPoint.Address);
            var reply = new MemoryStream();
            await connection.CopyToAsync(reply, TestContext.Current.CancellationToken);
            Assert.Contains("over-ipv6", System.Text.Encoding.ASCII.GetString(reply.ToArray()));
        }
        await server;
    }

    [Fact(DisplayName = "RFC 8415 over TAP: dnsmasq's RA sets M; the stack leases a DHCPv6 address (in dnsmasq's lease file), passes DAD, learns the DNS server, and answers ping -6 on it")]
    public async Task Dhcpv6FromDnsmasq()
    {
        Prerequisites.Require("dnsmasq", "ping");
        Dnsmasq? dnsmasq = null;
        await using var tap = await TapStack.StartAsync(beforeStart: async ns =>
        {
            await HostIpv6Async(ns);
            dnsmasq = Dnsmasq.Start(ns, "--enable-ra", "--dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64,1h", "--ra-param=tap0,10,600",
                $"--dhcp-option=option6:dns-server,[{KernelGlobal}]", $"--dhcp-option=option6:sntp-server,[{KernelGlobal}]");
        });
        await using var _ = dnsmasq!;
        var leased = await WaitForAddressAsync(tap.Stack, a => a.Origin == Ipv6AddressOrigin.Dhcpv6);
        Assert.StartsWith("2001:db8:1::1", leased.Address.ToString());
        Assert.Contains(IPAddress.Parse(KernelGlobal), tap.Stack.DnsServers);
        Assert.Contains(IPAddress.Parse(KernelGlobal), tap.Stack.NtpServers);
        var ping = await tap.Namespace.CheckAsync($"ping -6 -c 2 -i 0.2 -W 2 {leased.Address}");
        Assert.Contains("2 received", ping.Output);
        Assert.Contains(leased.Address.ToString(), await File.ReadAllTextAsync(dnsmasq!.LeaseFile, TestContext.Current.CancellationToken));
    }
}
