using System.Buffers.Binary;
using Wirestack.Wire;
using static Wirestack.Tests.Ipv6Frames;

namespace Wirestack.Tests;

public sealed class PathMtuTests
{
    /// <summary>A Packet Too Big from the router about <paramref name="quoted"/> (a packet the stack sent).</summary>
    static byte[] PacketTooBig(uint mtu, byte[] quoted, IpAddress to)
    {
        var body = new byte[4 + Math.Min(quoted.Length, 1232)];
        BinaryPrimitives.WriteUInt32BigEndian(body, mtu);
        quoted.AsSpan(0, body.Length - 4).CopyTo(body.AsSpan(4));
        return IcmpPacket(Icmpv6Type.PacketTooBig, 0, body, RouterLinkLocal, to, hopLimit: 64, from: RouterMac);
    }

    static byte[] IpPacketOf(byte[] frame) => frame[EthernetFrame.HeaderLength..];

    /// <summary>An established connection from an off-link IPv6 client (through the router) to the stack's global address.</summary>
    static (EngineHarness H, TcpPeer Peer, uint StackIss, IpAddress Ours) Established()
    {
        var h = Started();
        h.Inject(RouterAdvertisement(1800, [PrefixOption(Prefix, 64, 86400, 14400)]));
        h.Step(TimeSpan.FromSeconds(3));
        h.Drain();
        var ours = h.Engine.Ipv6!.Addresses.Single(a => a.Origin == Ipv6AddressOrigin.Slaac).Address;
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 8, listener);
        var peer = new TcpPeer(h, address: IpAddress.Parse("2001:db8:99::7"), stackAddress: ours);
        var syn = TcpPeer.SynOptions(timestamps: false);
        peer.Send(1000, 0, TcpFlags.Syn, options: syn);
        var synAck = Assert.Single(peer.Received());
        Assert.Equal(1440, synAck.Options.MaximumSegmentSize); // RFC 8200 8.3: MTU - 60
        peer.Send(1001, synAck.Seq + 1, TcpFlags.Ack);
        Assert.Single(listener.Accepted);
        return (h, peer, synAck.Seq, ours);
    }

    [Fact(DisplayName = "RFC 8201 4: a Packet Too Big about a TCP segment shrinks the segments to the path MTU and resends the lost one at once")]
    public void TcpShrinksToPathMtu()
    {
        var (h, peer, iss, ours) = Established();
        using var _ = h;
        var connection = h.Engine.Tcp.Connections.Single();
        connection.Write(Frames.RandomBytes(8000, 1));
        connection.OnApplicationWrite();
        var frames = h.Drain();
        var first = frames.First(f => Parse(f) is { NextHeader: IpProtocol.Tcp } s && s.Payload.Length > 1000);
        Assert.Equal(1500, first.Length - EthernetFrame.HeaderLength);

        h.Inject(PacketTooBig(1400, IpPacketOf(first), ours));
        var resent = peer.Received();
        var again = Assert.Single(resent, s => s.Seq == iss + 1);
        Assert.Equal(1400 - 60, again.Payload.Length);
        Assert.Equal(1400 - 60, h.Engine.Tcp.Connections.Single().GetInfo().SendMss);
        Assert.Equal(1, h.Count(StackCounter.PathMtuReductions));
    }

    [Fact(DisplayName = "RFC 5927 5.2 (blind PMTU attack): a Packet Too Big quoting a sequence number outside the data in flight does not shrink the connection's segments")]
    public void QuoteOutsideFlightIgnored()
    {
        var (h, peer, iss, ours) = Established();
        using var _ = h;
        var connection = h.Engine.Tcp.Connections.Single();
        connection.Write(Frames.RandomBytes(8000, 1));
        connection.OnApplicationWrite();
        var first = h.Drain().First(f => Parse(f) is { NextHeader: IpProtocol.Tcp } s && s.Payload.Length > 1000);
        var forged = IpPacketOf(first);
        // The TCP sequence number sits 4 bytes into the segment, after the 40-byte IPv6 header.
        BinaryPrimitives.WriteUInt32BigEndian(forged.AsSpan(Ipv6Packet.HeaderLength + 4), iss + 1_000_000);
        h.Inject(PacketTooBig(1300, forged, ours));
        Assert.Equal(1440, connection.GetInfo().SendMss);
        Assert.DoesNotContain(peer.Received(), s => s.Seq == iss + 1);
    }

    [Fact(DisplayName = "RFC 8201 4: the path MTU never goes below 1280, and a larger reported MTU does not raise it")]
    public void NeverBelowMinimum()
    {
        var (h, _, _, ours) = Established();
        using var __ = h;
        var connection = h.Engine.Tcp.Connections.Single();
        connection.Write(Frames.RandomBytes(4000, 2));
        connection.OnApplicationWrite();
        var first = h.Drain().First(f => Parse(f) is { NextHeader: IpProtocol.Tcp } s && s.Payload.Length > 1000);
        h.Inject(PacketTooBig(500, IpPacketOf(first), ours));
        Assert.Equal(1280, h.Engine.PathMtu(IpAddress.Parse("2001:db8:99::7")));
        h.Inject(PacketTooBig(1400, IpPacketOf(first), ours));
        Assert.Equal(1280, h.Engine.PathMtu(IpAddress.Parse("2001:db8:99::7")));
    }

    [Fact(DisplayName = "RFC 8201 4: a Packet Too Big quoting a packet that is not ours is ignored")]
    public void ForgedQuoteIgnored()
    {
        var (h, _, _, ours) = Established();
        using var _ = h;
        var forged = new byte[48];
        Ipv6Packet.WriteHeader(forged, 8, IpProtocol.Udp, 64, IpAddress.Parse("2001:db8:1::99"), IpAddress.Parse("2001:db8:99::7"));
        h.Inject(PacketTooBig(1300, forged, ours));
        Assert.Equal(1500, h.Engine.PathMtu(IpAddress.Parse("2001:db8:99::7")));
        Assert.Equal(0, h.Count(StackCounter.PathMtuReductions));
    }

    [Fact(DisplayName = "RFC 8201 4: after a Packet Too Big, UDP datagrams to that destination are fragmented to the path MTU")]
    public void UdpFragmentsToPathMtu()
    {
        var (h, _, _, ours) = Established();
        using var _ = h;
        var remote = IpAddress.Parse("2001:db8:99::7");
        var binding = h.Engine.Udp.Bind(5000, new RecordingReceiver());
        h.Engine.Udp.Send(binding, remote, 9, Frames.RandomBytes(1400, 3));
        var whole = Assert.Single(h.Drain());
        h.Inject(PacketTooBig(1280, IpPacketOf(whole), ours));
        h.Engine.Udp.Send(binding, remote, 9, Frames.RandomBytes(1400, 3));
        var fragments = h.Drain();
        Assert.Equal(2, fragments.Count);
        Assert.All(fragments, f => Assert.True(f.Length - EthernetFrame.HeaderLength <= 1280));
    }
}
