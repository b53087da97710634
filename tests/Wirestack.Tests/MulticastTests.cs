using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Engine;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>IPv4 multicast (RFC 1112, IGMPv3 RFC 3376 with v1/v2 compatibility) and multicast UDP sockets of both families.</summary>
public sealed class MulticastTests
{
    static readonly Ipv4Address Group = Ipv4Address.Parse("239.1.2.3");
    static readonly Ipv4Address Mdns = Ipv4Address.Parse("224.0.0.251");
    static readonly Ipv4Address Querier = Ipv4Address.Parse("192.168.0.1");

    /// <summary>An IPv4 packet the stack sent, read back.</summary>
    sealed record Sent(MacAddress To, Ipv4Address Source, Ipv4Address Destination, byte Ttl, byte Protocol, byte[] Options, byte[] Payload)
    {
        public byte Type => Payload[0];

        /// <summary>The (record type, group) pairs of an IGMPv3 report.</summary>
        public List<(byte Type, Ipv4Address Group)> Records =>
            [.. Enumerable.Range(0, BinaryPrimitives.ReadUInt16BigEndian(Payload.AsSpan(6))).Select(i => (Payload[8 + 8 * i], Ipv4Address.Read(Payload.AsSpan(12 + 8 * i))))];
    }

    static List<Sent> Ipv4Sent(EngineHarness h) =>
        [.. h.Drain().Select(frame => EthernetFrame.TryParse(frame, out var eth) && eth.EtherType == EtherType.Ipv4 && Ipv4Packet.TryParse(eth.Payload, out var p)
            ? new Sent(eth.Destination, p.Source, p.Destination, p.TimeToLive, p.Protocol, p.Options.ToArray(), p.Payload.ToArray()) : null).OfType<Sent>()];

    static List<Sent> Igmp(EngineHarness h) => [.. Ipv4Sent(h).Where(s => s.Protocol == 2)];

    static MacAddress MulticastMac(Ipv4Address group) =>
        MacAddress.Read([0x01, 0x00, 0x5E, (byte)((group.Value >> 16) & 0x7F), (byte)(group.Value >> 8), (byte)group.Value]);

    /// <summary>An IGMP query (8 bytes for v1/v2, 12 for v3) from the querier to all hosts, or to the group for a group query.</summary>
    static byte[] Query(int version, Ipv4Address group, byte maxResponse = 10)
    {
        var message = new byte[version == 3 ? 12 : 8];
        message[0] = IgmpType.MembershipQuery;
        message[1] = version == 1 ? (byte)0 : maxResponse;
        group.WriteTo(message.AsSpan(4));
        if (version == 3)
            message[8] = 2;   // QRV
        IgmpMessage.Finish(message);
        var to = group.IsAny ? Ipv4Address.Parse("224.0.0.1") : group;
        return Frames.Ethernet(MulticastMac(to), Frames.PeerMac, EtherType.Ipv4, Frames.Ipv4(Querier, to, 2, message, ttl: 1));
    }

    static (EngineHarness H, UdpBinding Socket, RecordingReceiver Received) Joined(Ipv4Address group, int port = 5000, StackOptions? options = null)
    {
        var h = new EngineHarness(options);
        var received = new RecordingReceiver();
        var socket = h.Engine.Udp.Bind(port, received);
        Assert.Equal(SocketError.Success, h.Engine.Udp.JoinGroup(socket, group));
        return (h, socket, received);
    }

