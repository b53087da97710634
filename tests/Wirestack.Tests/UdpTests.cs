using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Devices;
using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class UdpTests
{
    [Fact(DisplayName = "RFC 768: a datagram to a bound port is delivered with its source")]
    public void Delivers()
    {
        using var h = new EngineHarness();
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(53, receiver);
        h.Inject(Frames.ToStack(IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 40000, 53, [1, 2, 3])));
        var got = Assert.Single(receiver.Datagrams);
        Assert.Equal([1, 2, 3], got.Payload);
        Assert.Equal(Frames.PeerIp, got.From);
        Assert.Equal(40000, got.FromPort);
        Assert.Empty(h.Drain());
    }

    [Fact(DisplayName = "RFC 768: a datagram with a bad checksum is dropped and counted")]
    public void BadChecksum()
    {
        using var h = new EngineHarness();
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(53, receiver);
        var udp = Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 40000, 53, [1, 2, 3]);
        udp[^1] ^= 0x40;
        h.Inject(Frames.ToStack(IpProtocol.Udp, udp));
        Assert.Empty(receiver.Datagrams);
        Assert.Equal(1, h.Count(StackCounter.DropUdpBadChecksum));
    }

    [Fact(DisplayName = "A full receive queue drops new datagrams and counts them")]
    public void QueueFull()
    {
        using var h = new EngineHarness();
        var receiver = new RecordingReceiver(capacity: 2);
        var binding = h.Engine.Udp.Bind(53, receiver);
        for (int i = 0; i < 5; i++)
            h.Inject(Frames.ToStack(IpProtocol.Udp, Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 40000, 53, [(byte)i])));
        Assert.Equal(2, receiver.Datagrams.Count);
        Assert.Equal(3, h.Count(StackCounter.DropUdpQueueFull));
        Assert.Equal(3, binding.DatagramsDropped);
    }

    [Fact(DisplayName = "Binding: a taken port is refused; ephemeral ports come from 49152-65535 and are distinct")]
    public void Binding()
    {
        using var h = new EngineHarness();
        h.Engine.Udp.Bind(53, new RecordingReceiver());
        var e = Assert.Throws<SocketException>(() => h.Engine.Udp.Bind(53, new RecordingReceiver()));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
        var ports = Enumerable.Range(0, 500).Select(_ => h.Engine.Udp.Bind(0, new RecordingReceiver()).Port).ToList();
        Assert.All(ports, p => Assert.InRange(p, 49152, 65535));
        Assert.Equal(ports.Count, ports.Distinct().Count());
    }

    [Fact(DisplayName = "Sending: oversize and unroutable datagrams are refused with the socket error a kernel gives")]
    public void SendErrors()
    {
        using var h = new EngineHarness();
        var binding = h.Engine.Udp.Bind(1000, new RecordingReceiver());
        Assert.Equal(SocketError.MessageSize, h.Engine.Udp.Send(binding, Frames.PeerIp, 7, new byte[65508]));
        Assert.Equal(SocketError.NetworkUnreachable, h.Engine.Udp.Send(binding, Ipv4Address.Parse("8.8.8.8"), 53, [1]));
        Assert.Equal(SocketError.AddressNotAvailable, h.Engine.Udp.Send(binding, Frames.PeerIp, 0, [1]));
    }

    [Fact(DisplayName = "Broadcast: a datagram to 255.255.255.255 goes to ff:ff:ff:ff:ff:ff without ARP")]
    public void Broadcast()
    {
        using var h = new EngineHarness(learnPeer: false);
        var binding = h.Engine.Udp.Bind(68, new RecordingReceiver());
        Assert.Equal(SocketError.Success, h.Engine.Udp.Send(binding, Ipv4Address.Broadcast, 67, [1, 2]));
        var frame = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.True(eth.Destination.IsBroadcast);
        Assert.Equal(EtherType.Ipv4, eth.EtherType);
    }

    [Fact(DisplayName = "RFC 768 checksum offload: on a device that finishes checksums, a datagram leaves with only the pseudo-header's sum in its checksum and a header saying where to finish it")]
    public void ChecksumLeftToTheDevice()
    {
        using var h = new EngineHarness(offloads: true);
        var peer = (IReceiveOffloads)h.PeerSide;
        peer.EnableReceiveOffloads(); // the peer's end takes frames as the stack left them, as the host's kernel does
        var binding = h.Engine.Udp.Bind(1000, new RecordingReceiver());
        var payload = Frames.RandomBytes(100, 3);
        Assert.Equal(SocketError.Success, h.Engine.Udp.Send(binding, Frames.PeerIp, 7, payload));
        var frame = Assert.Single(h.Drain());
        var header = peer.LastHeader;
        int udpStart = EthernetFrame.HeaderLength + Ipv4Packet.MinimumHeaderLength;
        Assert.Equal(VirtioNetHeader.NeedsChecksum, header.Flags);
        Assert.Equal(GsoType.None, header.Gso);
        Assert.Equal(udpStart, header.ChecksumStart);
        Assert.Equal(UdpDatagram.ChecksumOffset, header.ChecksumOffset);
        var datagram = frame.AsSpan(udpStart);
        uint pseudoHeader = Checksum.PseudoHeaderSum(Frames.StackIp, Frames.PeerIp, IpProtocol.Udp, datagram.Length);
        Assert.Equal((ushort)pseudoHeader, BinaryPrimitives.ReadUInt16BigEndian(datagram[UdpDatagram.ChecksumOffset..]));
        SoftwareOffloads.CompleteChecksum(frame, header.ChecksumStart, header.ChecksumOffset);
        Assert.True(UdpDatagram.TryParse(datagram, out var udp));
        Assert.True(udp.IsChecksumValid(Frames.StackIp, Frames.PeerIp));
        Assert.Equal(payload, udp.Payload.ToArray());
    }

    [Theory(DisplayName = "RFC 768 checksum offload: a peer without offloads gets every datagram finished with a valid checksum, a fragmented one (RFC 791) finished before it is cut")]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(1472)]
    [InlineData(3000)]
    public void ChecksumFinishedForAPlainPeer(int size)
    {
        using var h = new EngineHarness(offloads: true);
        var binding = h.Engine.Udp.Bind(1000, new RecordingReceiver());
        var payload = Frames.RandomBytes(size, size);
        Assert.Equal(SocketError.Success, h.Engine.Udp.Send(binding, Frames.PeerIp, 7, payload));
        var datagram = new byte[UdpDatagram.HeaderLength + size];
        var frames = h.Drain();
        Assert.Equal(size > 1472 ? 3 : 1, frames.Count);
        foreach (var frame in frames)
        {
            Assert.True(EthernetFrame.TryParse(frame, out var eth));
            Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
            ip.Payload.CopyTo(datagram.AsSpan(ip.FragmentOffset));
        }
        Assert.True(UdpDatagram.TryParse(datagram, out var udp));
        Assert.NotEqual(0, udp.StoredChecksum);
        Assert.True(udp.IsChecksumValid(Frames.StackIp, Frames.PeerIp));
        Assert.Equal(payload, udp.Payload.ToArray());
    }

    [Theory(DisplayName = "Two engines exchange UDP datagrams of every size up to 65,507 bytes, fragmented and reassembled, with and without send offloads")]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(1472, false)]
    [InlineData(1473, false)]
    [InlineData(8000, false)]
    [InlineData(65507, false)]
    [InlineData(1, true)]
    [InlineData(1472, true)]
    [InlineData(8000, true)]
    [InlineData(65507, true)]
    public void EngineToEngine(int size, bool offloads)
    {
        using var net = new TwoEngines(offloads: offloads);
        var atB = new RecordingReceiver();
        net.B.Udp.Bind(9, atB);
        var fromA = net.A.Udp.Bind(0, new RecordingReceiver());
        var payload = Frames.RandomBytes(size, size);
        Assert.True(net.RunUntil(() => net.A.State == StackState.Ready && net.B.State == StackState.Ready, TimeSpan.FromSeconds(1)));
        Assert.Equal(SocketError.Success, net.A.Udp.Send(fromA, TwoEngines.AddressB, 9, payload));
        Assert.True(net.RunUntil(() => atB.Datagrams.Count == 1, TimeSpan.FromSeconds(5)));
        Assert.Equal(payload, atB.Datagrams[0].Payload);
        Assert.Equal(TwoEngines.AddressA, atB.Datagrams[0].From);
    }

    [Fact(DisplayName = "On a lossy, duplicating, reordering link, every datagram that arrives is intact and none twice-reassembled wrongly")]
    public void ImpairedLink()
    {
        var impairment = new ImpairmentOptions { Seed = 5, LossRate = 0.05, DuplicationRate = 0.05, ReorderRate = 0.1, DelayMicroseconds = 500, JitterMicroseconds = 300 };
        using var net = new TwoEngines(impairAtoB: impairment, impairBtoA: impairment with { Seed = 6 });
        var atB = new RecordingReceiver();
        net.B.Udp.Bind(9, atB);
        var fromA = net.A.Udp.Bind(0, new RecordingReceiver());
        Assert.True(net.RunUntil(() => net.A.State == StackState.Ready, TimeSpan.FromSeconds(1)));
        var sent = new Dictionary<byte, byte[]>();
        for (int i = 0; i < 100; i++)
        {
            var payload = Frames.RandomBytes(3000, i);
            payload[0] = (byte)i;
            sent[(byte)i] = payload;
            net.A.Udp.Send(fromA, TwoEngines.AddressB, 9, payload);
            net.RunUntil(() => false, TimeSpan.FromMilliseconds(5));
        }
        net.RunUntil(() => false, TimeSpan.FromSeconds(2));
        Assert.InRange(atB.Datagrams.Count, 60, 110);
        foreach (var (payload, _, _) in atB.Datagrams)
            Assert.Equal(sent[payload[0]], payload);
    }
}

