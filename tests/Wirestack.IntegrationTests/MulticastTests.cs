using System.Net;
using System.Net.Sockets;

namespace Wirestack.IntegrationTests;

/// <summary>Multicast between the kernel and Wirestack over TAP: IGMPv3 and MLDv2 seen by the kernel, datagrams both ways.</summary>
public sealed class MulticastTests
{
    /// <summary>
    /// The TAP as a port of a bridge that snoops IGMP and MLD and queries for them, so the kernel's multicast
    /// database (<c>bridge mdb</c>) shows what the device reports.
    /// </summary>
    static async Task BridgeWithSnooping(TestNamespace ns)
    {
        await ns.CheckAsync("ip addr flush dev tap0");
        await ns.CheckAsync("ip link add br0 type bridge mcast_snooping 1 mcast_querier 1 mcast_query_response_interval 100");
        await ns.CheckAsync("ip link set tap0 master br0");
        await ns.CheckAsync($"ip addr add {TapStack.KernelAddress}/24 dev br0");
        await ns.CheckAsync("ip link set br0 up");
    }

    async Task<bool> MdbListsAsync(TestNamespace ns, string group)
    {
        for (int i = 0; i < 100; i++)
        {
            var mdb = await ns.ExecAsync("bridge mdb show");
            if (mdb.Output.Contains($"port tap0 grp {group}", StringComparison.Ordinal))
                return true;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return false;
    }

    /// <summary>Sends from the kernel every 200 ms (a new bridge's addresses need a moment) until the socket hears it.</summary>
    static async Task<UdpReceiveResult> HearAsync(TapStack tap, UdpSocket socket, string send)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (true)
        {
            await tap.Namespace.ExecAsync($"bash -c 'echo -n multicast | {send}'", TimeSpan.FromSeconds(5));
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
            wait.CancelAfter(TimeSpan.FromMilliseconds(200));
            try
            {
                return await socket.ReceiveAsync(wait.Token);
            }
            catch (OperationCanceledException) when (!timeout.IsCancellationRequested)
            {
            }
        }
    }

    [Fact(DisplayName = "RFC 3376 and RFC 3810 over TAP: a Wirestack socket joins 239.1.2.3 and ff05::1234; the kernel bridge's multicast database lists both on the TAP port, kernel senders reach the socket, and leaving removes them")]
    public async Task KernelSeesMembershipAndSends()
    {
        Prerequisites.Require("socat", "bridge");
        var ct = TestContext.Current.CancellationToken;
        await using var tap = await TapStack.StartAsync(beforeStart: BridgeWithSnooping);
        using var socket = await tap.Stack.BindUdpAsync(5000);
        await socket.JoinMulticastGroupAsync(IPAddress.Parse("239.1.2.3"));
        await socket.JoinMulticastGroupAsync(IPAddress.Parse("ff05::1234"));
        Assert.True(await MdbListsAsync(tap.Namespace, "239.1.2.3"), (await tap.Namespace.ExecAsync("bridge mdb show")).Output);
        Assert.True(await MdbListsAsync(tap.Namespace, "ff05::1234"), (await tap.Namespace.ExecAsync("bridge mdb show")).Output);

        var heard = await HearAsync(tap, socket, "socat -u - UDP4-DATAGRAM:239.1.2.3:5000,ip-multicast-if=" + TapStack.KernelAddress);
        Assert.Equal("multicast"u8.ToArray(), heard.Buffer);
        Assert.Equal(IPAddress.Parse(TapStack.KernelAddress), heard.RemoteEndPoint.Address);
        var heard6 = await HearAsync(tap, socket, "socat -u - UDP6-DATAGRAM:[ff05::1234]:5000,so-bindtodevice=br0");
        Assert.Equal("multicast"u8.ToArray(), heard6.Buffer);
        Assert.True(heard6.RemoteEndPoint.Address.IsIPv6LinkLocal);

        // The querier's queries are answered: the memberships stay while the socket does; leaving withdraws them.
        Assert.True(tap.Stack.GetCounter(StackCounter.IgmpReportsSent) >= 2);
        await socket.DropMulticastGroupAsync(IPAddress.Parse("239.1.2.3"));
        for (int i = 0; i < 100 && (await tap.Namespace.ExecAsync("bridge mdb show")).Output.Contains("grp 239.1.2.3", StringComparison.Ordinal); i++)
            await Task.Delay(100, ct);
        Assert.DoesNotContain("grp 239.1.2.3", (await tap.Namespace.ExecAsync("bridge mdb show")).Output);
    }

    [Fact(DisplayName = "Over TAP: a Wirestack socket sends to a group with TTL 1 and a kernel socket that joined it (socat ip-add-membership) receives the datagram")]
    public async Task KernelReceivesFromStack()
    {
        Prerequisites.Require("socat");
        var ct = TestContext.Current.CancellationToken;
        await using var tap = await TapStack.StartAsync();
        // The kernel listener runs 4 s; the stack sends every 200 ms meanwhile (the listener needs a moment to join).
        var listener = tap.Namespace.ExecAsync(
            $"timeout 4 socat -u UDP4-RECV:6000,ip-add-membership=239.5.5.5:{TapStack.KernelAddress} STDOUT", TimeSpan.FromSeconds(15));
        using var socket = await tap.Stack.BindUdpAsync();
        while (!listener.IsCompleted)
        {
            await socket.SendToAsync("hello group"u8.ToArray(), new IPEndPoint(IPAddress.Parse("239.5.5.5"), 6000), ct);
            await Task.Delay(200, ct);
        }
        var received = await listener;
        Assert.Contains("hello group", received.Output);
    }
}
