using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>
/// The engine's layers driven alone, each with fakes of its neighbours: the neighbour resolver with a recording
/// host, and the one IP output path over a link to a recording device.
/// </summary>
public sealed class EngineLayerTests
{
    static readonly IpAddress Neighbor4 = Ipv4Address.Parse("192.168.0.1");
    static readonly IpAddress Neighbor6 = IpAddress.Parse("fe80::1");
    static readonly MacAddress NeighborMac = MacAddress.Parse("02:00:00:00:00:01");

    /// <summary>A device that keeps every frame sent to it.</summary>
    sealed class RecordingDevice(LinkMedium medium = LinkMedium.Ethernet, int mtu = 1500) : INetworkDevice
    {
        public List<byte[]> Sent { get; } = [];
        public LinkMedium Medium => medium;
        public int Mtu => mtu;
        public bool IsLinkUp => true;

        public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length)
        {
            length = 0;
            return false;
        }

        public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds)
        {
            Sent.Add(frame.ToArray());
            return true;
        }

        public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup)
        {
        }

        public void Dispose()
        {
        }
    }

    /// <summary>The resolver's host: records what it is asked, and sends resolved packets through an output when given one.</summary>
    sealed class RecordingHost : INeighborHost
    {
        public List<(IpAddress Target, MacAddress? UnicastTo)> Solicited { get; } = [];
        public List<(byte[] Packet, MacAddress To)> Resolved { get; } = [];
        public List<(byte[] Packet, SocketError Error)> Unreachable { get; } = [];
        public IpOutput? Output { get; set; }
        public long Now { get; set; }

        public void Solicit(IpAddress target, MacAddress? unicastTo) => Solicited.Add((target, unicastTo));

        public void SendResolved(in PendingPacket packet, MacAddress linkAddress)
        {
            Resolved.Add((packet.Packet.ToArray(), linkAddress));
            Output?.PutOnLink(packet.Buffer, packet.Offset, packet.Length, linkAddress, packet.Offload, Now);
        }

        public void ReportUnreachable(ReadOnlySpan<byte> packet, SocketError error) => Unreachable.Add((packet.ToArray(), error));
    }

    static StackOptions Options(int maxUnresolved = 64) =>
        EngineHarness.DefaultOptions() with { Ipv6 = Ipv6Settings.Automatic(), MaxUnresolvedNeighbors = maxUnresolved };

    static byte[] Packet(int length, byte fill) => Enumerable.Repeat(fill, length).ToArray();

    [Fact(DisplayName = "RFC 4861 7.2.2: packets to an unresolved neighbour wait in its queue behind one solicitation, and leave in order once it is learned")]
    public void ResolverQueuesThenAsksOnce()
    {
        var host = new RecordingHost();
        var counters = new StackCounters();
        var resolver = new NeighborResolver(Options(), host, counters);
        for (byte i = 1; i <= 3; i++)
            resolver.Resolve(Neighbor6, Packet(100 + i, i), default, now: 0);
        Assert.Equal([(Neighbor6, (MacAddress?)null)], host.Solicited);
        Assert.Empty(host.Resolved);

        resolver.Learned(resolver.Ipv6!.Advertise(Neighbor6, NeighborMac, solicited: true, overrideFlag: true, now: 10));
        Assert.Equal([101, 102, 103], host.Resolved.Select(r => r.Packet.Length));
        Assert.All(host.Resolved, r => Assert.Equal(NeighborMac, r.To));
        Assert.Equal((byte)2, host.Resolved[1].Packet[0]);
        Assert.True(resolver.TryGet(Neighbor6, 10, out var mac) && mac == NeighborMac);
    }

    [Fact(DisplayName = "RFC 826 and RFC 4861 7.3.3: both families' retries come from one timer loop; after the last, every queued packet is reported HostUnreachable to its sender")]
    public void ResolverRetriesBothFamiliesThenFails()
    {
        var host = new RecordingHost();
        var counters = new StackCounters();
        var resolver = new NeighborResolver(Options(), host, counters);
        resolver.Resolve(Neighbor4, Packet(60, 4), default, now: 0);
        resolver.Resolve(Neighbor6, Packet(80, 6), default, now: 0);
        Assert.Equal(2, host.Solicited.Count);
        for (long now = 1_000_000; now <= 3_000_000; now += 1_000_000)
        {
            Assert.True(resolver.NextDeadline <= now);
            resolver.RunTimers(now);
        }
        // Three attempts each (StackOptions.ArpRequestAttempts, RFC 4861 MAX_MULTICAST_SOLICIT), then failure.
        Assert.Equal(3, host.Solicited.Count(s => s.Target == Neighbor4));
        Assert.Equal(3, host.Solicited.Count(s => s.Target == Neighbor6));
        Assert.Equal([(60, SocketError.HostUnreachable), (80, SocketError.HostUnreachable)],
            host.Unreachable.Select(u => (u.Packet.Length, u.Error)).Order());
        Assert.Equal(2, counters[StackCounter.DropResolutionFailed]);
        Assert.Null(resolver.NextDeadline);
    }

    [Fact(DisplayName = "RFC 6583 6.2 (neighbour table exhaustion): past the unresolved bound the neighbour that waited longest gives way, its packets dropped and counted; the new one is asked and resolves")]
    public void ResolverReplacesTheLongestUnresolved()
    {
        var host = new RecordingHost();
        var counters = new StackCounters();
        var resolver = new NeighborResolver(Options(maxUnresolved: 1), host, counters);
        IpAddress second = Ipv4Address.Parse("192.168.0.3");
        resolver.Resolve(Neighbor4, Packet(60, 1), default, now: 0);
        resolver.Resolve(second, Packet(70, 2), default, now: 1);
        Assert.Equal([Neighbor4, second], host.Solicited.Select(s => s.Target));
        Assert.Empty(host.Unreachable);
        Assert.Equal(1, counters[StackCounter.DropNeighborTableFull]);
        Assert.Null(resolver.Ipv4.StateOf(Neighbor4));
        resolver.Learned(resolver.Ipv4.Learn(second, NeighborMac, 5, create: false, confirmed: true));
        Assert.Equal(70, host.Resolved.Single().Packet.Length);
        Assert.Equal(NeighborState.Reachable, resolver.Ipv4.StateOf(second));
    }

    /// <summary>An output path over a recording device, its resolver's host sending resolved packets back through it.</summary>
    sealed class OutputFixture
    {
        public OutputFixture(int mtu = 1500, LinkMedium medium = LinkMedium.Ethernet, bool gateway = false)
        {
            Device = new RecordingDevice(medium, mtu);
            var options = Options();
            Link = new LinkLayer(Device, Frames.StackMac, Counters);
            Resolver = new NeighborResolver(options, Host, Counters);
            Ipv4.Configure(Frames.StackIp, 24, gateway ? Frames.PeerIp : Ipv4Address.Any);
            Ipv6.Mtu = mtu;
            Output = new IpOutput(Link, Resolver, Ipv4, Ipv6, Host, Counters, timeToLive: 64, new Random(1));
            Host.Output = Output;
        }

        public RecordingDevice Device { get; }
        public RecordingHost Host { get; } = new();
        public StackCounters Counters { get; } = new();
        public LinkLayer Link { get; }
        public NeighborResolver Resolver { get; }
        public Ipv4Interface Ipv4 { get; } = new();
        public Ipv6Interface Ipv6 { get; } = new(8, 8, 8);
        public IpOutput Output { get; }

        /// <summary>Sends <paramref name="payloadLength"/> bytes counting up from 0 as a UDP-numbered payload.</summary>
        public byte[] Send(IpAddress source, IpAddress destination, int payloadLength)
        {
            var buffer = new byte[TransmitBuffers.BufferLength];
            var payload = buffer.AsSpan(TransmitBuffers.TransportOffset, payloadLength);
            for (int i = 0; i < payload.Length; i++)
                payload[i] = (byte)i;
            var copy = payload.ToArray();
            Output.Send(buffer, TransmitBuffers.TransportOffset, payloadLength, IpProtocol.Udp, source, destination, now: 0);
            return copy;
        }
    }

    [Theory(DisplayName = "RFC 1112 6.4 and RFC 2464 7: a packet to a group goes to the group's link address, one to the subnet broadcast to ff:ff:ff:ff:ff:ff, with nothing to resolve")]
    [InlineData("224.1.2.3", "01:00:5e:01:02:03")]
    [InlineData("239.129.2.3", "01:00:5e:01:02:03")]
    [InlineData("192.168.0.255", "ff:ff:ff:ff:ff:ff")]
    [InlineData("255.255.255.255", "ff:ff:ff:ff:ff:ff")]
    [InlineData("ff02::1:ff00:1234", "33:33:ff:00:12:34")]
    [InlineData("ff05::fb", "33:33:00:00:00:fb")]
    public void GroupsAndBroadcastMapToTheirLinkAddress(string destination, string mac)
    {
        var fixture = new OutputFixture();
        var to = IpAddress.Parse(destination);
        fixture.Send(to.IsIpv4 ? Frames.StackIp : IpAddress.Parse("fe80::2"), to, 10);
        Assert.True(EthernetFrame.TryParse(fixture.Device.Sent.Single(), out var frame));
        Assert.Equal(MacAddress.Parse(mac), frame.Destination);
        Assert.Equal(Frames.StackMac, frame.Source);
        Assert.Empty(fixture.Host.Solicited);
    }

    [Fact(DisplayName = "RFC 791 3.2: a datagram over the MTU leaves as fragments of 8-byte multiples with one identification, whose data joins to the original")]
    public void Ipv4FragmentsJoinToTheDatagram()
    {
        var fixture = new OutputFixture(mtu: 576);
        fixture.Resolver.Ipv4.Learn(Neighbor4, NeighborMac, 0, create: true, confirmed: true);
        var payload = fixture.Send(Frames.StackIp, Neighbor4, 2000);
        var joined = new List<byte>();
        var identifications = new HashSet<ushort>();
        foreach (var sent in fixture.Device.Sent)
        {
            Assert.True(EthernetFrame.TryParse(sent, out var frame));
            Assert.Equal(NeighborMac, frame.Destination);
            Assert.True(Ipv4Packet.TryParse(frame.Payload, out var fragment));
            Assert.True(fragment.IsHeaderChecksumValid);
            Assert.True(fragment.TotalLength <= 576);
            Assert.Equal(joined.Count, fragment.FragmentOffset);
            Assert.Equal(fragment.FragmentOffset + fragment.Payload.Length < 2000, fragment.MoreFragments);
            if (fragment.MoreFragments)
                Assert.Equal(0, fragment.Payload.Length % 8);
            identifications.Add(fragment.Identification);
            joined.AddRange(fragment.Payload.ToArray());
        }
        Assert.Equal(4, fixture.Device.Sent.Count);
        Assert.Single(identifications);
        Assert.Equal(payload, joined);
        Assert.Equal(4, fixture.Counters[StackCounter.Ipv4FragmentsSent]);
    }

    [Fact(DisplayName = "RFC 8200 4.5: an IPv6 packet over the link MTU leaves as fragments behind Fragment headers with one identification; a held packet is fragmented when its neighbour resolves")]
    public void Ipv6FragmentsAfterResolution()
    {
        var fixture = new OutputFixture(mtu: 1280);
        var payload = fixture.Send(IpAddress.Parse("fe80::2"), Neighbor6, 3000);
        Assert.Empty(fixture.Device.Sent);
        Assert.Equal(Neighbor6, fixture.Host.Solicited.Single().Target);

        fixture.Resolver.Learned(fixture.Resolver.Ipv6!.Advertise(Neighbor6, NeighborMac, solicited: true, overrideFlag: true, now: 1));
        var joined = new List<byte>();
        var identifications = new HashSet<uint>();
        foreach (var sent in fixture.Device.Sent)
        {
            Assert.True(EthernetFrame.TryParse(sent, out var frame));
            Assert.Equal(NeighborMac, frame.Destination);
            Assert.True(Ipv6Packet.TryParse(frame.Payload, out var packet));
            Assert.True(packet.Bytes.Length <= 1280);
            Assert.Equal(Ipv6NextHeader.Fragment, packet.NextHeader);
            var fragment = new Ipv6FragmentHeader(packet.Payload);
            Assert.Equal(IpProtocol.Udp, fragment.NextHeader);
            Assert.Equal(joined.Count, fragment.FragmentOffset);
            identifications.Add(fragment.Identification);
            joined.AddRange(packet.Payload[Ipv6FragmentHeader.Length..].ToArray());
        }
        Assert.Equal(3, fixture.Device.Sent.Count);
        Assert.Single(identifications);
        Assert.Equal(payload, joined);
    }

    [Fact(DisplayName = "RFC 1122 3.3.1.1: with no gateway, a datagram to another subnet is dropped, counted and reported NetworkUnreachable; with one, it goes to the gateway's link address")]
    public void OffLinkNeedsTheGateway()
    {
        var offLink = Ipv4Address.Parse("10.9.9.9");
        var alone = new OutputFixture();
        alone.Send(Frames.StackIp, offLink, 20);
        Assert.Empty(alone.Device.Sent);
        Assert.Equal(SocketError.NetworkUnreachable, alone.Host.Unreachable.Single().Error);
        Assert.Equal(1, alone.Counters[StackCounter.DropNoRoute]);

        var routed = new OutputFixture(gateway: true);
        routed.Resolver.Ipv4.Learn(Frames.PeerIp, NeighborMac, 0, create: true, confirmed: true);
        routed.Send(Frames.StackIp, offLink, 20);
        Assert.True(EthernetFrame.TryParse(routed.Device.Sent.Single(), out var frame));
        Assert.Equal(NeighborMac, frame.Destination);
        Assert.True(Ipv4Packet.TryParse(frame.Payload, out var packet));
        Assert.Equal(offLink, packet.Destination);
    }

    [Fact(DisplayName = "On a TUN (no link header) a packet goes out bare, with nothing to resolve")]
    public void TunSendsBarePackets()
    {
        var fixture = new OutputFixture(medium: LinkMedium.Ip);
        fixture.Send(Frames.StackIp, Ipv4Address.Parse("10.9.9.9"), 20);
        Assert.True(Ipv4Packet.TryParse(fixture.Device.Sent.Single(), out var packet));
        Assert.Equal(IpProtocol.Udp, packet.Protocol);
        Assert.Empty(fixture.Host.Solicited);
    }

    [Fact(DisplayName = "Transmit buffers are leased per packet and all come back: after lossy TCP both ways, resolution and ICMP errors none is held")]
    public void TransmitBuffersComeBack()
    {
        var loss = new ImpairmentOptions { Seed = 3, LossRate = 0.05 };
        using var net = new TwoEngines(loss, loss);
        var listener = new RecordingListener();
        net.B.Tcp.Listen(80, 16, listener);
        var client = new RecordingConnection();
        Assert.True(net.RunUntil(() => net.A.State == StackState.Ready && net.B.State == StackState.Ready, TimeSpan.FromSeconds(10)));
        client.Connection = net.A.Tcp.Connect(TwoEngines.AddressB, 80, client);
        Assert.True(net.RunUntil(() => listener.Accepted.Count == 1, TimeSpan.FromSeconds(30)));
        var data = Frames.RandomBytes(256 << 10, 4);
        var feeder = new Feeder(client.Connection, data);
        Assert.True(net.RunUntil(() =>
        {
            feeder.Pump();
            return listener.Accepted[0].Received.Length == data.Length;
        }, TimeSpan.FromSeconds(120)));
        // A datagram to a closed port draws a port unreachable, built in a buffer of its own.
        var udp = net.A.Udp.Bind(0, new RecordingReceiver());
        Assert.Equal(SocketError.Success, net.A.Udp.Send(udp, TwoEngines.AddressB, 9, [1, 2, 3]));
        net.RunUntil(() => false, TimeSpan.FromSeconds(1));
        Assert.True(net.A.Counters[StackCounter.TcpSegmentsRetransmitted] > 0);
        Assert.Equal(0, net.A.TransmitBuffersLeased);
        Assert.Equal(0, net.B.TransmitBuffersLeased);
    }
}
