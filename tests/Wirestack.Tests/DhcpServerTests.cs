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

    [Fact(DisplayName = "RFC 2131 4.3.1/4.3.2: a server with no record stays silent to INIT-REBOOT; the address, suggested again in the DISCOVER, is honoured when free")]
    public void HonoursRequestedAddress()
    {
        using var net = Network(Pool(), new DhcpClientSettings { PreviousAddress = IPAddress.Parse("10.0.0.57"), ProbeTime = TimeSpan.Zero });
        Assert.True(net.RunUntil(() => net.B.State == StackState.Ready, TimeSpan.FromSeconds(120)));
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

    /// <summary>A BOOTREQUEST sent from link address <paramref name="from"/> naming <paramref name="chaddr"/>.</summary>
    static void Request(EngineHarness h, MacAddress from, MacAddress chaddr, DhcpMessageType type, uint xid, Ipv4Address? requested = null, bool serverId = false,
        Ipv4Address? relay = null, Ipv4Address? source = null)
    {
        var buffer = new byte[600];
        var writer = new DhcpMessageWriter(buffer, DhcpMessage.BootRequest, xid, chaddr);
        if (relay is { } giaddr)
            giaddr.WriteTo(buffer.AsSpan(24));
        writer.Add(DhcpOption.MessageType, (byte)type);
        if (requested is { } address)
            writer.Add(DhcpOption.RequestedAddress, address);
        if (serverId)
            writer.Add(DhcpOption.ServerIdentifier, Frames.StackIp);
        int length = writer.Finish();
        var sender = source ?? Ipv4Address.Any;
        var udp = Frames.UdpMessage(sender, Ipv4Address.Broadcast, 68, 67, buffer.AsSpan(0, length));
        h.Inject(Frames.Ethernet(MacAddress.Broadcast, from, EtherType.Ipv4, Frames.Ipv4(sender, Ipv4Address.Broadcast, IpProtocol.Udp, udp)));
    }

    static List<DhcpMessageType> Replies(EngineHarness h)
    {
        var types = new List<DhcpMessageType>();
        foreach (var frame in h.Drain())
        {
            if (EthernetFrame.TryParse(frame, out var eth) && eth.EtherType == EtherType.Ipv4 && Ipv4Packet.TryParse(eth.Payload, out var ip)
                && ip.Protocol == IpProtocol.Udp && UdpDatagram.TryParse(ip.Payload, out var udp) && udp.DestinationPort == 68
                && DhcpMessage.TryParse(udp.Payload, out var message))
                types.Add(message.MessageType);
        }
        return types;
    }

    [Fact(DisplayName = "DHCP pool starvation from one host: 101 REQUESTs naming made-up client addresses bind nothing, and a new client still gets an offer")]
    public void StarvationFromOneHostRefused()
    {
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { DhcpServer = DhcpServerSettings.ParsePool("192.168.0.100-192.168.0.199") });
        var attacker = MacAddress.Parse("02:00:00:00:66:66");
        for (int i = 0; i < 101; i++)
        {
            var madeUp = MacAddress.Parse($"02:00:00:00:{i / 256:x2}:{i % 256:x2}");
            Request(h, attacker, madeUp, DhcpMessageType.Request, (uint)i, Ipv4Address.Parse($"192.168.0.{100 + i % 100}"), serverId: true);
        }
        Assert.Empty(Replies(h));
        Assert.Equal(0, h.Engine.DhcpServer!.BoundLeases);
        Assert.Equal(101, h.Count(StackCounter.DropDhcpSpoofedClient));
        var client = MacAddress.Parse("02:00:00:00:77:01");
        Request(h, client, client, DhcpMessageType.Discover, 9999);
        Assert.Equal([DhcpMessageType.Offer], Replies(h));
    }

    [Fact(DisplayName = "DHCP pool starvation past the snooping check: a relayed message (giaddr set, which skipped the hardware-address check) and one from a source off the segment are refused and counted")]
    public void RelayedAndOffSegmentRefused()
    {
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { DhcpServer = DhcpServerSettings.ParsePool("192.168.0.100-192.168.0.199") });
        var attacker = MacAddress.Parse("02:00:00:00:66:66");
        var madeUp = MacAddress.Parse("02:00:00:00:99:01");
        Request(h, attacker, madeUp, DhcpMessageType.Discover, 1, relay: Ipv4Address.Parse("192.168.0.1"));
        Request(h, attacker, attacker, DhcpMessageType.Discover, 2, source: Ipv4Address.Parse("10.9.9.9"));
        Assert.Empty(Replies(h));
        Assert.Equal(2, h.Count(StackCounter.DropDhcpSpoofedClient));
        Request(h, attacker, attacker, DhcpMessageType.Discover, 3, source: Ipv4Address.Parse("192.168.0.9"));
        Assert.Equal([DhcpMessageType.Offer], Replies(h));
    }

    [Fact(DisplayName = "RFC 2131 4.3.2: a REQUEST naming us for an address never offered to that client is NAKed; new offers and bindings are rate limited")]
    public void OnlyOfferedAddressesBindAndBindingsAreRateLimited()
    {
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { DhcpServer = DhcpServerSettings.ParsePool("192.168.0.100-192.168.0.199") });
        var client = MacAddress.Parse("02:00:00:00:77:02");
        Request(h, client, client, DhcpMessageType.Request, 1, Ipv4Address.Parse("192.168.0.150"), serverId: true);
        Assert.Equal([DhcpMessageType.Nak], Replies(h));
        // Forged link addresses, each a proper DISCOVER then REQUEST, all at once: the burst is offered and binds, the
        // rest gets no offer (and its REQUEST, naming nothing offered, a NAK).
        for (int i = 0; i < 100; i++)
        {
            var forged = MacAddress.Parse($"02:00:00:01:00:{i:x2}");
            Request(h, forged, forged, DhcpMessageType.Discover, (uint)(100 + i));
            var offered = h.Engine.DhcpServer!.OfferedTo(forged) ?? Ipv4Address.Parse("192.168.0.199");
            Request(h, forged, forged, DhcpMessageType.Request, (uint)(100 + i), offered, serverId: true);
        }
        Assert.Equal(20, h.Engine.DhcpServer!.BoundLeases);
        Assert.Equal(80, h.Count(StackCounter.DropDhcpRateLimited));
    }
}
