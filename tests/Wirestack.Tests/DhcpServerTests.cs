using System.Net;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>The stack's DHCP server and its DHCP client against each other on a virtual clock.</summary>
public sealed class DhcpServerTests
{
    static TwoEngines Network(DhcpServerSettings server, DhcpClientSettings? client = null, MacAddress? clientMac = null) => new(
        optionsA: new StackOptions
        {
            Ipv4 = Ipv4Settings.Static("10.0.0.1/24"),
            MacAddress = MacAddress.Parse("02:00:00:00:0a:01"),
            DhcpServer = server,
            RandomSeed = 1,
        },
        optionsB: new StackOptions
        {
            Ipv4 = Ipv4Settings.FromDhcp(client ?? new DhcpClientSettings { ProbeTime = TimeSpan.FromMilliseconds(100) }),
            MacAddress = clientMac ?? MacAddress.Parse("02:00:00:00:0a:02"),
            RandomSeed = 2,
        });

    static DhcpServerSettings Pool() => DhcpServerSettings.ParsePool("10.0.0.50-10.0.0.59") with
    {
        DnsServers = [IPAddress.Parse("10.0.0.1")],
        NtpServers = [IPAddress.Parse("10.0.0.1")],
        LeaseTime = TimeSpan.FromMinutes(10),
    };

    [Fact(DisplayName = "RFC 2131 4.3: the server leases the first free pool address with router, DNS, NTP and lease time")]
    public void LeasesFromPool()
    {
        using var net = Network(Pool());
        Assert.True(net.RunUntil(() => net.B.State == StackState.Ready, TimeSpan.FromSeconds(30)));
        Assert.Equal(Ipv4Address.Parse("10.0.0.50"), net.B.Interface.Address);
        Assert.Equal(24, net.B.Interface.PrefixLength);
        Assert.Equal(Ipv4Address.Parse("10.0.0.1"), net.B.Interface.Gateway);
        Assert.Equal([Ipv4Address.Parse("10.0.0.1")], net.B.DnsServers);
        Assert.Equal([Ipv4Address.Parse("10.0.0.1")], net.B.NtpServers);
        Assert.Equal(600_000_000, net.B.Dhcp!.Lease!.LeaseMicroseconds);
        Assert.Equal(1, net.A.DhcpServer!.BoundLeases);
    }

    [Fact(DisplayName = "RFC 2131 4.3.1: a static reservation by MAC wins over the pool")]
    public void Reservation()
    {
        var mac = MacAddress.Parse("02:00:00:00:0a:02");
        using var net = Network(Pool() with { Reservations = new Dictionary<MacAddress, IPAddress> { [mac] = IPAddress.Parse("10.0.0.200") } }, clientMac: mac);
        Assert.True(net.RunUntil(() => net.B.State == StackState.Ready, TimeSpan.FromSeconds(30)));
        Assert.Equal(Ipv4Address.Parse("10.0.0.200"), net.B.Interface.Address);
    }

    [Fact(DisplayName = "RFC 2131 4.3.1: a requested address is honoured when free")]
    public void HonoursRequestedAddress()
    {
        using var net = Network(Pool(), new DhcpClientSettings { PreviousAddress = IPAddress.Parse("10.0.0.57"), ProbeTime = TimeSpan.Zero });
        Assert.True(net.RunUntil(() => net.B.State == StackState.Ready, TimeSpan.FromSeconds(30)));
        Assert.Equal(Ipv4Address.Parse("10.0.0.57"), net.B.Interface.Address);
    }

    [Fact(DisplayName = "RFC 2131 4.3.2: an INIT-REBOOT request for a foreign address is NAKed and the client starts over in the pool")]
    public void NaksForeignAddress()
    {
        using var net = Network(Pool(), new DhcpClientSettings { PreviousAddress = IPAddress.Parse("192.168.9.9"), ProbeTime = TimeSpan.Zero });
        Assert.True(net.RunUntil(() => net.B.State == StackState.Ready, TimeSpan.FromSeconds(30)));
        Assert.Equal(Ipv4Address.Parse("10.0.0.50"), net.B.Interface.Address);
    }

    [Fact(DisplayName = "RFC 2131 4.4.5: renewals against the stack's own server keep the same address")]
    public void RenewalKeepsAddress()
    {
        using var net = Network(Pool() with { LeaseTime = TimeSpan.FromSeconds(60) });
        Assert.True(net.RunUntil(() => net.B.State == StackState.Ready, TimeSpan.FromSeconds(30)));
        var address = net.B.Interface.Address;
        net.RunUntil(() => false, TimeSpan.FromSeconds(200), stepMicroseconds: 100_000);
        Assert.Equal(address, net.B.Interface.Address);
        Assert.Equal(StackState.Ready, net.B.State);
    }
}
