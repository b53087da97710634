using Wirestack.Network;
using Wirestack.Wire;
using static Wirestack.Tests.Ipv6Frames;

namespace Wirestack.Tests;

public sealed class NdpTests
{
    [Fact(DisplayName = "RFC 4862 5.4.2: a link-local address is tentative, probed from :: to its solicited-node group with no link-layer option, hop limit 255, then preferred")]
    public void DadProbesThenAssigns()
    {
        using var h = new EngineHarness(Options());
        var address = h.Engine.Ipv6!.Addresses.Single();
        Assert.Equal(Ipv6AddressState.Tentative, address.State);
        Assert.True(address.Address.IsLinkLocal);
        // The solicited-node group is joined (and reported) before the probe, so a defender's answer reaches us.
        Assert.True(h.Engine.Ipv6.Multicast.Contains(address.Address.SolicitedNode));

        h.Advance(TimeSpan.FromSeconds(1.01));
        var probe = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.NeighborSolicitation));
        Assert.Equal(IpAddress.Ipv6Any, probe.Source);
        Assert.Equal(address.Address.SolicitedNode, probe.Destination);
        Assert.Equal(255, probe.HopLimit);
        Assert.Equal(address.Address, IpAddress.Read(probe.IcmpBody.AsSpan(4)));
        Assert.Equal(20, probe.IcmpBody.Length); // no source link-layer address option
        Assert.Equal(Ipv6AddressState.Tentative, address.State);

        h.Advance(TimeSpan.FromSeconds(1.01)); // RetransTimer after the last probe
        Assert.Equal(Ipv6AddressState.Preferred, address.State);
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.AddressPreferred);
    }

    [Fact(DisplayName = "RFC 4862 5.4.3, 5.4.5: an NA for a tentative address makes it a duplicate (never used); RFC 7217 6 tries the next identifier")]
    public void AdvertisementDuringDadIsAConflict()
    {
        using var h = new EngineHarness(Options());
        var first = h.Engine.Ipv6!.Addresses.Single();
        h.Inject(NeighborAdvertisement(first.Address, IpAddress.AllNodes, solicited: false, overrideFlag: true, Frames.PeerMac));
        Assert.Equal(Ipv6AddressState.Duplicate, first.State);
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.AddressConflict);
        var second = Assert.Single(h.Engine.Ipv6.Addresses, a => a.State == Ipv6AddressState.Tentative);
        Assert.NotEqual(first.Address, second.Address);
        Assert.True(second.Address.IsLinkLocal);

        h.Step(TimeSpan.FromSeconds(3));
        Assert.Equal(Ipv6AddressState.Preferred, second.State);
        Assert.False(h.Engine.Ipv6.IsAssigned(first.Address));
    }

    [Fact(DisplayName = "RFC 4862 5.4.3: another node's DAD probe (NS from ::) for our tentative address makes it a duplicate")]
    public void ProbeDuringDadIsAConflict()
    {
        using var h = new EngineHarness(Options(new Ipv6Settings { StableSecret = Secret, InterfaceIdentifiers = InterfaceIdentifierKind.Eui64 }));
        var address = h.Engine.Ipv6!.Addresses.Single();
        h.Inject(NeighborSolicitation(address.Address, IpAddress.Ipv6Any, address.Address.SolicitedNode, sourceLinkAddress: null));
        Assert.Equal(Ipv6AddressState.Duplicate, address.State);
        // EUI-64 has no second identifier to try.
        Assert.DoesNotContain(h.Engine.Ipv6.Addresses, a => a.State != Ipv6AddressState.Duplicate);
    }

    [Fact(DisplayName = "RFC 4862 5.4.3: an NS from a unicast source for a tentative address is ignored (not answered, not a conflict)")]
    public void UnicastSolicitationForTentativeIsIgnored()
    {
        using var h = new EngineHarness(Options());
        var address = h.Engine.Ipv6!.Addresses.Single();
        h.Inject(NeighborSolicitation(address.Address, PeerLinkLocal, address.Address.SolicitedNode, Frames.PeerMac));
        Assert.Equal(Ipv6AddressState.Tentative, address.State);
        Assert.Empty(h.Ipv6Sent().OfType(Icmpv6Type.NeighborAdvertisement));
    }

    [Fact(DisplayName = "RFC 4861 7.2.3, 7.2.4: an NS for our address is answered with a solicited, override NA carrying our link address; the solicitor is cached")]
    public void SolicitationIsAnswered()
    {
        using var h = Started();
        var ours = LinkLocal(h);
        h.Inject(NeighborSolicitation(ours, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac));
        var advert = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.NeighborAdvertisement));
        Assert.Equal(ours, advert.Source);
        Assert.Equal(PeerLinkLocal, advert.Destination);
        Assert.Equal(Frames.PeerMac, advert.To);
        Assert.Equal(255, advert.HopLimit);
        uint flags = Frames.ReadUInt16(advert.IcmpBody, 0);
        Assert.Equal(0x6000u, flags); // S and O, not R
        Assert.Equal(ours, IpAddress.Read(advert.IcmpBody.AsSpan(4)));
        Assert.Equal(NdpOptionType.TargetLinkLayerAddress, advert.IcmpBody[20]);
        Assert.Equal(Frames.StackMac, MacAddress.Read(advert.IcmpBody.AsSpan(22)));
        // Cached STALE from the solicitation's link-layer option (7.2.3), then DELAY as our answer used it (7.3.3).
        Assert.Equal(NeighborState.Delay, h.Engine.Ipv6Neighbors!.StateOf(PeerLinkLocal));
    }

    [Theory(DisplayName = "RFC 4861 7.1.1: invalid Neighbor Solicitations are dropped and counted")]
    [InlineData("hop limit 254")]
    [InlineData("option of length 0")]
    [InlineData("from :: with a link-layer option")]
    [InlineData("from :: to a unicast address")]
    [InlineData("multicast target")]
    [InlineData("code 1")]
    public void InvalidSolicitationsAreDropped(string defect)
    {
        using var h = Started();
        var ours = LinkLocal(h);
        byte[] frame = defect switch
        {
            "hop limit 254" => NeighborSolicitation(ours, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac, hopLimit: 254),
            "option of length 0" => IcmpPacket(Icmpv6Type.NeighborSolicitation, 0, [.. new byte[4], .. Bytes(ours), 1, 0, 0, 0, 0, 0, 0, 0], PeerLinkLocal, ours.SolicitedNode),
            "from :: with a link-layer option" => NeighborSolicitation(ours, IpAddress.Ipv6Any, ours.SolicitedNode, Frames.PeerMac),
            "from :: to a unicast address" => NeighborSolicitation(ours, IpAddress.Ipv6Any, ours, null),
            "multicast target" => NeighborSolicitation(IpAddress.AllNodes, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac),
            _ => IcmpPacket(Icmpv6Type.NeighborSolicitation, 1, [.. new byte[4], .. Bytes(ours)], PeerLinkLocal, ours.SolicitedNode),
        };
        h.Inject(frame);
        Assert.Equal(1, h.Count(StackCounter.DropNdpInvalid));
        Assert.Empty(h.Ipv6Sent().OfType(Icmpv6Type.NeighborAdvertisement));
    }

    [Fact(DisplayName = "RFC 4861 7.2.2, 7.2.5: a packet to a new neighbour waits for resolution; the solicited NA makes the entry REACHABLE and releases it")]
    public void ResolutionQueuesUntilAdvertised()
    {
        using var h = Started();
        var ours = LinkLocal(h);
        h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, [0, 1, 0, 1, 42], PeerLinkLocal, ours, hopLimit: 64));
        var solicitation = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.NeighborSolicitation));
        Assert.Equal(PeerLinkLocal.SolicitedNode, solicitation.Destination);
        Assert.Equal(ours, solicitation.Source);
        Assert.Equal(NdpOptionType.SourceLinkLayerAddress, solicitation.IcmpBody[20]);
        Assert.Equal(NeighborState.Incomplete, h.Engine.Ipv6Neighbors!.StateOf(PeerLinkLocal));

        h.Inject(NeighborAdvertisement(PeerLinkLocal, ours, solicited: true, overrideFlag: true, Frames.PeerMac));
        Assert.Equal(NeighborState.Reachable, h.Engine.Ipv6Neighbors.StateOf(PeerLinkLocal));
        var reply = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.EchoReply));
        Assert.Equal(Frames.PeerMac, reply.To);
    }

    [Fact(DisplayName = "RFC 4861 7.2.5: without the Override flag a different link address is not taken; a REACHABLE entry only turns STALE")]
    public void AdvertisementWithoutOverride()
    {
        using var h = Started();
        var ours = LinkLocal(h);
        h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, [0, 1, 0, 1], PeerLinkLocal, ours, hopLimit: 64));
        h.Inject(NeighborAdvertisement(PeerLinkLocal, ours, solicited: true, overrideFlag: true, Frames.PeerMac));
        h.Drain();
        var other = MacAddress.Parse("02:00:00:00:00:99");
        h.Inject(NeighborAdvertisement(PeerLinkLocal, ours, solicited: false, overrideFlag: false, other));
        Assert.Equal(NeighborState.Stale, h.Engine.Ipv6Neighbors!.StateOf(PeerLinkLocal));
        Assert.Equal(Frames.PeerMac, h.Engine.Ipv6Neighbors.Entries.Single(e => e.Address == PeerLinkLocal).LinkAddress);
        h.Inject(NeighborAdvertisement(PeerLinkLocal, ours, solicited: false, overrideFlag: true, other));
        Assert.Equal(other, h.Engine.Ipv6Neighbors.Entries.Single(e => e.Address == PeerLinkLocal).LinkAddress);
    }

    [Fact(DisplayName = "RFC 4861 7.3.3: a used STALE entry goes DELAY, then is probed by unicast NS to its known link address")]
    public void StaleEntryIsProbedByUnicast()
    {
        using var h = Started();
        var ours = LinkLocal(h);
        h.Inject(NeighborSolicitation(ours, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac));
        h.Drain();
        h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, [0, 1, 0, 2], PeerLinkLocal, ours, hopLimit: 64));
        Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.EchoReply)); // sent at once to the stale address
        Assert.Equal(NeighborState.Delay, h.Engine.Ipv6Neighbors!.StateOf(PeerLinkLocal));
        h.Advance(TimeSpan.FromSeconds(5.1));
        var probe = Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.NeighborSolicitation));
        Assert.Equal(PeerLinkLocal, probe.Destination);
        Assert.Equal(Frames.PeerMac, probe.To);
        Assert.Equal(NeighborState.Probe, h.Engine.Ipv6Neighbors.StateOf(PeerLinkLocal));
        h.Inject(NeighborAdvertisement(PeerLinkLocal, ours, solicited: true, overrideFlag: false, Frames.PeerMac));
        Assert.Equal(NeighborState.Reachable, h.Engine.Ipv6Neighbors.StateOf(PeerLinkLocal));
    }

    [Fact(DisplayName = "RFC 6583 6.2 attack: echo requests from 1,000 unknown on-link sources hold at most the unresolved bound; known neighbours stay")]
    public void NeighborScanIsBounded()
    {
        using var h = Started();
        var ours = LinkLocal(h);
        h.Inject(NeighborSolicitation(ours, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac));
        h.Drain();
        for (int i = 0; i < 1000; i++)
        {
            var source = IpAddress.LinkLocal(0x1000 + (ulong)i);
            h.Inject(IcmpPacket(Icmpv6Type.EchoRequest, 0, [0, 1, 0, 1], source, ours, hopLimit: 64));
        }
        Assert.True(h.Engine.Ipv6Neighbors!.UnresolvedCount <= 64);
        Assert.True(h.Count(StackCounter.DropNeighborTableFull) >= 1000 - 64);
        Assert.NotNull(h.Engine.Ipv6Neighbors.StateOf(PeerLinkLocal));
        h.Step(TimeSpan.FromSeconds(4));
        Assert.Equal(0, h.Engine.Ipv6Neighbors.UnresolvedCount);
    }

    /// <summary>
    /// The ICMPv6 message inside <paramref name="frame"/> (an unfragmented packet) again, cut into fragments of
    /// <paramref name="chunk"/> bytes (one atomic fragment when it is larger than the message).
    /// </summary>
    static List<byte[]> InFragments(byte[] frame, int chunk, uint identification)
    {
        var eth = EthernetFrame.TryParse(frame, out var parsed) ? parsed : throw new ArgumentException("not a frame");
        Assert.True(Ipv6Packet.TryParse(eth.Payload, out var packet));
        var message = packet.Payload.ToArray();
        var fragments = new List<byte[]>();
        for (int offset = 0; offset < message.Length; offset += chunk)
        {
            int length = Math.Min(chunk, message.Length - offset);
            bool more = offset + length < message.Length;
            var header = new byte[8];
            header[0] = IpProtocol.Icmpv6;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)(offset | (more ? 1 : 0)));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), identification);
            fragments.Add(Packet(packet.Source, packet.Destination, Ipv6NextHeader.Fragment, [.. header, .. message.AsSpan(offset, length)],
                packet.HopLimit, eth.Source));
        }
        return fragments;
    }

    [Fact(DisplayName = "RFC 6980 5: a Neighbor Solicitation inside an atomic fragment is silently ignored (no advertisement, no entry)")]
    public void FragmentedSolicitationIgnored()
    {
        using var h = Started();
        var ours = LinkLocal(h);
        h.Drain();
        foreach (var fragment in InFragments(NeighborSolicitation(ours, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac), chunk: 1024, identification: 1))
            h.Inject(fragment);
        Assert.Empty(h.Ipv6Sent().OfType(Icmpv6Type.NeighborAdvertisement));
        Assert.Null(h.Engine.Ipv6Neighbors!.StateOf(PeerLinkLocal));
        Assert.Equal(1, h.Count(StackCounter.DropNdpInvalid));
        // The same solicitation whole is answered.
        h.Inject(NeighborSolicitation(ours, PeerLinkLocal, ours.SolicitedNode, Frames.PeerMac));
        Assert.Single(h.Ipv6Sent().OfType(Icmpv6Type.NeighborAdvertisement));
    }

    [Fact(DisplayName = "RFC 6980 5 (RA-Guard evasion): a Router Advertisement cut into two fragments adds no router and forms no address")]
    public void FragmentedRouterAdvertisementIgnored()
    {
        using var h = Started();
        var advertisement = RouterAdvertisement(1800, [PrefixOption(Prefix, 64, 86400, 14400)]);
        var fragments = InFragments(advertisement, chunk: 32, identification: 2);
        Assert.Equal(2, fragments.Count);
        foreach (var fragment in fragments)
            h.Inject(fragment);
        h.Step(TimeSpan.FromSeconds(3));
        Assert.Equal(1, h.Count(StackCounter.Ipv6PacketsReassembled));
        Assert.Equal(1, h.Count(StackCounter.DropNdpInvalid));
        Assert.Empty(h.Engine.Ipv6!.Routers);
        Assert.DoesNotContain(h.Engine.Ipv6.Addresses, a => a.Origin == Ipv6AddressOrigin.Slaac);
        // Whole, it configures.
        h.Inject(advertisement);
        Assert.Single(h.Engine.Ipv6.Routers);
    }

    static byte[] Bytes(IpAddress address)
    {
        var bytes = new byte[16];
        address.WriteTo(bytes);
        return bytes;
    }
}
