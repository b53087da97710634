using System.Net;

namespace Wirestack.IntegrationTests;

public sealed class DhcpTests
{
    [Fact(DisplayName = "RFC 2131 over TAP: a lease from dnsmasq (in its lease file), DNS and NTP servers learned, then Ready")]
    public async Task LeaseFromDnsmasq()
    {
        Prerequisites.Require("dnsmasq");
        Dnsmasq? server = null;
        var events = new List<StackEventArgs>();
        await using var tap = await TapStack.StartAsync(
            ipv4: Ipv4Settings.FromDhcp(new DhcpClientSettings { HostName = "wirestack-test", RetransmissionScale = 0.25 }),
            beforeStart: ns =>
            {
                server = Dnsmasq.Start(ns);
                return Task.CompletedTask;
            }, waitReady: false);
        await using var _ = server!;
        tap.Stack.EventRaised += (_, e) => { lock (events) events.Add(e); };
        await tap.Stack.WaitUntilReadyAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        var lease = tap.Stack.Lease;
        Assert.NotNull(lease);
        Assert.Equal(24, lease.PrefixLength);
        Assert.Equal(IPAddress.Parse("192.168.0.1"), lease.Gateway);
        Assert.Equal(TimeSpan.FromMinutes(2), lease.Duration);
        Assert.Contains(IPAddress.Parse("192.168.0.1"), tap.Stack.DnsServers);
        Assert.Contains(IPAddress.Parse("192.168.0.1"), tap.Stack.NtpServers);
        var leases = await File.ReadAllTextAsync(server!.LeaseFile, TestContext.Current.CancellationToken);
        Assert.Contains(lease.Address.ToString(), leases);
        Assert.Contains("wirestack-test", leases);
        var ping = await tap.Namespace.CheckAsync($"ping -c 2 -i 0.2 -W 2 {lease.Address}");
        Assert.Contains("2 received", ping.Output);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        lock (events)
        {
            Assert.Contains(events, e => e.Kind == StackEventKind.LeaseAcquired);
            Assert.Contains(events, e => e.Kind == StackEventKind.DnsServerLearned && e.Message == "Got DNS from DHCP: 192.168.0.1");
            Assert.Contains(events, e => e.Kind == StackEventKind.SntpServerLearned && e.Message == "Got SNTP from DHCP: 192.168.0.1");
        }
    }

    [Fact(DisplayName = "RFC 2131 4.4.5 over TAP: the lease is renewed at T1 (unicast) before expiry without dropping the address")]
    public async Task RenewsBeforeExpiry()
    {
        Prerequisites.Require("dnsmasq");
        Dnsmasq? server = null;
        var renewed = new TaskCompletionSource<StackEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lost = false;
        // T1 = 5 s, T2 = 8 s on a 2 minute lease: dnsmasq's shortest lease, renewal sped up.
        await using var tap = await TapStack.StartAsync(
            ipv4: Ipv4Settings.FromDhcp(new DhcpClientSettings { RetransmissionScale = 0.25 }),
            beforeStart: ns =>
            {
                server = Dnsmasq.Start(ns, "--dhcp-option=option:T1,5", "--dhcp-option=option:T2,8");
                return Task.CompletedTask;
            }, waitReady: false);
        await using var _ = server!;
        tap.Stack.EventRaised += (_, e) =>
        {
            if (e.Kind == StackEventKind.LeaseRenewed)
                renewed.TrySetResult(e);
            if (e.Kind == StackEventKind.LeaseLost)
                lost = true;
        };
        await tap.Stack.WaitUntilReadyAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        var address = tap.Stack.Ipv4Address;
        await renewed.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.False(lost);
        Assert.Equal(address, tap.Stack.Ipv4Address);
        Assert.Equal(StackState.Ready, tap.Stack.State);
        Assert.True(tap.Stack.Lease!.Remaining > TimeSpan.FromSeconds(100));
    }

    [Fact(DisplayName = "RFC 1035 over TAP: with DNS learned from DHCP, the stack resolves a name dnsmasq serves; unknown names are HostNotFound")]
    public async Task ResolvesThroughDnsmasq()
    {
        Prerequisites.Require("dnsmasq");
        Dnsmasq? server = null;
        await using var tap = await TapStack.StartAsync(
            ipv4: Ipv4Settings.FromDhcp(new DhcpClientSettings { RetransmissionScale = 0.25 }),
            beforeStart: ns =>
            {
                server = Dnsmasq.Start(ns, "--host-record=printer.lan.test,192.168.0.200", "--address=/blocked.test/");
                return Task.CompletedTask;
            }, waitReady: false);
        await using var _ = server!;
        await tap.Stack.WaitUntilReadyAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        var addresses = await tap.Stack.Dns.ResolveAsync("printer.lan.test", TestContext.Current.CancellationToken);
        Assert.Equal([IPAddress.Parse("192.168.0.200")], addresses);
        var e = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() => tap.Stack.Dns.ResolveAsync("nothing.blocked.test", TestContext.Current.CancellationToken));
        Assert.Equal(System.Net.Sockets.SocketError.HostNotFound, e.SocketErrorCode);
    }
}
