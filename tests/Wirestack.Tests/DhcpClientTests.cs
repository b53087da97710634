using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>The DHCP client against a scripted server on a virtual clock.</summary>
public sealed class DhcpClientTests
{
    static readonly Ipv4Address ServerIp = Frames.PeerIp;
    static readonly Ipv4Address Offered = Ipv4Address.Parse("192.168.0.77");

    sealed record Sent(DhcpMessageType Type, Ipv4Address Destination, uint Xid, Ipv4Address ClientAddress, Ipv4Address Requested, long At);

    static EngineHarness Start(DhcpClientSettings? settings = null) =>
        new(new StackOptions { Ipv4 = Ipv4Settings.FromDhcp(settings ?? new DhcpClientSettings { ProbeTime = TimeSpan.FromMilliseconds(100) }), Ipv6 = Ipv6Settings.Disabled(), RandomSeed = 3 }, learnPeer: false, discardStartup: false);

    static List<Sent> Collect(EngineHarness h, List<byte[]>? frames = null)
    {
        var result = new List<Sent>();
        foreach (var frame in frames ?? h.Drain())
        {
            if (!EthernetFrame.TryParse(frame, out var eth) || eth.EtherType != EtherType.Ipv4 || !Ipv4Packet.TryParse(eth.Payload, out var ip))
                continue;
            if (ip.Protocol != IpProtocol.Udp || !UdpDatagram.TryParse(ip.Payload, out var udp) || udp.DestinationPort != 67)
                continue;
            Assert.True(DhcpMessage.TryParse(udp.Payload, out var message));
            message.TryGetAddress(DhcpOption.RequestedAddress, out var requested);
            result.Add(new Sent(message.MessageType, ip.Destination, message.TransactionId, message.ClientAddress, requested, h.Now));
        }
        return result;
    }

    static void Reply(EngineHarness h, DhcpMessageType type, uint xid, uint leaseSeconds = 3600, Ipv4Address? destination = null, Ipv4Address? serverId = null,
        Ipv4Address? yourAddress = null, Ipv4Address? mask = null, Ipv4Address? router = null)
    {
        var buffer = new byte[600];
        var writer = new DhcpMessageWriter(buffer, DhcpMessage.BootReply, xid, Frames.StackMac, yourAddress: type == DhcpMessageType.Nak ? default : yourAddress ?? Offered);
        writer.Add(DhcpOption.MessageType, (byte)type);
        writer.Add(DhcpOption.ServerIdentifier, serverId ?? ServerIp);
        if (type != DhcpMessageType.Nak)
        {
            writer.Add(DhcpOption.SubnetMask, mask ?? Ipv4Address.Parse("255.255.255.0"));
            writer.Add(DhcpOption.Router, router ?? ServerIp);
            writer.Add(DhcpOption.DomainNameServer, [ServerIp]);
            writer.Add(DhcpOption.NtpServers, [ServerIp]);
            writer.AddSeconds(DhcpOption.LeaseTime, leaseSeconds);
        }
        int length = writer.Finish();
        var to = destination ?? Ipv4Address.Broadcast;
        var udp = Frames.UdpMessage(ServerIp, to, 67, 68, buffer.AsSpan(0, length));
        var packet = Frames.Ipv4(ServerIp, to, IpProtocol.Udp, udp);
        h.Inject(Frames.Ethernet(to.IsBroadcast ? MacAddress.Broadcast : Frames.StackMac, Frames.PeerMac, EtherType.Ipv4, packet));
    }

