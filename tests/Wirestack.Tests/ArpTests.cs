using Wirestack.Network;
using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class ArpTests
{
    [Fact(DisplayName = "RFC 5227 3: configuring the address sends a gratuitous ARP announcement")]
    public void AnnouncesAddressWhenConfigured()
    {
        var (stackSide, peer) = Devices.InMemoryLink.CreatePair();
        using var _ = stackSide;
        using var __ = peer;
        var engine = new Engine.NetworkEngine(stackSide, EngineHarness.DefaultOptions());
        engine.Poll(0);
        var buffer = new byte[100];
        Assert.True(peer.TryReceive(buffer, 0, out int length));
        Assert.True(EthernetFrame.TryParse(buffer.AsSpan(0, length), out var frame));
        Assert.True(frame.Destination.IsBroadcast);
        Assert.True(ArpPacket.TryParse(frame.Payload, out var arp));
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(Frames.StackIp, arp.SenderProtocolAddress);
        Assert.Equal(Frames.StackIp, arp.TargetProtocolAddress);
        Assert.Equal(StackState.Ready, engine.State);
    }

    [Fact(DisplayName = "RFC 826: a request for our address is answered, and teaches us the sender")]
    public void AnswersRequestAndLearnsSender()
    {
        using var h = new EngineHarness(learnPeer: false);
        h.Inject(Frames.Arp(ArpOperation.Request, Frames.PeerMac, Frames.PeerIp, MacAddress.Zero, Frames.StackIp));
        var reply = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(reply, out var frame));
        Assert.Equal(Frames.PeerMac, frame.Destination);
        Assert.True(ArpPacket.TryParse(frame.Payload, out var arp));
        Assert.Equal(ArpOperation.Reply, arp.Operation);
        Assert.Equal(Frames.StackMac, arp.SenderHardwareAddress);
        Assert.Equal(Frames.StackIp, arp.SenderProtocolAddress);
        Assert.Equal(Frames.PeerMac, arp.TargetHardwareAddress);
        Assert.True(h.Engine.Neighbors.TryGet(Frames.PeerIp, h.Now, out var learned));
        Assert.Equal(Frames.PeerMac, learned);
    }

    [Fact(DisplayName = "RFC 826 merge: requests for other hosts are not answered and add no entry")]
    public void IgnoresRequestsForOthers()
    {
        using var h = new EngineHarness(learnPeer: false);
        h.Inject(Frames.Arp(ArpOperation.Request, Frames.PeerMac, Frames.PeerIp, MacAddress.Zero, Ipv4Address.Parse("192.168.0.99")));
        Assert.Empty(h.Drain());
        Assert.False(h.Engine.Neighbors.Contains(Frames.PeerIp));
    }

    [Fact(DisplayName = "RFC 5227 2.4: an ARP packet claiming our address is counted as a conflict and ignored")]
    public void CountsAddressConflict()
    {
        using var h = new EngineHarness(learnPeer: false);
        h.Inject(Frames.Arp(ArpOperation.Reply, Frames.PeerMac, Frames.StackIp, MacAddress.Zero, Frames.StackIp));
        Assert.Equal(1, h.Count(StackCounter.DropArpAddressConflict));
        Assert.Empty(h.Drain());
    }

    [Fact(DisplayName = "RFC 1122 2.3.2.1: a send to an unknown neighbor queues, resolves, then flushes in order")]
    public void ResolvesThenFlushes()
    {
        using var h = new EngineHarness(learnPeer: false) { AnswerArpForPeer = false };
        var receiver = new RecordingReceiver();
        var binding = h.Engine.Udp.Bind(4000, receiver);
        for (int i = 0; i < 3; i++)
            Assert.Equal(SocketError.Success, h.Engine.Udp.Send(binding, Frames.PeerIp, 5000, [(byte)i]));
        var request = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(request, out var frame));
        Assert.True(ArpPacket.TryParse(frame.Payload, out var arp));
        Assert.Equal(Frames.PeerIp, arp.TargetProtocolAddress);

        h.Inject(Frames.Arp(ArpOperation.Reply, Frames.PeerMac, Frames.PeerIp, Frames.StackMac, Frames.StackIp, Frames.StackMac));
        var flushed = h.Drain();
        Assert.Equal(3, flushed.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(EthernetFrame.TryParse(flushed[i], out var f));
            Assert.Equal(Frames.PeerMac, f.Destination);
            Assert.True(Ipv4Packet.TryParse(f.Payload, out var ip));
            Assert.True(UdpDatagram.TryParse(ip.Payload, out var udp));
            Assert.Equal([(byte)i], udp.Payload.ToArray());
        }
    }

    [Fact(DisplayName = "RFC 1122 2.3.2.2: the resolution queue is bounded; on failure the sender is told HostUnreachable")]
    public void ResolutionQueueBoundAndFailure()
    {
        var options = EngineHarness.DefaultOptions() with { ResolutionQueuePackets = 4, ArpRequestAttempts = 3 };
        using var h = new EngineHarness(options, learnPeer: false);
        var receiver = new RecordingReceiver();
        var binding = h.Engine.Udp.Bind(4000, receiver);
        var target = Ipv4Address.Parse("192.168.0.50");
        for (int i = 0; i < 10; i++)
            h.Engine.Udp.Send(binding, target, 5000, [(byte)i]);
        Assert.Equal(6, h.Count(StackCounter.DropResolutionQueueFull));
        Assert.Equal(1, h.Count(StackCounter.ArpRequestsSent) - 1); // minus the announcement
        h.Advance(TimeSpan.FromSeconds(1));
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(3, h.Count(StackCounter.ArpRequestsSent) - 1);
        Assert.Empty(receiver.Errors);
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(4, h.Count(StackCounter.DropResolutionFailed));
        Assert.Equal(4, receiver.Errors.Count);
        Assert.All(receiver.Errors, e => Assert.Equal(SocketError.HostUnreachable, e.Error));
        Assert.Equal(0, h.Engine.Neighbors.QueuedBytes);
        Assert.False(h.Engine.Neighbors.Contains(target));
    }

    [Fact(DisplayName = "RFC 4861 7.3.3 (as Linux for ARP): past the reachable time an entry is STALE and still used; used, it is probed by unicast after 5 s, and dropped when 3 probes go unanswered")]
    public void StaleEntryIsUsedThenProbed()
    {
        var options = EngineHarness.DefaultOptions() with { NeighborReachableTime = TimeSpan.FromSeconds(10) };
        using var h = new EngineHarness(options, learnPeer: false) { AnswerArpForPeer = false };
        var receiver = new RecordingReceiver();
        var binding = h.Engine.Udp.Bind(4000, receiver);
        h.Engine.Udp.Send(binding, Frames.PeerIp, 5000, [1]);
        h.Drain();
        h.Inject(Frames.Arp(ArpOperation.Reply, Frames.PeerMac, Frames.PeerIp, Frames.StackMac, Frames.StackIp, Frames.StackMac));
        h.Drain();
        Assert.Equal(NeighborState.Reachable, h.Engine.Neighbors.StateOf(Frames.PeerIp));
        h.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(NeighborState.Stale, h.Engine.Neighbors.StateOf(Frames.PeerIp));
        // Still used at once: the datagram goes out, nothing queues.
        h.Engine.Udp.Send(binding, Frames.PeerIp, 5000, [2]);
        var sent = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(sent, out var data) && data.EtherType == EtherType.Ipv4 && data.Destination == Frames.PeerMac);
        Assert.Equal(NeighborState.Delay, h.Engine.Neighbors.StateOf(Frames.PeerIp));
        // After DELAY_FIRST_PROBE_TIME, unicast probes, one a second.
        var probes = new List<MacAddress>();
        for (int i = 0; i < 100; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            foreach (var frame in h.Drain())
            {
                Assert.True(EthernetFrame.TryParse(frame, out var eth) && eth.EtherType == EtherType.Arp);
                probes.Add(eth.Destination);
            }
        }
        Assert.Equal([Frames.PeerMac, Frames.PeerMac, Frames.PeerMac], probes);
        Assert.False(h.Engine.Neighbors.Contains(Frames.PeerIp));
    }

    [Fact(DisplayName = "RFC 4861 7.3.1: TCP forward progress confirms the neighbor, so a busy flow's next hop stays REACHABLE without any ARP")]
    public void TcpProgressConfirmsReachability()
    {
        var options = EngineHarness.DefaultOptions() with { NeighborReachableTime = TimeSpan.FromSeconds(10) };
        using var h = new EngineHarness(options) { AnswerArpForPeer = false };
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 8, listener);
        var peer = new TcpPeer(h);
        peer.Send(100, 0, TcpFlags.Syn);
        var synAck = Assert.Single(peer.Received());
        peer.Send(101, synAck.Seq + 1, TcpFlags.Ack);
        var connection = listener.Accepted[0].Connection!;
        long arpBefore = h.Count(StackCounter.ArpRequestsSent);
        uint next = synAck.Seq + 1;
        for (int second = 0; second < 120; second++)
        {
            connection.Write(new byte[100]);
            connection.OnApplicationWrite();
            foreach (var segment in peer.Received())
                next = segment.Seq + (uint)segment.Payload.Length;
            peer.Send(101, next, TcpFlags.Ack);
            h.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(arpBefore, h.Count(StackCounter.ArpRequestsSent));
        Assert.Equal(NeighborState.Reachable, h.Engine.Neighbors.StateOf(Frames.PeerIp));
        Assert.Equal(0, h.Count(StackCounter.TcpSegmentsRetransmitted));
    }

    [Fact(DisplayName = "The neighbor cache stays within its capacity under a flood of senders")]
    public void CacheIsBounded()
    {
        var options = EngineHarness.DefaultOptions() with { Ipv4NeighborCacheCapacity = 8 };
        using var h = new EngineHarness(options, learnPeer: false);
        for (int i = 0; i < 100; i++)
        {
            var mac = MacAddress.Parse($"02:00:00:00:01:{i:x2}");
            h.Inject(Frames.Arp(ArpOperation.Request, mac, new Ipv4Address(Frames.PeerIp.Value + 100 + (uint)i), MacAddress.Zero, Frames.StackIp));
        }
        Assert.Equal(8, h.Engine.Neighbors.Count);
        Assert.Equal(100, h.Count(StackCounter.ArpRepliesSent));
    }

    [Fact(DisplayName = "ARP spray attack: 2,000 requests for us from spoofed senders churn among themselves; the confirmed gateway keeps its entry and traffic through it needs no new resolution")]
    public void ArpSprayKeepsTheConfirmedGateway()
    {
        // A /16: room on the link for more spoofed senders than the table holds.
        var options = EngineHarness.DefaultOptions() with { Ipv4 = Ipv4Settings.Static("192.168.0.2/16", "192.168.0.1") };
        using var h = new EngineHarness(options, learnPeer: false);
        h.Inject(Frames.Arp(ArpOperation.Reply, Frames.PeerMac, Frames.PeerIp, Frames.StackMac, Frames.StackIp, Frames.StackMac));
        Assert.Equal(NeighborState.Reachable, h.Engine.Neighbors.StateOf(Frames.PeerIp));
        h.Advance(TimeSpan.FromSeconds(1));
        for (int i = 0; i < 2000; i++)
        {
            var mac = MacAddress.Parse($"02:00:00:{i >> 8:x2}:{i & 0xFF:x2}:01");
            var sender = new Ipv4Address(0xC0A8_0100u + (uint)i);
            h.Inject(Frames.Arp(ArpOperation.Request, mac, sender, MacAddress.Zero, Frames.StackIp));
            // Off-link senders add nothing at all.
            h.Inject(Frames.Arp(ArpOperation.Request, mac, new Ipv4Address(0x0A00_0000u + (uint)i), MacAddress.Zero, Frames.StackIp));
        }
        Assert.Equal(512, h.Engine.Neighbors.Count);
        Assert.Null(h.Engine.Neighbors.StateOf(Ipv4Address.Parse("10.0.0.1")));
        Assert.NotNull(h.Engine.Neighbors.StateOf(Frames.PeerIp));
        long requests = h.Count(StackCounter.ArpRequestsSent);
        h.Drain();
        h.AnswerArpForPeer = false;
        // A datagram to an off-link address goes straight to the gateway's known link address.
        var socket = new RecordingReceiver();
        var binding = h.Engine.Udp.Bind(0, socket);
        h.Engine.Udp.Send(binding, Ipv4Address.Parse("203.0.113.9"), 9, [1, 2, 3]);
        var frame = Assert.Single(h.Drain());
        Assert.True(EthernetFrame.TryParse(frame, out var eth));
        Assert.Equal(Frames.PeerMac, eth.Destination);
        Assert.Equal(requests, h.Count(StackCounter.ArpRequestsSent));
    }

    [Fact(DisplayName = "ARP spray attack: replies nobody asked for add no entry and confirm none (Linux without arp_accept)")]
    public void UnsolicitedRepliesAddNothing()
    {
        using var h = new EngineHarness(learnPeer: true);
        int before = h.Engine.Neighbors.Count;
        for (int i = 0; i < 100; i++)
        {
            var mac = MacAddress.Parse($"02:00:00:00:02:{i:x2}");
            h.Inject(Frames.Arp(ArpOperation.Reply, mac, new Ipv4Address(Frames.PeerIp.Value + 100 + (uint)i), Frames.StackMac, Frames.StackIp, to: Frames.StackMac));
        }
        Assert.Equal(before, h.Engine.Neighbors.Count);
        // The known peer's own unsolicited reply does not make its entry look confirmed.
        h.Inject(Frames.Arp(ArpOperation.Reply, Frames.PeerMac, Frames.PeerIp, Frames.StackMac, Frames.StackIp, to: Frames.StackMac));
        Assert.Equal(NeighborState.Stale, h.Engine.Neighbors.StateOf(Frames.PeerIp));
    }

    [Fact(DisplayName = "With a gateway the stack is Configuring until the gateway resolves, then Ready")]
    public void ReadyAfterGatewayResolves()
    {
        var options = EngineHarness.DefaultOptions() with { Ipv4 = Ipv4Settings.Static("192.168.0.2/24", "192.168.0.1") };
        using var h = new EngineHarness(options, learnPeer: false);
        Assert.Equal(StackState.Configuring, h.Engine.State);
        Assert.Equal(2, h.Count(StackCounter.ArpRequestsSent)); // announcement and gateway request
        h.Inject(Frames.Arp(ArpOperation.Reply, Frames.PeerMac, Frames.PeerIp, Frames.StackMac, Frames.StackIp, Frames.StackMac));
        h.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(StackState.Ready, h.Engine.State);
        var states = new List<StackState>();
        while (h.Engine.TryTakeStateChange(out var s))
            states.Add(s);
        Assert.Equal([StackState.LinkUp, StackState.Configuring, StackState.Ready], states);
    }
}
