using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class IcmpTests
{
    static (Ipv4Address Destination, byte[] Icmp) ParseIcmp(byte[] frame)
    {
        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.Equal(EtherType.Ipv4, eth.EtherType);
        Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        Assert.True(Icmpv4Message.TryParse(ip.Payload, out var icmp));
        Assert.True(icmp.IsChecksumValid);
        return (ip.Destination, ip.Payload.ToArray());
    }

    [Theory(DisplayName = "RFC 792 echo: a request is answered with the same identifier, sequence and data")]
    [InlineData(0)]
    [InlineData(56)]
    [InlineData(1472)]
    public void EchoReply(int size)
    {
        using var h = new EngineHarness();
        var data = Frames.RandomBytes(size, size);
        h.Inject(Frames.ToStack(IpProtocol.Icmp, Frames.EchoRequestMessage(0x1234, 9, data)));
        var (destination, reply) = ParseIcmp(Assert.Single(h.Drain()));
        Assert.Equal(Frames.PeerIp, destination);
        Icmpv4Message.TryParse(reply, out var icmp);
        Assert.Equal(Icmpv4Type.EchoReply, icmp.Type);
        Assert.Equal(0x1234, icmp.Identifier);
        Assert.Equal(9, icmp.SequenceNumber);
        Assert.Equal(data, icmp.Payload.ToArray());
    }

    [Theory(DisplayName = "VLAN hopping attack: a frame tagged for any VLAN is not for an interface on none (dropped and counted); a priority tag (VLAN 0, IEEE 802.1Q 9.6) is")]
    [InlineData(0, true)]
    [InlineData(1, false)]
    [InlineData(42, false)]
    [InlineData(4095, false)]
    public void VlanTaggedFrames(int vlan, bool answered)
    {
        using var h = new EngineHarness();
        var untagged = Frames.ToStack(IpProtocol.Icmp, Frames.EchoRequestMessage(0x1234, 9, [1, 2, 3]));
        // The tag goes between the source MAC and the EtherType: 0x8100, then priority 5 and the VLAN ID.
        byte[] tagged = [.. untagged.AsSpan(0, 12), 0x81, 0x00, (byte)(0xA0 | vlan >> 8), (byte)vlan, .. untagged.AsSpan(12)];
        long before = h.Count(StackCounter.DropLinkNotForUs);
        h.Inject(tagged);
        Assert.Equal(answered ? 1 : 0, h.Drain().Count);
        Assert.Equal(answered ? 0 : 1, h.Count(StackCounter.DropLinkNotForUs) - before);
    }

    [Fact(DisplayName = "RFC 7739 3.5 (idle scan): the IPv4 identifications a host sees step by one per datagram to it, and traffic to another host does not move them")]
    public void IdentificationsPerDestination()
    {
        using var h = new EngineHarness();
        // Another host on the link, whose flow shares no counter with the peer's.
        var other = Enumerable.Range(10, 200).Select(i => new Ipv4Address(0xC0A8_0000u + (uint)i))
            .First(a => h.Engine.PacketIdentifiers.BucketOf(Frames.StackIp, a, IpProtocol.Icmp) != h.Engine.PacketIdentifiers.BucketOf(Frames.StackIp, Frames.PeerIp, IpProtocol.Icmp));
        var otherMac = MacAddress.Parse("02:00:00:00:00:33");
        h.Inject(Frames.Arp(ArpOperation.Request, otherMac, other, MacAddress.Zero, Frames.StackIp));
        h.Drain();
        ushort Echo(Ipv4Address from, MacAddress mac)
        {
            h.Inject(Frames.Ethernet(Frames.StackMac, mac, EtherType.Ipv4, Frames.Ipv4(from, Frames.StackIp, IpProtocol.Icmp, Frames.EchoRequestMessage(1, 1, [1]))));
            var frame = Assert.Single(h.Drain());
            Assert.True(EthernetFrame.TryParse(frame, out var eth));
            Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
            return ip.Identification;
        }
        ushort first = Echo(Frames.PeerIp, Frames.PeerMac);
        Assert.Equal((ushort)(first + 1), Echo(Frames.PeerIp, Frames.PeerMac));
        for (int i = 0; i < 10; i++)
            Echo(other, otherMac);
        Assert.Equal((ushort)(first + 2), Echo(Frames.PeerIp, Frames.PeerMac));
    }

    [Fact(DisplayName = "RFC 792 echo with RFC 791 reassembly: an 8000-byte request arriving in fragments gets a fragmented reply")]
    public void FragmentedEcho()
    {
        using var h = new EngineHarness();
        var data = Frames.RandomBytes(8000, 3);
        var request = Frames.EchoRequestMessage(1, 1, data);
        foreach (var fragment in Frames.Fragments(IpProtocol.Icmp, request, 1480, identification: 77))
            h.Inject(fragment);
        var frames = h.Drain();
        Assert.Equal(6, frames.Count);
        Assert.Equal(1, h.Count(StackCounter.Ipv4DatagramsReassembled));

        // Reassemble the reply by hand, checking each fragment's fields.
        var reply = new byte[request.Length];
        int covered = 0;
        ushort? id = null;
        foreach (var frame in frames)
        {
            Assert.True(EthernetFrame.TryParse(frame, out var eth));
            Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
            Assert.True(ip.IsHeaderChecksumValid);
            Assert.True(ip.TotalLength <= 1500);
            id ??= ip.Identification;
            Assert.Equal(id, ip.Identification);
            ip.Payload.CopyTo(reply.AsSpan(ip.FragmentOffset));
            covered += ip.Payload.Length;
            Assert.Equal(ip.FragmentOffset + ip.Payload.Length < request.Length, ip.MoreFragments);
        }
        Assert.Equal(request.Length, covered);
        Assert.True(Icmpv4Message.TryParse(reply, out var icmp) && icmp.IsChecksumValid);
        Assert.Equal(Icmpv4Type.EchoReply, icmp.Type);
        Assert.Equal(data, icmp.Payload.ToArray());
    }

    [Fact(DisplayName = "RFC 1122 3.2.2.6: echo requests to a broadcast address are not answered")]
    public void NoEchoToBroadcast()
    {
        using var h = new EngineHarness();
        var packet = Frames.Ipv4(Frames.PeerIp, Ipv4Address.Parse("192.168.0.255"), IpProtocol.Icmp, Frames.EchoRequestMessage(1, 1, [1]));
        h.Inject(Frames.Ethernet(MacAddress.Broadcast, Frames.PeerMac, EtherType.Ipv4, packet));
        Assert.Empty(h.Drain());
        Assert.Equal(1, h.Count(StackCounter.DropIcmpIgnored));
    }

    [Fact(DisplayName = "RFC 1122 4.1.3.1: UDP to a closed port gets Destination Unreachable, code 3, quoting the datagram")]
    public void PortUnreachable()
    {
        using var h = new EngineHarness();
        var udp = Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 33000, 9999, [1, 2, 3]);
        h.Inject(Frames.ToStack(IpProtocol.Udp, udp));
        var (destination, message) = ParseIcmp(Assert.Single(h.Drain()));
        Assert.Equal(Frames.PeerIp, destination);
        Icmpv4Message.TryParse(message, out var icmp);
        Assert.Equal(Icmpv4Type.DestinationUnreachable, icmp.Type);
        Assert.Equal(UnreachableCode.Port, icmp.Code);
        Assert.True(Ipv4Packet.TryParse(icmp.Payload, out var quoted));
        Assert.Equal(Frames.StackIp, quoted.Destination);
        Assert.Equal(udp, quoted.Payload.ToArray());
        Assert.Equal(1, h.Count(StackCounter.DropUdpNoListener));
    }

    [Fact(DisplayName = "RFC 1122 3.2.2.1: an unknown protocol gets Destination Unreachable, code 2")]
    public void ProtocolUnreachable()
    {
        using var h = new EngineHarness();
        h.Inject(Frames.ToStack(132, [1, 2, 3, 4]));
        var (_, message) = ParseIcmp(Assert.Single(h.Drain()));
        Icmpv4Message.TryParse(message, out var icmp);
        Assert.Equal(Icmpv4Type.DestinationUnreachable, icmp.Type);
        Assert.Equal(UnreachableCode.Protocol, icmp.Code);
        Assert.Equal(1, h.Count(StackCounter.DropIpv4UnsupportedProtocol));
    }

    [Fact(DisplayName = "RFC 1122 3.2.2: no ICMP error about a datagram sent to a broadcast address")]
    public void NoErrorsAboutBroadcast()
    {
        using var h = new EngineHarness();
        var udp = Frames.UdpMessage(Frames.PeerIp, Ipv4Address.Broadcast, 68, 9999, [1]);
        h.Inject(Frames.Ethernet(MacAddress.Broadcast, Frames.PeerMac, EtherType.Ipv4, Frames.Ipv4(Frames.PeerIp, Ipv4Address.Broadcast, IpProtocol.Udp, udp)));
        Assert.Empty(h.Drain());
        Assert.Equal(1, h.Count(StackCounter.DropUdpNoListener));
    }

    [Fact(DisplayName = "ICMP errors are rate limited: a burst, then the configured rate on average; the count an observer can make varies at random (SAD DNS, CVE-2020-25705)")]
    public void ErrorsAreRateLimited()
    {
        var bursts = new HashSet<int>();
        for (int seed = 1; seed <= 8; seed++)
        {
            var options = EngineHarness.DefaultOptions() with { IcmpErrorsPerSecond = 10, IcmpErrorBurst = 5, RandomSeed = seed };
            using var h = new EngineHarness(options);
            int Probe(int count)
            {
                for (int i = 0; i < count; i++)
                    h.Inject(Frames.ToStack(IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 1000, (ushort)(2000 + i), [1])));
                return h.Drain().Count;
            }
            // Twice the burst in tokens, each error costing 1 to 3.
            int burst = Probe(20);
            Assert.InRange(burst, 3, 10);
            Assert.Equal(20 - burst, h.Count(StackCounter.DropIcmpRateLimited));
            bursts.Add(burst);
            // Then a minute of 50 probes a second, one every 20 ms: 10 errors a second on average.
            int sent = 0;
            for (int tick = 0; tick < 3000; tick++)
            {
                h.Advance(TimeSpan.FromMilliseconds(20));
                sent += Probe(1);
            }
            Assert.InRange(sent, 540, 660);
        }
        Assert.True(bursts.Count > 1, "the burst an observer counts is always the same");
    }

    [Theory(DisplayName = "RFC 1122 4.1.3.3: ICMP errors reach the UDP socket that sent the datagram")]
    [InlineData((byte)Icmpv4Type.DestinationUnreachable, UnreachableCode.Port, SocketError.ConnectionRefused)]
    [InlineData((byte)Icmpv4Type.DestinationUnreachable, UnreachableCode.Host, SocketError.HostUnreachable)]
    [InlineData((byte)Icmpv4Type.DestinationUnreachable, UnreachableCode.Network, SocketError.NetworkUnreachable)]
    [InlineData((byte)Icmpv4Type.TimeExceeded, 0, SocketError.HostUnreachable)]
    public void ErrorsReachSocket(byte icmpType, byte code, SocketError expected)
    {
        var type = (Icmpv4Type)icmpType;
        using var h = new EngineHarness();
        var receiver = new RecordingReceiver();
        var binding = h.Engine.Udp.Bind(4000, receiver);
        h.Engine.Udp.Send(binding, Frames.PeerIp, 7, [1, 2, 3]);
        var sent = Assert.Single(h.Drain());
        EthernetFrame.TryParse(sent, out var eth);
        var quote = eth.Payload[..28].ToArray();
        var error = new byte[8 + quote.Length];
        quote.CopyTo(error, 8);
        Icmpv4Message.WriteHeader(error, type, code, 0);
        h.Inject(Frames.ToStack(IpProtocol.Icmp, error));
        var reported = Assert.Single(receiver.Errors);
        Assert.Equal(expected, reported.Error);
        Assert.Equal(Frames.PeerIp, reported.Remote);
        Assert.Equal(7, reported.RemotePort);
    }

    [Fact(DisplayName = "Spoofed ICMP (RFC 5927 4.1 spirit): an unreachable quoting a datagram to a peer the socket is not talking to reaches no socket")]
    public void SpoofedErrorsAreIgnored()
    {
        using var h = new EngineHarness();
        var receiver = new RecordingReceiver();
        var binding = h.Engine.Udp.Bind(4000, receiver);
        h.Engine.Udp.Send(binding, Frames.PeerIp, 53, [1, 2, 3]);
        h.Drain();
        // A blind attacker knows the server but guesses the port it was asked on, or names another server.
        foreach (var (remote, port) in new[] { (Frames.PeerIp, (ushort)54), (Ipv4Address.Parse("192.168.0.9"), (ushort)53) })
        {
            var quoted = Frames.Ipv4(Frames.StackIp, remote, IpProtocol.Udp, Frames.UdpMessage(Frames.StackIp, remote, 4000, port, [1, 2, 3]));
            var error = new byte[8 + 28];
            quoted.AsSpan(0, 28).CopyTo(error.AsSpan(8));
            Icmpv4Message.WriteHeader(error, Icmpv4Type.DestinationUnreachable, UnreachableCode.Port, 0);
            h.Inject(Frames.ToStack(IpProtocol.Icmp, error));
        }
        Assert.Empty(receiver.Errors);
        Assert.Equal(2, h.Count(StackCounter.DropIcmpIgnored));
    }

    [Fact(DisplayName = "RFC 792: ICMP with a bad checksum is dropped and counted")]
    public void BadChecksumDropped()
    {
        using var h = new EngineHarness();
        var message = Frames.EchoRequestMessage(1, 1, [1, 2]);
        message[3] ^= 0xFF;
        h.Inject(Frames.ToStack(IpProtocol.Icmp, message));
        Assert.Empty(h.Drain());
        Assert.Equal(1, h.Count(StackCounter.DropIcmpMalformed));
    }
}
