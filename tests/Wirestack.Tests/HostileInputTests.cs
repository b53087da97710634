using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class HostileInputTests
{
    static long TotalDrops(EngineHarness h) => Enum.GetValues<StackCounter>().Where(StackCounters.IsDrop).Sum(h.Count);

    [Fact(DisplayName = "10,000 random and truncated frames: no exception, drops counted, the stack still answers ping")]
    public void RandomFramesThenPing()
    {
        using var h = new EngineHarness();
        h.Engine.Udp.Bind(7, new RecordingReceiver());
        var random = new Random(10_000);
        var valid = new List<byte[]>
        {
            Frames.Arp(ArpOperation.Request, Frames.PeerMac, Frames.PeerIp, MacAddress.Zero, Frames.StackIp),
            Frames.ToStack(IpProtocol.Icmp, Frames.EchoRequestMessage(1, 1, new byte[64])),
            Frames.ToStack(IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 1, 7, new byte[32])),
            Frames.Fragment(IpProtocol.Udp, new byte[64], 0, more: true, 9),
            Frames.Fragment(IpProtocol.Udp, new byte[64], 64, more: false, 9),
        };
        for (int i = 0; i < 10_000; i++)
        {
            byte[] frame;
            switch (i % 4)
            {
                case 0:
                    frame = new byte[random.Next(0, 1514)];
                    random.NextBytes(frame);
                    break;
                case 1:
                    // A valid frame cut anywhere.
                    var source = valid[random.Next(valid.Count)];
                    frame = source[..random.Next(0, source.Length + 1)];
                    break;
                case 2:
                    // Valid headers with random bytes flipped, aimed at our address so they get past the link layer.
                    frame = (byte[])valid[random.Next(valid.Count)].Clone();
                    for (int k = 0; k < 3; k++)
                        frame[random.Next(EthernetFrame.HeaderLength, frame.Length)] = (byte)random.Next(256);
                    break;
                default:
                    // Random bytes behind a correct Ethernet and IPv4 header with a random protocol and lengths.
                    var payload = new byte[random.Next(0, 200)];
                    random.NextBytes(payload);
                    var packet = Frames.Ipv4(Frames.PeerIp, Frames.StackIp, (byte)random.Next(256), payload, (ushort)random.Next(65536),
                        moreFragments: random.Next(4) == 0, fragmentOffset: random.Next(4) == 0 ? random.Next(8192) * 8 : 0);
                    frame = Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4, packet);
                    break;
            }
            h.Inject(frame);
            if (i % 1000 == 0)
                h.Advance(TimeSpan.FromSeconds(5));
        }
        h.Drain();
        long drops = TotalDrops(h);
        Assert.True(drops > 5_000, $"only {drops} drops counted");
        Assert.True(h.Count(StackCounter.DropIpv4BadChecksum) > 0);
        Assert.True(h.Count(StackCounter.DropLinkNotForUs) > 0);

        // Still alive: answers ping.
        h.Inject(Frames.Arp(ArpOperation.Request, Frames.PeerMac, Frames.PeerIp, MacAddress.Zero, Frames.StackIp));
        h.Drain();
        h.Inject(Frames.ToStack(IpProtocol.Icmp, Frames.EchoRequestMessage(42, 42, [4, 2])));
        var reply = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(reply, out var eth));
        Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
        Assert.True(Icmpv4Message.TryParse(ip.Payload, out var icmp));
        Assert.Equal(Icmpv4Type.EchoReply, icmp.Type);
        Assert.Equal(42, icmp.Identifier);
    }

    [Fact(DisplayName = "10,000 random, truncated and corrupted IPv6 frames (extension headers, fragments, NDP, MLD, DHCPv6): no exception, drops counted, the stack still answers ping -6")]
    public void RandomIpv6FramesThenPing()
    {
        using var h = Ipv6Frames.Started();
        var ours = Ipv6Frames.LinkLocal(h);
        var peer = Ipv6Frames.PeerLinkLocal;
        h.Engine.Udp.Bind(7, new RecordingReceiver());
        var random = new Random(60_000);
        var fragment = new byte[8];
        Ipv6FragmentHeader.Write(fragment, IpProtocol.Udp, 0, true, 5);
        var valid = new List<byte[]>
        {
            Ipv6Frames.NeighborSolicitation(ours, peer, ours.SolicitedNode, Frames.PeerMac),
            Ipv6Frames.NeighborAdvertisement(peer, ours, solicited: true, overrideFlag: true, Frames.PeerMac),
            Ipv6Frames.RouterAdvertisement(1800, [Ipv6Frames.PrefixOption(Ipv6Frames.Prefix, 64, 86400, 14400), Ipv6Frames.MtuOption(1400)], flags: 0xC0),
            Ipv6Frames.IcmpPacket(Icmpv6Type.EchoRequest, 0, [0, 1, 0, 1, 9, 9], peer, ours, hopLimit: 64),
            Ipv6Frames.IcmpPacket(Icmpv6Type.MulticastListenerQuery, 0, [0, 100, 0, 0, .. new byte[16], 0, 0, 0, 0], Ipv6Frames.RouterLinkLocal, IpAddress.AllNodes, hopLimit: 1),
            Ipv6Frames.Packet(peer, ours, Ipv6NextHeader.DestinationOptions, [IpProtocol.Udp, 0, 1, 4, 0, 0, 0, 0, 0, 1, 0, 7, 0, 8, 0, 0]),
            Ipv6Frames.Packet(peer, ours, Ipv6NextHeader.Fragment, [.. fragment, .. new byte[64]]),
            Ipv6Frames.Packet(peer, ours, IpProtocol.Udp, [0x02, 0x23, 0x02, 0x22, 0, 12, 0, 0, 7, 1, 2, 3]),
        };
        for (int i = 0; i < 10_000; i++)
        {
            byte[] frame;
            switch (i % 3)
            {
                case 0:
                    var cut = valid[random.Next(valid.Count)];
                    frame = cut[..random.Next(0, cut.Length + 1)];
                    break;
                case 1:
                    // Past the Ethernet and fixed IPv6 headers, so the damage reaches extension headers and messages.
                    frame = (byte[])valid[random.Next(valid.Count)].Clone();
                    for (int k = 0; k < 3; k++)
                        frame[random.Next(EthernetFrame.HeaderLength + 6, frame.Length)] = (byte)random.Next(256);
                    break;
                default:
                    var payload = new byte[random.Next(0, 300)];
                    random.NextBytes(payload);
                    frame = Ipv6Frames.Packet(peer, ours, (byte)random.Next(256), payload);
                    break;
            }
            h.Inject(frame);
            if (i % 1000 == 0)
                h.Advance(TimeSpan.FromSeconds(5));
        }
        h.Drain();
        long drops = TotalDrops(h);
        Assert.True(drops > 3_000, $"only {drops} drops counted");
        Assert.True(h.Count(StackCounter.DropIpv6HeaderChain) > 0);

        // Still alive: answers ping -6 (after the peer announces itself again).
        h.Inject(Ipv6Frames.NeighborSolicitation(ours, peer, ours.SolicitedNode, Frames.PeerMac));
        h.Drain();
        h.Inject(Ipv6Frames.IcmpPacket(Icmpv6Type.EchoRequest, 0, [0, 42, 0, 42, 4, 2], peer, ours, hopLimit: 64));
        Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.EchoReply));
    }
}