    static uint Bind(EngineHarness h, uint leaseSeconds = 3600)
    {
        var discover = Assert.Single(Collect(h));
        Assert.Equal(DhcpMessageType.Discover, discover.Type);
        Assert.Equal(Ipv4Address.Broadcast, discover.Destination);
        Reply(h, DhcpMessageType.Offer, discover.Xid, leaseSeconds);
        var request = Assert.Single(Collect(h));
        Assert.Equal(DhcpMessageType.Request, request.Type);
        Assert.Equal(Offered, request.Requested);
        Reply(h, DhcpMessageType.Ack, request.Xid, leaseSeconds);
        h.Advance(TimeSpan.FromMilliseconds(150)); // past the ARP probe
        Assert.True(h.Engine.Interface.IsConfigured);
        Assert.Equal(Offered, h.Engine.Interface.Address);
        // The server resolves us (and so is learned), as a real one would before unicasting.
        h.Inject(Frames.Arp(ArpOperation.Request, Frames.PeerMac, ServerIp, MacAddress.Zero, Offered));
        h.Drain();
        return request.Xid;
    }

    [Fact(DisplayName = "RFC 2131 4.4.1: in REQUESTING an ACK or NAK naming another server (a rogue one) is ignored")]
    public void IgnoresOtherServersWhileRequesting()
    {
        using var h = Start();
        var discover = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Offer, discover.Xid);
        var request = Assert.Single(Collect(h));
        var rogue = Ipv4Address.Parse("192.168.0.66");
        Reply(h, DhcpMessageType.Nak, request.Xid, serverId: rogue);
        Reply(h, DhcpMessageType.Ack, request.Xid, serverId: rogue);
        h.Advance(TimeSpan.FromMilliseconds(150));
        Assert.False(h.Engine.Interface.IsConfigured);
        Assert.Equal(Wirestack.Dhcp.DhcpClient.ClientState.Requesting, h.Engine.Dhcp!.State);
        Reply(h, DhcpMessageType.Ack, request.Xid);
        h.Advance(TimeSpan.FromMilliseconds(150));
        Assert.Equal(Offered, h.Engine.Interface.Address);
    }

    [Theory(DisplayName = "Rogue or broken DHCP server: an ACK for an address no host may take (0/8, loopback, multicast, class E, broadcast, the subnet's own network or broadcast address) configures nothing")]
    [InlineData("255.255.255.255")]
    [InlineData("224.0.0.5")]
    [InlineData("127.0.0.1")]
    [InlineData("0.1.2.3")]
    [InlineData("240.0.0.1")]
    [InlineData("192.168.0.0")]
    [InlineData("192.168.0.255")]
    public void RefusesNonUnicastAddress(string address)
    {
        using var h = Start();
        var discover = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Offer, discover.Xid);
        var request = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Ack, request.Xid, yourAddress: Ipv4Address.Parse(address));
        h.Advance(TimeSpan.FromMilliseconds(150));
        Assert.False(h.Engine.Interface.IsConfigured);
    }

    [Theory(DisplayName = "Rogue or broken DHCP server: a /0 or non-contiguous mask gives way to the classful prefix, and a router off the subnet is not used")]
    [InlineData("0.0.0.0", "192.168.0.1", 24, "192.168.0.1")]
    [InlineData("255.0.255.0", "192.168.0.1", 24, "192.168.0.1")]
    [InlineData("255.255.255.0", "10.9.9.9", 24, "0.0.0.0")]
    [InlineData("255.255.255.0", "192.168.0.77", 24, "0.0.0.0")]
    [InlineData("255.255.255.255", "10.9.9.9", 32, "10.9.9.9")]
    public void SanitizesMaskAndRouter(string mask, string router, int prefix, string gateway)
    {
        using var h = Start();
        var discover = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Offer, discover.Xid);
        var request = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Ack, request.Xid, mask: Ipv4Address.Parse(mask), router: Ipv4Address.Parse(router));
        h.Advance(TimeSpan.FromMilliseconds(150));
        Assert.Equal(Offered, h.Engine.Interface.Address);
        Assert.Equal(prefix, h.Engine.Interface.PrefixLength);
        Assert.Equal(Ipv4Address.Parse(gateway), h.Engine.Interface.Gateway);
    }

    [Fact(DisplayName = "Rogue or broken DHCP server: a lease of 0 s lasts a minute, instead of binding and expiring in a loop that fails every connection")]
    public void ZeroLeaseLastsAMinute()
    {
        using var h = Start();
        Bind(h, leaseSeconds: 0);
        h.Advance(TimeSpan.FromSeconds(29));
        Assert.True(h.Engine.Interface.IsConfigured);
        Assert.Equal(Wirestack.Dhcp.DhcpClient.ClientState.Bound, h.Engine.Dhcp!.State);
        Assert.Equal(60_000_000, h.Engine.Dhcp.Lease!.ExpiresAt - h.Engine.Dhcp.Lease.AcquiredAt);
    }

    [Fact(DisplayName = "RFC 2131 3.1: DISCOVER, OFFER, REQUEST, ACK, an RFC 5227 probe, then the address and options are applied")]
    public void AcquiresLease()
    {
        using var h = Start();
        Assert.Equal(StackState.Configuring, h.Engine.State);
        var discover = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Offer, discover.Xid);
        var request = Assert.Single(Collect(h));
        Assert.Equal(discover.Xid, request.Xid);
        Reply(h, DhcpMessageType.Ack, request.Xid);
        // The probe goes out (sender 0.0.0.0) before the address is used.
        var probe = h.Drain().Single();
        Assert.True(EthernetFrame.TryParse(probe, out var eth) && eth.EtherType == EtherType.Arp);
        Assert.True(ArpPacket.TryParse(eth.Payload, out var arp));
        Assert.True(arp.SenderProtocolAddress.IsAny);
        Assert.Equal(Offered, arp.TargetProtocolAddress);
        Assert.False(h.Engine.Interface.IsConfigured);
        h.Advance(TimeSpan.FromMilliseconds(150));
        Assert.Equal(Offered, h.Engine.Interface.Address);
        Assert.Equal(24, h.Engine.Interface.PrefixLength);
        Assert.Equal(ServerIp, h.Engine.Interface.Gateway);
        Assert.Equal([ServerIp], h.Engine.DnsServers);
        Assert.Equal([ServerIp], h.Engine.NtpServers);
        var kinds = new List<StackEventKind>();
        while (h.Engine.TryTakeEvent(out var e))
            kinds.Add(e.Kind);
        Assert.Equal([StackEventKind.LeaseAcquired, StackEventKind.DnsServerLearned, StackEventKind.SntpServerLearned], kinds);
    }

    [Fact(DisplayName = "RFC 5227 2.1.1: an answer to the probe declines the offer and waits before starting again")]
    public void DeclinesAddressInUse()
    {
        using var h = Start();
        var discover = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Offer, discover.Xid);
        var request = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Ack, request.Xid);
        h.Drain();
        h.Inject(Frames.Arp(ArpOperation.Reply, MacAddress.Parse("02:00:00:00:00:99"), Offered, Frames.StackMac, Ipv4Address.Any, Frames.StackMac));
        var decline = Assert.Single(Collect(h));
        Assert.Equal(DhcpMessageType.Decline, decline.Type);
        Assert.Equal(Offered, decline.Requested);
        Assert.False(h.Engine.Interface.IsConfigured);
        h.Advance(TimeSpan.FromSeconds(9));
        Assert.Empty(Collect(h));
        h.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(DhcpMessageType.Discover, Assert.Single(Collect(h)).Type);
    }

    [Fact(DisplayName = "RFC 2131 4.1: DISCOVER is retransmitted after about 4, 8 and 16 seconds")]
    public void RetransmissionBackoff()
    {
        using var h = Start();
        var times = new List<double>();
        for (int i = 0; i < 400; i++)
        {
            times.AddRange(Collect(h).Where(s => s.Type == DhcpMessageType.Discover).Select(s => s.At / 1e6));
            h.Advance(TimeSpan.FromMilliseconds(100));
        }
        Assert.True(times.Count >= 4);
        Assert.InRange(times[1] - times[0], 3, 5.1);
        Assert.InRange(times[2] - times[1], 7, 9.1);
        Assert.InRange(times[3] - times[2], 15, 17.1);
    }

    [Fact(DisplayName = "RFC 2131 4.4.5: at T1 the client renews by unicast to its server; the ACK extends the lease")]
    public void RenewsAtT1()
    {
        using var h = Start();
        Bind(h, leaseSeconds: 100);
        h.Advance(TimeSpan.FromSeconds(49));
        Assert.Empty(Collect(h));
        h.Advance(TimeSpan.FromSeconds(1.5));
        var renew = Assert.Single(Collect(h));
        Assert.Equal(DhcpMessageType.Request, renew.Type);
        Assert.Equal(ServerIp, renew.Destination);
        Assert.Equal(Offered, renew.ClientAddress);
        Reply(h, DhcpMessageType.Ack, renew.Xid, 100, Offered);
        Assert.Equal(StackEventKind.LeaseRenewed, Events(h).Last());
        Assert.Equal(Offered, h.Engine.Interface.Address);
        Assert.Equal(h.Now + 100_000_000, h.Engine.Dhcp!.Lease!.ExpiresAt);
    }

    [Fact(DisplayName = "RFC 2131 4.4.5: without an answer, at T2 the client rebinds by broadcast, and at expiry gives the address up")]
    public void RebindsThenExpires()
    {
        using var h = Start();
        Bind(h, leaseSeconds: 100);
        var sent = new List<Sent>();
        for (int i = 0; i < 1010; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            sent.AddRange(Collect(h));
        }
        var renewing = sent.Where(s => s.Type == DhcpMessageType.Request && s.Destination == ServerIp).ToList();
        var rebinding = sent.Where(s => s.Type == DhcpMessageType.Request && s.Destination.IsBroadcast).ToList();
        Assert.NotEmpty(renewing);
        Assert.All(renewing, s => Assert.InRange(s.At / 1e6, 50, 87.6));
        Assert.NotEmpty(rebinding);
        Assert.All(rebinding, s => Assert.InRange(s.At / 1e6, 87.5, 100.5));
        Assert.False(h.Engine.Interface.IsConfigured);
        Assert.Contains(StackEventKind.LeaseLost, Events(h));
        Assert.Equal(StackState.Configuring, h.Engine.State);
        Assert.Contains(sent, s => s.Type == DhcpMessageType.Discover && s.At / 1e6 > 100);
    }

    [Fact(DisplayName = "RFC 2131 4.4.4: a NAK to a renewal removes the address and restarts from INIT")]
    public void NakRestarts()
    {
        using var h = Start();
        Bind(h, leaseSeconds: 100);
        h.Advance(TimeSpan.FromSeconds(51));
        var renew = Assert.Single(Collect(h));
        Reply(h, DhcpMessageType.Nak, renew.Xid, destination: Offered);
        Assert.False(h.Engine.Interface.IsConfigured);
        Assert.Contains(StackEventKind.LeaseLost, Events(h));
        Assert.Equal(DhcpMessageType.Discover, Assert.Single(Collect(h)).Type);
    }

    [Fact(DisplayName = "RFC 2131 3.2: with a remembered address the client starts with INIT-REBOOT (REQUEST, no server id)")]
    public void InitReboot()
    {
        using var h = Start(new DhcpClientSettings { PreviousAddress = Offered.ToIPAddress(), ProbeTime = TimeSpan.Zero });
        var request = Assert.Single(Collect(h));
        Assert.Equal(DhcpMessageType.Request, request.Type);
        Assert.Equal(Offered, request.Requested);
        Reply(h, DhcpMessageType.Ack, request.Xid);
        Assert.Equal(Offered, h.Engine.Interface.Address);
    }

    [Fact(DisplayName = "RFC 2131 3.1 step 6: the lease is released on shutdown")]
    public void ReleasesOnShutdown()
    {
        using var h = Start();
        Bind(h);
        h.Engine.Shutdown();
        var release = Assert.Single(Collect(h));
        Assert.Equal(DhcpMessageType.Release, release.Type);
        Assert.Equal(ServerIp, release.Destination);
    }

    [Fact(DisplayName = "RFC 2132 2: an option whose length runs past the message, or a fixed-size option of the wrong size, is not read; nothing past a lying length is found")]
    public void LyingOptionLengthsAreRejected()
    {
        static byte[] Message(Action<byte[]> corrupt)
        {
            var bytes = new byte[400];
            var writer = new DhcpMessageWriter(bytes, DhcpMessage.BootReply, 0x1234, Frames.PeerMac);
            writer.Add(DhcpOption.MessageType, (byte)DhcpMessageType.Offer);
            writer.AddSeconds(DhcpOption.LeaseTime, 3600);
            writer.Add(DhcpOption.Router, Frames.PeerIp);
            int length = writer.Finish();
            var message = bytes[..length];
            corrupt(message);
            return message;
        }
        const int options = DhcpMessage.FixedLength + 4;   // message type at +0, lease time at +3, router at +9, End at +15

        Assert.True(DhcpMessage.TryParse(Message(_ => { }), out var honest));
        Assert.Equal(DhcpMessageType.Offer, honest.MessageType);
        Assert.True(honest.TryGetSeconds(DhcpOption.LeaseTime, out uint lease) && lease == 3600);
        Assert.True(honest.TryGetAddress(DhcpOption.Router, out var router) && router == Frames.PeerIp);

        // The lease time claims 200 bytes: past the end of the message.
        Assert.True(DhcpMessage.TryParse(Message(m => m[options + 4] = 200)[..(options + 40)], out var runsPast));
        Assert.False(runsPast.TryGetOption(DhcpOption.LeaseTime, out _));
        Assert.False(runsPast.TryGetAddress(DhcpOption.Router, out _));
        Assert.Equal(DhcpMessageType.Offer, runsPast.MessageType);

        // A message type of two bytes, a lease time of three: the wrong size for what they carry.
        Assert.True(DhcpMessage.TryParse(Message(m => m[options + 1] = 2), out var longType));
        Assert.Equal(DhcpMessageType.None, longType.MessageType);
        Assert.True(DhcpMessage.TryParse(Message(m => m[options + 4] = 3), out var shortLease));
        Assert.False(shortLease.TryGetSeconds(DhcpOption.LeaseTime, out _));

        // An option code in the last byte, with no room for its length.
        Assert.True(DhcpMessage.TryParse(Message(_ => { })[..(options + 10)], out var cut));
        Assert.False(cut.TryGetAddress(DhcpOption.Router, out _));
        Assert.Empty(cut.GetAddresses(DhcpOption.Router));
    }

    [Fact(DisplayName = "DHCP messages: 10,000 hostile byte strings never throw")]
    public void HostileMessages()
    {
        var random = new Random(2131);
        for (int i = 0; i < 10_000; i++)
        {
            var bytes = new byte[random.Next(0, 600)];
            random.NextBytes(bytes);
            if (bytes.Length > 240)
            {
                bytes[1] = 1;
                bytes[2] = 6;
                bytes[236] = 0x63; bytes[237] = 0x82; bytes[238] = 0x53; bytes[239] = 0x63;
            }
            if (DhcpMessage.TryParse(bytes, out var message))
            {
                _ = message.MessageType;
                _ = message.GetAddresses(DhcpOption.Router);
                _ = message.GetText(DhcpOption.DomainName);
                _ = message.TryGetSeconds(DhcpOption.LeaseTime, out _);
            }
        }
    }

    static List<StackEventKind> Events(EngineHarness h)
    {
        var kinds = new List<StackEventKind>();
        while (h.Engine.TryTakeEvent(out var e))
            kinds.Add(e.Kind);
        return kinds;
    }
}