    [Fact(DisplayName = "RFC 3376 5.1: a join sends a CHANGE_TO_EXCLUDE report to 224.0.0.22 (TTL 1, Router Alert) at once and once more within 1 s; a leave sends CHANGE_TO_INCLUDE")]
    public void JoinAndLeaveReported()
    {
        var (h, socket, _) = Joined(Group);
        using var _h = h;
        h.Advance(TimeSpan.Zero);
        var first = Assert.Single(Igmp(h));
        Assert.Equal(Ipv4Address.Parse("224.0.0.22"), first.Destination);
        Assert.Equal(MulticastMac(first.Destination), first.To);
        Assert.Equal(1, first.Ttl);
        Assert.Equal([0x94, 0x04, 0x00, 0x00], first.Options);
        Assert.Equal(IgmpType.Version3Report, first.Type);
        Assert.Equal([(IgmpRecordType.ChangeToExcludeMode, Group)], first.Records);
        Assert.Equal(0, Checksum.Compute(first.Payload));
        h.Step(TimeSpan.FromSeconds(1.1));
        Assert.Equal([(IgmpRecordType.ChangeToExcludeMode, Group)], Assert.Single(Igmp(h)).Records);
        h.Step(TimeSpan.FromSeconds(5));
        Assert.Empty(Igmp(h));   // robustness 2: two reports in all

        Assert.Equal(SocketError.Success, h.Engine.Udp.LeaveGroup(socket, Group));
        h.Advance(TimeSpan.Zero);
        Assert.Equal([(IgmpRecordType.ChangeToIncludeMode, Group)], Assert.Single(Igmp(h)).Records);
        Assert.Equal(2, h.Count(StackCounter.IgmpReportsSent) - 1);
    }

    [Fact(DisplayName = "RFC 3376 5.2: a general query is answered within its maximum response time by one report of every group joined but 224.0.0.1; a query flood still gets one answer")]
    public void GeneralQueryAnswered()
    {
        var (h, socket, _) = Joined(Group);
        using var _h = h;
        Assert.Equal(SocketError.Success, h.Engine.Udp.JoinGroup(socket, Mdns));
        h.Step(TimeSpan.FromSeconds(3));
        h.Drain();
        for (int i = 0; i < 100; i++)
            h.Inject(Query(3, Ipv4Address.Any, maxResponse: 10));   // 1 s
        Assert.Equal(100, h.Count(StackCounter.IgmpQueriesReceived));
        h.Step(TimeSpan.FromSeconds(1.1));
        var report = Assert.Single(Igmp(h));
        Assert.Equal(IgmpType.Version3Report, report.Type);
        Assert.Equal([Mdns, Group], report.Records.Select(r => r.Group).Order().ToList());
        Assert.All(report.Records, r => Assert.Equal(IgmpRecordType.ModeIsExclude, r.Type));
        Assert.DoesNotContain(report.Records, r => r.Group == Ipv4Address.Parse("224.0.0.1"));

        // A group-specific query for a group not joined is not answered; for a joined one, with that group only.
        h.Inject(Query(3, Ipv4Address.Parse("239.9.9.9")));
        h.Inject(Query(3, Group));
        h.Step(TimeSpan.FromSeconds(1.1));
        Assert.Equal([(IgmpRecordType.ModeIsExclude, Group)], Assert.Single(Igmp(h)).Records);
    }

    [Fact(DisplayName = "RFC 3376 7.2.1: after an IGMPv2 query the host reports with v2 reports to the group and leaves with Leave Group to 224.0.0.2; after a v1 query, v1 reports and no leave")]
    public void OlderQuerierCompatibility()
    {
        var (h, socket, _) = Joined(Group);
        using var _h = h;
        h.Step(TimeSpan.FromSeconds(3));
        h.Drain();
        h.Inject(Query(2, Ipv4Address.Any, maxResponse: 10));
        h.Step(TimeSpan.FromSeconds(1.1));
        var v2 = Assert.Single(Igmp(h));
        Assert.Equal(IgmpType.Version2Report, v2.Type);
        Assert.Equal(Group, v2.Destination);
        Assert.Equal(Group, Ipv4Address.Read(v2.Payload.AsSpan(4)));
        Assert.Equal(8, v2.Payload.Length);
        h.Engine.Udp.LeaveGroup(socket, Group);
        h.Advance(TimeSpan.Zero);
        var leave = Assert.Single(Igmp(h));
        Assert.Equal(IgmpType.LeaveGroup, leave.Type);
        Assert.Equal(Ipv4Address.Parse("224.0.0.2"), leave.Destination);

        h.Engine.Udp.JoinGroup(socket, Group);
        h.Inject(Query(1, Ipv4Address.Any));
        h.Drain();
        h.Step(TimeSpan.FromSeconds(10.1));
        Assert.Contains(Igmp(h), s => s.Type == IgmpType.Version1Report && s.Destination == Group);
        h.Engine.Udp.LeaveGroup(socket, Group);
        h.Step(TimeSpan.FromSeconds(2));
        Assert.Empty(Igmp(h));

        // The older querier's timeout passes (260 s): back to IGMPv3.
        h.Step(TimeSpan.FromSeconds(261));
        h.Engine.Udp.JoinGroup(socket, Group);
        h.Advance(TimeSpan.Zero);
        Assert.Equal(IgmpType.Version3Report, Assert.Single(Igmp(h)).Type);
    }