public sealed class RoutingTests
{
    [Fact(DisplayName = "RFC 1122 3.3.1.1: on-link destinations go direct, others to the gateway's MAC")]
    public void OffLinkGoesViaGateway()
    {
        var options = EngineHarness.DefaultOptions() with { Ipv4 = Ipv4Settings.Static("192.168.0.2/24", "192.168.0.1") };
        using var h = new EngineHarness(options);
        h.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(StackState.Ready, h.Engine.State);
        h.Drain();
        var binding = h.Engine.Udp.Bind(1000, new RecordingReceiver());
        Assert.Equal(System.Net.Sockets.SocketError.Success, h.Engine.Udp.Send(binding, Ipv4Address.Parse("8.8.8.8"), 53, [1]));
        var frame = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.Equal(Frames.PeerMac, eth.Destination);
        Assert.True(Ipv4Packet.TryParse(eth.Payload, out var ip));
        Assert.Equal(Ipv4Address.Parse("8.8.8.8"), ip.Destination);
        Assert.Equal(64, ip.TimeToLive);
    }

    [Fact(DisplayName = "RFC 791 3.2: successive datagrams carry distinct identifications")]
    public void IdentificationAdvances()
    {
        using var h = new EngineHarness();
        var binding = h.Engine.Udp.Bind(1000, new RecordingReceiver());
        var ids = new HashSet<ushort>();
        for (int i = 0; i < 100; i++)
        {
            h.Engine.Udp.Send(binding, Frames.PeerIp, 7, [1]);
            EthernetFrame.TryParse(Assert.Single(h.Drain()), out var eth);
            Ipv4Packet.TryParse(eth.Payload, out var ip);
            ids.Add(ip.Identification);
        }
        Assert.Equal(100, ids.Count);
    }
}
