using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>TCP against peers that attack it: every bound here names the attack it defends against.</summary>
public sealed class TcpHostilePeerTests
{
    const uint PeerIss = 7000;

    static Ipv4Address Spoofed(int i) => new((uint)(0xC0A8_0000 | (10 + i % 240))); // 192.168.0.10-249, on link

    /// <summary>The TCP segments the stack sent to <paramref name="port"/>; ARP requests for the peer are answered, as the peer would.</summary>
    static List<SentSegment> SegmentsTo(EngineHarness h, ushort port)
    {
        var result = new List<SentSegment>();
        foreach (var frame in h.Drain())
        {
            if (EthernetFrame.TryParse(frame, out var arpFrame) && arpFrame.EtherType == EtherType.Arp
                && ArpPacket.TryParse(arpFrame.Payload, out var arp) && arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == Frames.PeerIp)
            {
                h.Inject(Frames.Arp(ArpOperation.Reply, Frames.PeerMac, Frames.PeerIp, Frames.StackMac, Frames.StackIp, to: Frames.StackMac));
                continue;
            }
            if (!EthernetFrame.TryParse(frame, out var eth) || eth.EtherType != EtherType.Ipv4
                || !Ipv4Packet.TryParse(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp
                || !TcpSegment.TryParse(ip.Payload, out var tcp) || tcp.DestinationPort != port || !tcp.TryParseOptions(out var options))
                continue;
            result.Add(new SentSegment(tcp.SourcePort, tcp.DestinationPort, tcp.SequenceNumber, tcp.AcknowledgmentNumber, tcp.Flags, tcp.Window, tcp.Payload.ToArray(), options));
        }
        return result;
    }

    [Fact(DisplayName = "Spoofed SYN flood on ports 80 and 443: queues stay bounded, cookies answer the rest, a legitimate handshake completes mid-flood, and the table empties after")]
    public void SpoofedSynFlood()
    {
        using var h = new EngineHarness();
        var web = new RecordingListener();
        var tls = new RecordingListener();
        h.Engine.Tcp.Listen(80, 128, web);
        h.Engine.Tcp.Listen(443, 128, tls);
        // 2,400 SYNs in 4.6 s from addresses on the link that never answer (as in the attack seen on a LAN).
        for (int i = 0; i < 2400; i++)
        {
            new TcpPeer(h, localPort: (ushort)(1024 + i), remotePort: i % 2 == 0 ? (ushort)80 : (ushort)443, address: Spoofed(i))
                .Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(timestamps: false));
            if (i % 100 == 0)
                h.Advance(TimeSpan.FromMilliseconds(190));
            if (i == 1200)
            {
                // The legitimate client, mid-flood.
                var client = new TcpPeer(h, localPort: 50000);
                h.Drain();
                client.Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(timestamps: false));
                var synAck = Assert.Single(SegmentsTo(h, 50000));
                Assert.True(synAck.Has(TcpFlags.Syn | TcpFlags.Ack));
                client.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack, [42]);
                var accepted = Assert.Single(web.Accepted);
                Assert.Equal([42], accepted.Received.ToArray());
            }
            Assert.True(h.Engine.Tcp.ConnectionCount <= 2 * 128 + 1, $"{h.Engine.Tcp.ConnectionCount} connections after {i} SYNs");
        }
        Assert.True(h.Count(StackCounter.TcpSynCookiesSent) > 2000);
        Assert.Equal(0, h.Count(StackCounter.DropTcpConnectionLimit));
        Assert.Equal(0, h.Engine.Tcp.BufferBytes - h.Engine.Tcp.Connections.Sum(c => c.BufferBytes));
        // SYN-ACK retransmissions give up (1+2+4+8+16+32 s): only the legitimate connection is left.
        for (int s = 0; s < 70; s++)
            h.Advance(TimeSpan.FromSeconds(1));
        var left = Assert.Single(h.Engine.Tcp.Connections);
        Assert.Equal(50000, left.Key.RemotePort);
    }

    [Fact(DisplayName = "Spoofed SYN burst (1,000 SYNs from 245 on-link addresses with random MACs that never answer ARP, in 0.2 s): a known host whose neighbour entry had aged out completes a fresh handshake at once")]
    public void SpoofedSynBurstLeavesRoomForAKnownHost()
    {
        using var h = new EngineHarness();
        var web = new RecordingListener();
        h.Engine.Tcp.Listen(80, 128, web);
        // The known host's entry (from its ARP request) ages out unused: its next handshake needs resolving again.
        h.Advance(TimeSpan.FromSeconds(61));
        Assert.Null(h.Engine.Neighbors.StateOf(Frames.PeerIp));
        var random = new Random(22);
        for (int i = 0; i < 1000; i++)
        {
            var mac = new byte[6];
            random.NextBytes(mac);
            mac[0] = 0x02;
            var source = new Ipv4Address((uint)(0xC0A8_0000 | (3 + random.Next(245))));
            var segment = new byte[TcpSegment.MinimumHeaderLength];
            new TcpHeader((ushort)(1024 + i), 80, PeerIss, 0, TcpFlags.Syn, 65535).Write(segment, TcpOptions.None, 0, source, Frames.StackIp);
            h.Inject(Frames.Ethernet(Frames.StackMac, MacAddress.Read(mac), EtherType.Ipv4, Frames.Ipv4(source, Frames.StackIp, IpProtocol.Tcp, segment)));
            if (i % 50 == 49)
                h.Advance(TimeSpan.FromMilliseconds(10));
        }
        Assert.Equal(64, h.Engine.Neighbors.UnresolvedCount);
        // The known host asks again: its SYN-ACK waits for one ARP round trip (answered by the harness), not for the
        // spoofed addresses to time out.
        var client = new TcpPeer(h, localPort: 50000);
        client.Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(tsval: 5000));
        var synAck = Assert.Single(SegmentsTo(h, 50000));
        Assert.True(synAck.Has(TcpFlags.Syn | TcpFlags.Ack));
        client.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack, [42], options: TcpPeer.Timestamps(5001, synAck.Options.TimestampValue));
        Assert.Equal([42], Assert.Single(web.Accepted).Received.ToArray());
        Assert.True(h.Engine.Neighbors.UnresolvedCount <= 64);
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.2: a SYN-ACK sent to a listener draws a RST and creates no state")]
    public void SynAckToListener()
    {
        using var h = new EngineHarness();
        h.Engine.Tcp.Listen(80, 8, new RecordingListener());
        var peer = new TcpPeer(h);
        peer.Send(PeerIss, 123456, TcpFlags.Syn | TcpFlags.Ack);
        var reset = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Rst, reset.Flags);
        Assert.Equal(123456u, reset.Seq);
        Assert.Equal(0, h.Engine.Tcp.ConnectionCount);
    }

    [Theory(DisplayName = "RFC 1122 3.2.1.3 martian sources: a SYN from loopback, 0/8, multicast, broadcast or our own address creates no state")]
    [InlineData("127.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("192.168.0.255")]
    [InlineData("192.168.0.2")]
    public void MartianSources(string source)
    {
        using var h = new EngineHarness();
        h.Engine.Tcp.Listen(80, 8, new RecordingListener());
        new TcpPeer(h, address: Ipv4Address.Parse(source)).Send(PeerIss, 0, TcpFlags.Syn);
        Assert.Equal(0, h.Engine.Tcp.ConnectionCount);
        Assert.Equal(1, h.Count(StackCounter.DropIpv4BadSource));
        Assert.Empty(h.Drain());
    }

    [Fact(DisplayName = "FIN storm in TIME-WAIT: each retransmitted FIN is acknowledged and restarts 2·MSL, and TIME-WAIT is counted once")]
    public void FinStormInTimeWait()
    {
        using var h = new EngineHarness();
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 8, listener);
        var peer = new TcpPeer(h);
        peer.Send(PeerIss, 0, TcpFlags.Syn);
        var synAck = Assert.Single(peer.Received());
        peer.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack);
        var connection = listener.Accepted[0].Connection!;
        connection.CloseByApplication();
        var fin = Assert.Single(peer.Received());
        peer.Send(PeerIss + 1, fin.Seq + 1, TcpFlags.Ack | TcpFlags.Fin);
        Assert.Equal(TcpState.TimeWait, connection.State);
        Assert.Single(peer.Received());
        int acks = 0;
        for (int i = 0; i < 1000; i++)
        {
            peer.Send(PeerIss + 1, fin.Seq + 1, TcpFlags.Ack | TcpFlags.Fin);
            h.Advance(TimeSpan.FromMilliseconds(50));
            acks += peer.Received().Count(s => s.Flags == TcpFlags.Ack && s.Ack == PeerIss + 2);
        }
        Assert.Equal(1, h.Engine.Tcp.TimeWaitCount);
        Assert.Equal(1000, acks);
        // 2·MSL after the last FIN it ends, and the count goes back to zero.
        h.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(TcpState.Closed, connection.State);
        Assert.Equal(0, h.Engine.Tcp.TimeWaitCount);
        Assert.Equal(0, h.Engine.Tcp.ConnectionCount);
    }

    /// <summary>An established connection (peer without timestamps) that has queued <paramref name="bytes"/> and seen the
    /// first flight acknowledged with a zero window.</summary>
    static (EngineHarness H, TcpPeer Peer, TcpControlBlock Connection, uint DataAck) StalledByZeroWindow(StackOptions? options = null,
        int bytes = 100_000, ushort port = 40000, EngineHarness? harness = null)
    {
        var h = harness ?? new EngineHarness(options);
        var listener = new RecordingListener();
        try
        {
            h.Engine.Tcp.Listen(80, 8, listener);
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Already listening (several stalled connections on one harness).
        }
        var peer = new TcpPeer(h, localPort: port);
        peer.Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(timestamps: false));
        var synAck = SegmentsTo(h, port).Single();
        peer.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack);
        var connection = h.Engine.Tcp.Connections.Single(c => c.Key.RemotePort == port);
        Assert.Equal(bytes, connection.Write(new byte[bytes]));
        connection.OnApplicationWrite();
        var flight = SegmentsTo(h, port);
        uint acked = flight.Max(f => f.Seq + (uint)f.Payload.Length);
        peer.Send(PeerIss + 1, acked, TcpFlags.Ack, window: 0);
        return (h, peer, connection, acked);
    }

    /// <summary>Runs the clock for <paramref name="duration"/>, answering every segment to the peer with a zero-window ACK
    /// when <paramref name="answer"/>; returns the probes seen.</summary>
    static int RunStalled(EngineHarness h, TcpPeer peer, uint ack, TimeSpan duration, bool answer, Func<bool>? until = null)
    {
        int probes = 0;
        for (var t = TimeSpan.Zero; t < duration && !(until?.Invoke() ?? false); t += TimeSpan.FromMilliseconds(100))
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            foreach (var segment in SegmentsTo(h, peer.LocalPort))
            {
                if (segment.Has(TcpFlags.Rst))
                    continue;
                probes++;
                if (answer)
                    peer.Send(PeerIss + 1, ack, TcpFlags.Ack, window: 0);
            }
        }
        return probes;
    }

    [Fact(DisplayName = "Zero-window orphan: a connection the application closed, facing a peer that keeps its window shut and answers every probe, is reset after OrphanRetries probes (RFC 6429)")]
    public void ZeroWindowOrphanIsReclaimed()
    {
        var (h, peer, connection, ack) = StalledByZeroWindow();
        using var _ = h;
        Assert.True(connection.BufferBytes >= 64 * 1024);
        connection.CloseByApplication();
        Assert.Equal(TcpState.FinWait1, connection.State);
        Assert.Equal(1, h.Engine.Tcp.OrphanCount);
        int probes = RunStalled(h, peer, ack, TimeSpan.FromMinutes(5), answer: true, until: () => connection.State == TcpState.Closed);
        Assert.Equal(TcpState.Closed, connection.State);
        Assert.Equal(new TcpSettings().OrphanRetries, probes);
        Assert.Equal(1, h.Count(StackCounter.TcpConnectionsTimedOut));
        Assert.Equal(0, h.Engine.Tcp.OrphanCount);
        Assert.Equal(0, h.Engine.Tcp.ConnectionCount);
        connection.Buffers.Release(); // the application's share, as TcpConnection.Dispose gives it back
        Assert.Equal(0, h.Engine.Tcp.BufferBytes);
    }

    [Fact(DisplayName = "RFC 1122 4.2.2.17: a connection with an application keeps probing a zero window while the peer answers, and gives up after MaxRetransmissions unanswered probes")]
    public void ZeroWindowProbingGivesUpWhenUnanswered()
    {
        var (h, peer, connection, ack) = StalledByZeroWindow();
        using var _ = h;
        int answered = RunStalled(h, peer, ack, TimeSpan.FromMinutes(30), answer: true);
        Assert.True(answered > new TcpSettings().MaxRetransmissions, $"{answered} probes, {connection.State} {connection.Error} {h.Count(StackCounter.TcpWindowProbesSent)} {h.Count(StackCounter.TcpRetransmissionTimeouts)}");
        Assert.Equal(TcpState.Established, connection.State);
        // The peer goes silent.
        int unanswered = RunStalled(h, peer, ack, TimeSpan.FromMinutes(20), answer: false, until: () => connection.State == TcpState.Closed);
        Assert.Equal(TcpState.Closed, connection.State);
        Assert.Equal(new TcpSettings().MaxRetransmissions, unanswered);
        Assert.Equal(System.Net.Sockets.SocketError.TimedOut, connection.Error);
    }

    [Fact(DisplayName = "RFC 5482 user timeout: data held behind a closed window longer than the user timeout fails the connection with TimedOut, even while the peer answers")]
    public void UserTimeout()
    {
        var tcp = new TcpSettings { UserTimeout = TimeSpan.FromSeconds(10) };
        var (h, peer, connection, ack) = StalledByZeroWindow(EngineHarness.DefaultOptions() with { Tcp = tcp });
        using var _ = h;
        var started = h.Now;
        RunStalled(h, peer, ack, TimeSpan.FromMinutes(2), answer: true, until: () => connection.State == TcpState.Closed);
        Assert.Equal(TcpState.Closed, connection.State);
        Assert.Equal(System.Net.Sockets.SocketError.TimedOut, connection.Error);
        Assert.InRange(h.Now - started, 9_900_000, 10_200_000);
    }

    [Fact(DisplayName = "Orphan limit (tcp_max_orphans): past MaxOrphans the oldest orphaned connection is reset")]
    public void OrphanLimit()
    {
        var tcp = new TcpSettings { MaxOrphans = 3 };
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { Tcp = tcp });
        var connections = new List<TcpControlBlock>();
        for (ushort port = 41000; port < 41005; port++)
        {
            var (_, _, connection, _) = StalledByZeroWindow(bytes: 10_000, port: port, harness: h);
            connection.CloseByApplication();
            connections.Add(connection);
        }
        Assert.Equal(3, h.Engine.Tcp.OrphanCount);
        Assert.Equal([TcpState.Closed, TcpState.Closed, TcpState.FinWait1, TcpState.FinWait1, TcpState.FinWait1], connections.Select(c => c.State));
        Assert.Equal(2, h.Count(StackCounter.TcpConnectionsTimedOut));
    }

    [Fact(DisplayName = "RFC 6528 / RFC 6056: ISNs and ephemeral ports never come from the test seed; two stacks with one seed choose differently")]
    public void SecretsIgnoreTheSeed()
    {
        var choices = new List<(uint Isn, ushort Port)[]>();
        for (int stack = 0; stack < 2; stack++)
        {
            using var h = new EngineHarness();
            var picks = new (uint, ushort)[4];
            for (int i = 0; i < picks.Length; i++)
            {
                var connection = h.Engine.Tcp.Connect(Frames.PeerIp, 80, new RecordingConnection());
                picks[i] = (connection.Iss, connection.Key.LocalPort);
            }
            choices.Add(picks);
        }
        Assert.NotEqual(choices[0].Select(c => c.Isn), choices[1].Select(c => c.Isn));
        Assert.NotEqual(choices[0].Select(c => c.Port), choices[1].Select(c => c.Port));
    }

    [Fact(DisplayName = "RFC 1122 4.2.3.4: with nothing in flight and a window too small to use, the override timer sends what fits instead of waiting forever")]
    public void SmallWindowOverride()
    {
        var (h, peer, connection, ack) = StalledByZeroWindow(bytes: 20_000);
        using var _ = h;
        // The receiver opens its window a little (100 bytes with scale 7 is 12,800; send a raw 0-scaled tiny one).
        peer.Send(PeerIss + 1, ack, TcpFlags.Ack, window: 1);
        Assert.Empty(SegmentsTo(h, peer.LocalPort));
        var sent = new List<SentSegment>();
        for (int i = 0; i < 30 && sent.Count == 0; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            sent.AddRange(SegmentsTo(h, peer.LocalPort).Where(s => s.Payload.Length > 0));
        }
        var segment = Assert.Single(sent);
        Assert.Equal(ack, segment.Seq);
        Assert.Equal(128, segment.Payload.Length);
    }

    [Fact(DisplayName = "Orphan churn behind one stalled orphan: finished orphans do not pile up in the orphan queue")]
    public void OrphanQueueStaysBounded()
    {
        using var h = new EngineHarness();
        var (_, _, stalled, _) = StalledByZeroWindow(bytes: 10_000, port: 39999, harness: h);
        stalled.CloseByApplication();
        for (ushort port = 42000; port < 42300; port++)
        {
            var peer = new TcpPeer(h, localPort: port);
            peer.Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(timestamps: false));
            var synAck = SegmentsTo(h, port).Single();
            peer.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack);
            var connection = h.Engine.Tcp.Connections.Single(c => c.Key.RemotePort == port);
            connection.CloseByApplication();
            var fin = SegmentsTo(h, port).Single(s => s.Has(TcpFlags.Fin));
            peer.Send(PeerIss + 1, fin.Seq + 1, TcpFlags.Ack | TcpFlags.Fin);
            Assert.Equal(TcpState.TimeWait, connection.State);
        }
        Assert.Equal(1, h.Engine.Tcp.OrphanCount);
        Assert.InRange(h.Engine.Tcp.OrphanQueueLength, 1, 2 * 1 + 64 + 1);
    }
}