    [Fact(DisplayName = "RFC 1112 6.4: frames to the MAC of a group not joined are dropped at the link; a joined group's datagrams reach the socket that joined, not another on the same port")]
    public void GroupsFiltered()
    {
        var (h, socket, received) = Joined(Group);
        using var _h = h;
        byte[] To(Ipv4Address group, ushort port) =>
            Frames.Ethernet(MulticastMac(group), Frames.PeerMac, EtherType.Ipv4, Frames.Ipv4(Frames.PeerIp, group, IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, group, 4000, port, [1, 2, 3])));
        h.Inject(To(Ipv4Address.Parse("239.7.7.7"), 5000));
        Assert.Equal(1, h.Count(StackCounter.DropLinkNotForUs));
        h.Inject(To(Group, 5000));
        var datagram = Assert.Single(received.Datagrams);
        Assert.Equal([1, 2, 3], datagram.Payload);
        Assert.Equal((IpAddress)Frames.PeerIp, datagram.From);

        // 239.129.2.3 shares the MAC of 239.1.2.3 (23 bits): the IP layer drops it.
        h.Inject(To(Ipv4Address.Parse("239.129.2.3"), 5000));
        Assert.Equal(1, h.Count(StackCounter.DropIpv4NotForUs));
        // Another socket's port, which did not join: dropped and counted, never answered with port unreachable.
        var other = new RecordingReceiver();
        h.Engine.Udp.Bind(6000, other);
        h.Inject(To(Group, 6000));
        Assert.Empty(other.Datagrams);
        Assert.Equal(1, h.Count(StackCounter.DropUdpMulticastNotJoined));
        h.Inject(To(Group, 7000));
        Assert.DoesNotContain(Ipv4Sent(h), s => s.Protocol == IpProtocol.Icmp);
        Assert.Single(received.Datagrams);
    }

    [Fact(DisplayName = "Multicast send (RFC 1112 6.1): TTL 1 by default, to the group's 01:00:5e MAC; a local member hears it unless loopback is off")]
    public void MulticastSend()
    {
        var (h, socket, received) = Joined(Group);
        using var _h = h;
        h.Drain();
        Assert.Equal(SocketError.Success, h.Engine.Udp.Send(socket, Group, 5000, [9, 9]));
        var sent = Assert.Single(Ipv4Sent(h), s => s.Protocol == IpProtocol.Udp);
        Assert.Equal(1, sent.Ttl);
        Assert.Equal(MulticastMac(Group), sent.To);
        Assert.Equal([9, 9], Assert.Single(received.Datagrams).Payload);
        socket.MulticastLoopback = false;
        socket.MulticastTimeToLive = 32;
        h.Engine.Udp.Send(socket, Group, 5000, [8]);
        Assert.Equal(32, Assert.Single(Ipv4Sent(h), s => s.Protocol == IpProtocol.Udp).Ttl);
        Assert.Single(received.Datagrams);
    }

    [Fact(DisplayName = "Multicast membership bounds: a socket joins at most 20 groups, the same group once; leaving a group not joined is an error; closing the socket leaves its groups")]
    public void MembershipBounds()
    {
        var (h, socket, _) = Joined(Group);
        using var _h = h;
        Assert.Equal(SocketError.AddressAlreadyInUse, h.Engine.Udp.JoinGroup(socket, Group));
        Assert.Equal(SocketError.InvalidArgument, h.Engine.Udp.JoinGroup(socket, Frames.PeerIp));
        Assert.Equal(SocketError.AddressFamilyNotSupported, h.Engine.Udp.JoinGroup(socket, IpAddress.Parse("ff02::fb")));
        for (int i = 1; i < UdpLayer.MaxGroupsPerSocket; i++)
            Assert.Equal(SocketError.Success, h.Engine.Udp.JoinGroup(socket, new Ipv4Address(Group.Value + (uint)i)));
        Assert.Equal(SocketError.NoBufferSpaceAvailable, h.Engine.Udp.JoinGroup(socket, Ipv4Address.Parse("239.200.0.1")));
        Assert.Equal(SocketError.AddressNotAvailable, h.Engine.Udp.LeaveGroup(socket, Ipv4Address.Parse("239.200.0.1")));
        Assert.Equal(UdpLayer.MaxGroupsPerSocket, h.Engine.Interface.Multicast.Count);
        h.Engine.Udp.Unbind(socket);
        Assert.Equal(0, h.Engine.Interface.Multicast.Count);
        h.Advance(TimeSpan.Zero);
        Assert.Contains(Igmp(h), s => s.Records.Any(r => r.Type == IgmpRecordType.ChangeToIncludeMode));
    }

    [Fact(DisplayName = "Hostile IGMP: truncated messages, bad checksums and v3 queries whose sources run past the end are counted and dropped")]
    public void HostileIgmpDropped()
    {
        var (h, _, _) = Joined(Group);
        using var _h = h;
        h.Step(TimeSpan.FromSeconds(3));
        h.Drain();
        var good = Query(3, Ipv4Address.Any);
        var truncated = Frames.Ethernet(MulticastMac(Ipv4Address.Parse("224.0.0.1")), Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(Querier, Ipv4Address.Parse("224.0.0.1"), 2, [0x11, 10, 0, 0], ttl: 1));
        h.Inject(truncated);
        var badChecksum = (byte[])good.Clone();
        badChecksum[^1] ^= 0xFF;
        h.Inject(badChecksum);
        byte[] lying = [0x11, 10, 0, 0, 0, 0, 0, 0, 2, 125, 0, 50];   // 50 sources, none present
        IgmpMessage.Finish(lying);
        h.Inject(Frames.Ethernet(MulticastMac(Ipv4Address.Parse("224.0.0.1")), Frames.PeerMac, EtherType.Ipv4,
            Frames.Ipv4(Querier, Ipv4Address.Parse("224.0.0.1"), 2, lying, ttl: 1)));
        Assert.Equal(3, h.Count(StackCounter.DropIgmpInvalid));
        h.Step(TimeSpan.FromSeconds(2));
        Assert.Empty(Igmp(h));
    }

    [Fact(DisplayName = "RFC 3810 with sockets: joining ff02::fb reports it by MLDv2; datagrams to the group reach the socket; the membership survives the link going down and up")]
    public void Ipv6SocketGroups()
    {
        using var h = Ipv6Frames.Started();
        var received = new RecordingReceiver();
        var socket = h.Engine.Udp.Bind(5353, received);
        var group = IpAddress.Parse("ff02::fb");
        Assert.Equal(SocketError.Success, h.Engine.Udp.JoinGroup(socket, group));
        h.Advance(TimeSpan.Zero);
        var report = Assert.Single(h.Ipv6Sent(), s => s.NextHeader == Ipv6NextHeader.HopByHop);
        Assert.Equal(group, IpAddress.Read(report.Icmp.AsSpan(8 + 4)));
        var datagram = new byte[UdpDatagram.HeaderLength + 2];
        datagram[^1] = 7;
        UdpDatagram.WriteHeader(datagram, 5353, 5353, 2, Ipv6Frames.PeerLinkLocal, group);
        h.Inject(Ipv6Frames.Packet(Ipv6Frames.PeerLinkLocal, group, IpProtocol.Udp, datagram, hopLimit: 255));
        Assert.Equal([0, 7], Assert.Single(received.Datagrams).Payload);

        h.StackSide.IsLinkUp = false;
        h.Step(TimeSpan.FromSeconds(1));
        h.StackSide.IsLinkUp = true;
        h.Step(TimeSpan.FromSeconds(3));
        Assert.True(h.Engine.Ipv6!.Multicast.Contains(group));
    }
}
