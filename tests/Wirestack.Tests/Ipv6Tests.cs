using System.Buffers.Binary;
using Wirestack.Wire;
using static Wirestack.Tests.Ipv6Frames;

namespace Wirestack.Tests;

public sealed class Ipv6Tests
{
    /// <summary>A started engine that already knows the peer's link address (so replies go out at once).</summary>
    static EngineHarness WithPeer(out IpAddress ours, int mtu = 1500)
    {
        var h = Started(mtu: mtu);
        ours = LinkLocal(h);
        h.Inject(NeighborSolicitation(ours, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac));
        h.Drain();
        return h;
    }

    static byte[] Udp(IpAddress source, IpAddress destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload, bool zeroChecksum = false)
    {
        var datagram = new byte[UdpDatagram.HeaderLength + payload.Length];
        payload.CopyTo(datagram.AsSpan(UdpDatagram.HeaderLength));
        UdpDatagram.WriteHeader(datagram, sourcePort, destinationPort, payload.Length, source, destination);
        if (zeroChecksum)
            BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(6), 0);
        return datagram;
    }

    [Fact(DisplayName = "RFC 4443 4.2: an echo request to the link-local address is answered with the same identifier, sequence and data")]
    public void EchoIsAnswered()
    {
        using var h = WithPeer(out var ours);
        byte[] body = [0x12, 0x34, 0x00, 0x07, .. Frames.RandomBytes(56, 1)];
        h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, body, PeerLinkLocal, ours, hopLimit: 64));
        var reply = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.EchoReply));
        Assert.Equal(ours, reply.Source);
        Assert.Equal(PeerLinkLocal, reply.Destination);
        Assert.Equal(body, reply.IcmpBody);
        Assert.Equal(0, Checksum.Compute(reply.Payload, Checksum.PseudoHeaderSum(reply.Source, reply.Destination, IpProtocol.Icmpv6, reply.Payload.Length)));
    }

    [Fact(DisplayName = "RFC 8200 8.1: UDP over IPv6 is delivered with its checksum and dropped with a zero checksum")]
    public void UdpChecksumIsMandatory()
    {
        using var h = WithPeer(out var ours);
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(7000, receiver);
        h.Inject(Packet(PeerLinkLocal, ours, IpProtocol.Udp, Udp(PeerLinkLocal, ours, 1234, 7000, [1, 2, 3])));
        var got = Assert.Single(receiver.Datagrams);
        Assert.Equal(PeerLinkLocal, got.From);
        h.Inject(Packet(PeerLinkLocal, ours, IpProtocol.Udp, Udp(PeerLinkLocal, ours, 1234, 7000, [4], zeroChecksum: true)));
        Assert.Single(receiver.Datagrams);
        Assert.Equal(1, h.Count(StackCounter.DropUdpBadChecksum));
    }

    [Fact(DisplayName = "RFC 4443 3.1: UDP to a closed port draws Destination Unreachable code 4 quoting the datagram")]
    public void PortUnreachable()
    {
        using var h = WithPeer(out var ours);
        h.Inject(Packet(PeerLinkLocal, ours, IpProtocol.Udp, Udp(PeerLinkLocal, ours, 1234, 9, [1, 2, 3])));
        var error = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.DestinationUnreachable));
        Assert.Equal(Icmpv6Code.PortUnreachable, error.IcmpCode);
        Assert.Equal(6, error.IcmpBody[4] >> 4); // the quoted packet starts after 4 unused bytes
        Assert.Equal(ours, IpAddress.Read(error.IcmpBody.AsSpan(4 + 24)));
    }

    [Theory(DisplayName = "RFC 8200 4.2: an unknown option's action bits decide: 00 skip, 01 discard, 10 Parameter Problem code 2 at the option, 11 the same but never for multicast")]
    [InlineData(0x1E, false, "deliver")]
    [InlineData(0x5E, false, "discard")]
    [InlineData(0x9E, false, "problem")]
    [InlineData(0xDE, false, "problem")]
    [InlineData(0xDE, true, "discard")]
    public void OptionActionBits(byte optionType, bool toMulticast, string outcome)
    {
        using var h = WithPeer(out var ours);
        h.Engine.Udp.Bind(7000, new RecordingReceiver());
        var destination = toMulticast ? IpAddress.AllNodes : ours;
        byte[] options = [IpProtocol.Udp, 0, optionType, 4, 0, 0, 0, 0];
        h.Inject(Packet(PeerLinkLocal, destination, Ipv6NextHeader.DestinationOptions, [.. options, .. Udp(PeerLinkLocal, destination, 1, 7000, [9])]));
        var sent = h.Ipv6Sent();
        switch (outcome)
        {
            case "deliver":
                Assert.Equal(1, h.Count(StackCounter.UdpDatagramsReceived));
                break;
            case "discard":
                Assert.Equal(0, h.Count(StackCounter.UdpDatagramsReceived));
                Assert.Empty(sent.OfType(Icmpv6Type.ParameterProblem));
                break;
            default:
                var problem = Assert.Single(sent.OfType(Icmpv6Type.ParameterProblem));
                Assert.Equal(Icmpv6Code.UnrecognizedOption, problem.IcmpCode);
                Assert.Equal(42u, BinaryPrimitives.ReadUInt32BigEndian(problem.IcmpBody)); // 40 + 2: the option type
                break;
        }
    }

    [Fact(DisplayName = "RFC 5095 3, RFC 8200 4.4: a routing header (type 0) with segments left draws Parameter Problem code 0 at the routing type")]
    public void RoutingHeaderRefused()
    {
        using var h = WithPeer(out var ours);
        byte[] routing = [IpProtocol.Udp, 2, 0, 1, 0, 0, 0, 0, .. new byte[16]];
        h.Inject(Packet(PeerLinkLocal, ours, Ipv6NextHeader.Routing, [.. routing, .. Udp(PeerLinkLocal, ours, 1, 7000, [9])]));
        var problem = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.ParameterProblem));
        Assert.Equal(Icmpv6Code.ErroneousHeaderField, problem.IcmpCode);
        Assert.Equal(42u, BinaryPrimitives.ReadUInt32BigEndian(problem.IcmpBody));
    }

    [Fact(DisplayName = "RFC 8200 4.1: a Hop-by-Hop header anywhere but first draws Parameter Problem code 1")]
    public void LateHopByHopRefused()
    {
        using var h = WithPeer(out var ours);
        byte[] destinationOptions = [Ipv6NextHeader.HopByHop, 0, 1, 4, 0, 0, 0, 0];
        byte[] hopByHop = [IpProtocol.Udp, 0, 1, 4, 0, 0, 0, 0];
        h.Inject(Packet(PeerLinkLocal, ours, Ipv6NextHeader.DestinationOptions, [.. destinationOptions, .. hopByHop, .. Udp(PeerLinkLocal, ours, 1, 7000, [9])]));
        var problem = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.ParameterProblem));
        Assert.Equal(Icmpv6Code.UnrecognizedNextHeader, problem.IcmpCode);
        Assert.Equal(40u, BinaryPrimitives.ReadUInt32BigEndian(problem.IcmpBody));
    }

    [Fact(DisplayName = "RFC 8200 4: an unknown upper-layer protocol draws Parameter Problem code 1 at its Next Header field")]
    public void UnknownNextHeader()
    {
        using var h = WithPeer(out var ours);
        h.Inject(Packet(PeerLinkLocal, ours, 253, [1, 2, 3, 4]));
        var problem = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.ParameterProblem));
        Assert.Equal(Icmpv6Code.UnrecognizedNextHeader, problem.IcmpCode);
        Assert.Equal(6u, BinaryPrimitives.ReadUInt32BigEndian(problem.IcmpBody));
    }

    [Fact(DisplayName = "Extension-header chain attack: more than 8 headers, or more than 7 bytes of padding, is dropped and counted without work")]
    public void LongChainsDropped()
    {
        using var h = WithPeer(out var ours);
        var chain = new List<byte>();
        for (int i = 0; i < 12; i++)
            chain.AddRange(new byte[] { i == 11 ? IpProtocol.Udp : Ipv6NextHeader.DestinationOptions, 0, 1, 4, 0, 0, 0, 0 });
        h.Inject(Packet(PeerLinkLocal, ours, Ipv6NextHeader.DestinationOptions, [.. chain, .. Udp(PeerLinkLocal, ours, 1, 7000, [9])]));
        byte[] padding = [IpProtocol.Udp, 1, 1, 10, .. new byte[12]];
        h.Inject(Packet(PeerLinkLocal, ours, Ipv6NextHeader.DestinationOptions, [.. padding, .. Udp(PeerLinkLocal, ours, 1, 7000, [9])]));
        Assert.Equal(2, h.Count(StackCounter.DropIpv6HeaderChain));
        Assert.Empty(h.Ipv6Sent().OfType(Icmpv6Type.ParameterProblem));
    }

    [Fact(DisplayName = "RFC 6946 4: an atomic fragment (offset 0, M=0) is processed as a whole packet")]
    public void AtomicFragment()
    {
        using var h = WithPeer(out var ours);
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(7000, receiver);
        byte[] fragment = [IpProtocol.Udp, 0, 0, 0, 0, 0, 0, 9];
        h.Inject(Packet(PeerLinkLocal, ours, Ipv6NextHeader.Fragment, [.. fragment, .. Udp(PeerLinkLocal, ours, 1, 7000, [5, 6])]));
        Assert.Single(receiver.Datagrams);
        Assert.Equal(1, h.Count(StackCounter.Ipv6AtomicFragmentsReceived));
    }

    [Fact(DisplayName = "RFC 8200 4.5: a datagram above the link MTU is sent in fragments: 8-byte multiples, one identification, M set on all but the last")]
    public void FragmentsOnSend()
    {
        using var h = WithPeer(out var ours);
        var binding = h.Engine.Udp.Bind(7000, new RecordingReceiver());
        var payload = Frames.RandomBytes(4000, 3);
        Assert.Equal(System.Net.Sockets.SocketError.Success, h.Engine.Udp.Send(binding, PeerLinkLocal, 9000, payload));
        var fragments = h.Ipv6Sent().Where(s => s.NextHeader == Ipv6NextHeader.Fragment).ToList();
        Assert.Equal(3, fragments.Count);
        var reassembled = new byte[UdpDatagram.HeaderLength + payload.Length];
        uint id = BinaryPrimitives.ReadUInt32BigEndian(fragments[0].Payload.AsSpan(4));
        for (int i = 0; i < fragments.Count; i++)
        {
            var f = fragments[i].Payload;
            Assert.True(40 + f.Length <= 1500);
            Assert.Equal(IpProtocol.Udp, f[0]);
            int offset = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(2)) & 0xFFF8;
            bool more = (f[3] & 1) != 0;
            Assert.Equal(i < fragments.Count - 1, more);
            Assert.Equal(id, BinaryPrimitives.ReadUInt32BigEndian(f.AsSpan(4)));
            if (more)
                Assert.Equal(0, (f.Length - 8) % 8);
            f.AsSpan(8).CopyTo(reassembled.AsSpan(offset));
        }
        Assert.Equal(payload, reassembled[UdpDatagram.HeaderLength..]);
        Assert.Equal(0, Checksum.Compute(reassembled, Checksum.PseudoHeaderSum(ours, PeerLinkLocal, IpProtocol.Udp, reassembled.Length)));
    }

    [Fact(DisplayName = "RFC 3810 5.2, 6.2: a general query is answered within its delay with a report of every joined group but all-nodes, hop limit 1, Router Alert")]
    public void MldQueryIsAnswered()
    {
        using var h = WithPeer(out var ours);
        byte[] query = [0, 100, 0, 0, .. new byte[16], 0, 0, 0, 0]; // maximum response 100 ms, general
        h.Inject(IcmpPacket(Icmpv6Type.MulticastListenerQuery, 0, query, RouterLinkLocal, IpAddress.AllNodes, hopLimit: 1, from: RouterMac));
        h.Step(TimeSpan.FromMilliseconds(200));
        var report = Assert.Single(h.Ipv6Sent(), s => s.NextHeader == Ipv6NextHeader.HopByHop);
        Assert.Equal(IpAddress.AllMldv2Routers, report.Destination);
        Assert.Equal(1, report.HopLimit);
        Assert.Equal(ours, report.Source);
        Assert.Equal(5, report.Payload[2]); // Router Alert
        var icmp = report.Icmp;
        Assert.Equal((byte)Icmpv6Type.MulticastListenerReportV2, icmp[0]);
        int records = BinaryPrimitives.ReadUInt16BigEndian(icmp.AsSpan(6));
        var groups = Enumerable.Range(0, records).Select(i => IpAddress.Read(icmp.AsSpan(8 + 20 * i + 4))).ToList();
        Assert.Contains(ours.SolicitedNode, groups);
        Assert.DoesNotContain(IpAddress.AllNodes, groups);
    }

    [Fact(DisplayName = "RFC 3810 8.2: after an MLDv1 query the host answers with MLDv1 reports, one per group sent to the group itself")]
    public void MldVersion1Compatibility()
    {
        using var h = WithPeer(out var ours);
        byte[] query = [0, 100, 0, 0, .. new byte[16]]; // 24-byte MLDv1 general query
        h.Inject(IcmpPacket(Icmpv6Type.MulticastListenerQuery, 0, query, RouterLinkLocal, IpAddress.AllNodes, hopLimit: 1, from: RouterMac));
        h.Step(TimeSpan.FromMilliseconds(200));
        var reports = h.Ipv6Sent().Where(s => s.NextHeader == Ipv6NextHeader.HopByHop).ToList();
        var report = Assert.Single(reports);
        Assert.Equal((byte)Icmpv6Type.MulticastListenerReportV1, report.Icmp[0]);
        Assert.Equal(ours.SolicitedNode, report.Destination);
        Assert.Equal(ours.SolicitedNode, IpAddress.Read(report.Icmp.AsSpan(8)));
        Assert.Equal(1, report.HopLimit);
    }

    [Fact(DisplayName = "RFC 3810 5.1.14: a query with hop limit other than 1 or a non-link-local source is dropped")]
    public void InvalidQueryDropped()
    {
        using var h = WithPeer(out _);
        byte[] query = [0, 100, 0, 0, .. new byte[16], 0, 0, 0, 0];
        h.Inject(IcmpPacket(Icmpv6Type.MulticastListenerQuery, 0, query, RouterLinkLocal, IpAddress.AllNodes, hopLimit: 2, from: RouterMac));
        Assert.Equal(1, h.Count(StackCounter.DropMldInvalid));
    }

    [Fact(DisplayName = "RFC 2464 7: frames to a 33:33 multicast MAC of a group not joined are dropped at the link")]
    public void UnjoinedGroupsFiltered()
    {
        using var h = WithPeer(out _);
        var group = IpAddress.Parse("ff02::1:2");
        h.Inject(Packet(PeerLinkLocal, group, IpProtocol.Udp, Udp(PeerLinkLocal, group, 1, 547, [1])));
        Assert.Equal(1, h.Count(StackCounter.DropLinkNotForUs));
    }

    [Fact(DisplayName = "RFC 4291 2.5.2, 2.7: packets from multicast or IPv4-mapped sources are dropped")]
    public void MartianSources()
    {
        using var h = WithPeer(out var ours);
        h.Inject(Packet(IpAddress.AllNodes, ours, IpProtocol.Udp, [0, 1, 0, 2, 0, 8, 0, 0]));
        h.Inject(Packet(Frames.PeerIp, ours, IpProtocol.Udp, [0, 1, 0, 2, 0, 8, 0, 0]));
        Assert.Equal(2, h.Count(StackCounter.DropIpv6BadSource));
    }

    [Fact(DisplayName = "IPv6 off: frames of EtherType 0x86DD are dropped and counted, nothing IPv6 is sent")]
    public void Disabled()
    {
        using var h = new EngineHarness(Options(Ipv6Settings.Disabled()));
        h.Step(TimeSpan.FromSeconds(5));
        Assert.Empty(h.Ipv6Sent());
        h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, [0, 1, 0, 1], PeerLinkLocal, IpAddress.AllNodes));
        Assert.Equal(1, h.Count(StackCounter.DropLinkNotForUs) + h.Count(StackCounter.DropUnsupportedEtherType));
    }

    /// <summary>Fragments of a UDP datagram (with <paramref name="chunk"/> data bytes each) as a peer would send them.</summary>
    static List<byte[]> UdpFragments(IpAddress ours, byte[] payload, int chunk, uint id, bool reverse = false)
    {
        var datagram = Udp(PeerLinkLocal, ours, 1, 7000, payload);
        var frames = new List<byte[]>();
        for (int offset = 0; offset < datagram.Length; offset += chunk)
        {
            int length = Math.Min(chunk, datagram.Length - offset);
            var header = new byte[8];
            Ipv6FragmentHeader.Write(header, IpProtocol.Udp, offset, offset + length < datagram.Length, id);
            frames.Add(Packet(PeerLinkLocal, ours, Ipv6NextHeader.Fragment, [.. header, .. datagram.AsSpan(offset, length)]));
        }
        if (reverse)
            frames.Reverse();
        return frames;
    }

    [Theory(DisplayName = "RFC 8200 4.5: fragments are reassembled in any order and the datagram delivered")]
    [InlineData(false)]
    [InlineData(true)]
    public void Reassembly(bool reverse)
    {
        using var h = WithPeer(out var ours);
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(7000, receiver);
        var payload = Frames.RandomBytes(8000, 5);
        foreach (var frame in UdpFragments(ours, payload, 1448, 77, reverse))
            h.Inject(frame);
        Assert.Equal(payload, Assert.Single(receiver.Datagrams).Payload);
        Assert.Equal(1, h.Count(StackCounter.Ipv6PacketsReassembled));
    }

    [Fact(DisplayName = "RFC 5722: an overlapping fragment discards the whole datagram")]
    public void OverlapDiscards()
    {
        using var h = WithPeer(out var ours);
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(7000, receiver);
        var fragments = UdpFragments(ours, Frames.RandomBytes(3000, 6), 1448, 78);
        h.Inject(fragments[0]);
        var overlapping = UdpFragments(ours, Frames.RandomBytes(3000, 7), 1000, 78);
        h.Inject(overlapping[1]); // starts at 1000, inside the first fragment's 0..1448
        foreach (var frame in fragments.Skip(1))
            h.Inject(frame);
        Assert.Empty(receiver.Datagrams);
        Assert.Equal(1, h.Count(StackCounter.DropFragmentOverlap));
    }

    [Fact(DisplayName = "RFC 8200 4.5: a non-final fragment whose length is not a multiple of 8 draws Parameter Problem code 0 at the payload length")]
    public void UnalignedFragment()
    {
        using var h = WithPeer(out var ours);
        var header = new byte[8];
        Ipv6FragmentHeader.Write(header, IpProtocol.Udp, 0, true, 5);
        h.Inject(Packet(PeerLinkLocal, ours, Ipv6NextHeader.Fragment, [.. header, .. new byte[13]]));
        var problem = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.ParameterProblem));
        Assert.Equal(Icmpv6Code.ErroneousHeaderField, problem.IcmpCode);
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32BigEndian(problem.IcmpBody));
    }

    [Fact(DisplayName = "RFC 7112 5: a first fragment that does not carry the whole header chain draws Parameter Problem code 3")]
    public void IncompleteChainInFirstFragment()
    {
        using var h = WithPeer(out var ours);
        var header = new byte[8];
        Ipv6FragmentHeader.Write(header, Ipv6NextHeader.DestinationOptions, 0, true, 6);
        byte[] options = [IpProtocol.Udp, 1, 1, 14, .. new byte[12]]; // says 16 bytes, carries 8 in this fragment
        h.Inject(Packet(PeerLinkLocal, ours, Ipv6NextHeader.Fragment, [.. header, .. options.AsSpan(0, 8)]));
        var problem = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.ParameterProblem));
        Assert.Equal(Icmpv6Code.IncompleteHeaderChain, problem.IcmpCode);
    }

    [Fact(DisplayName = "RFC 8200 4.5: a datagram whose first fragment came but not the rest times out with Time Exceeded code 1")]
    public void ReassemblyTimeout()
    {
        using var h = WithPeer(out var ours);
        h.Engine.Udp.Bind(7000, new RecordingReceiver());
        h.Inject(UdpFragments(ours, Frames.RandomBytes(3000, 8), 1448, 79)[0]);
        h.Step(TimeSpan.FromSeconds(31));
        // The peer's entry went unanswered through its probes meanwhile; the error waits for it to answer again.
        h.Inject(NeighborAdvertisement(PeerLinkLocal, ours, solicited: true, overrideFlag: true, Frames.PeerMac));
        var sent = h.Ipv6Sent();
        var error = Assert.Single(sent.OfType(Icmpv6Type.TimeExceeded));
        Assert.Equal(Icmpv6Code.ReassemblyTimeExceeded, error.IcmpCode);
        Assert.Equal(PeerLinkLocal, error.Destination);
        Assert.Equal(1, h.Count(StackCounter.DropReassemblyTimeout));
    }
}
