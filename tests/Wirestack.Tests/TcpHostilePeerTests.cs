using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>TCP against peers that attack it: every bound here names the attack it defends against.</summary>
public sealed class TcpHostilePeerTests
{
    const uint PeerIss = 7000;

    static Ipv4Address Spoofed(int i) => new((uint)(0xC0A8_0000 | (10 + i % 240))); // 192.168.0.10-249, on link

    static List<SentSegment> SegmentsTo(EngineHarness h, ushort port)
    {
        var result = new List<SentSegment>();
        foreach (var frame in h.Drain())
        {
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
        h.Engine.ListenTcp(80, 128, web);
        h.Engine.ListenTcp(443, 128, tls);
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
            Assert.True(h.Engine.TcpConnectionCount <= 2 * 128 + 1, $"{h.Engine.TcpConnectionCount} connections after {i} SYNs");
        }
        Assert.True(h.Count(StackCounter.TcpSynCookiesSent) > 2000);
        Assert.Equal(0, h.Count(StackCounter.DropTcpConnectionLimit));
        Assert.Equal(0, h.Engine.TcpBufferBytes - h.Engine.TcpConnections.Sum(c => c.BufferBytes));
        // SYN-ACK retransmissions give up (1+2+4+8+16+32 s): only the legitimate connection is left.
        for (int s = 0; s < 70; s++)
            h.Advance(TimeSpan.FromSeconds(1));
        var left = Assert.Single(h.Engine.TcpConnections);
        Assert.Equal(50000, left.Key.RemotePort);
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.2: a SYN-ACK sent to a listener draws a RST and creates no state")]
    public void SynAckToListener()
    {
        using var h = new EngineHarness();
        h.Engine.ListenTcp(80, 8, new RecordingListener());
        var peer = new TcpPeer(h);
        peer.Send(PeerIss, 123456, TcpFlags.Syn | TcpFlags.Ack);
        var reset = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Rst, reset.Flags);
        Assert.Equal(123456u, reset.Seq);
        Assert.Equal(0, h.Engine.TcpConnectionCount);
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
        h.Engine.ListenTcp(80, 8, new RecordingListener());
        new TcpPeer(h, address: Ipv4Address.Parse(source)).Send(PeerIss, 0, TcpFlags.Syn);
        Assert.Equal(0, h.Engine.TcpConnectionCount);
        Assert.Equal(1, h.Count(StackCounter.DropIpv4BadSource));
        Assert.Empty(h.Drain());
    }

    [Fact(DisplayName = "FIN storm in TIME-WAIT: each retransmitted FIN is acknowledged and restarts 2·MSL, and TIME-WAIT is counted once")]
    public void FinStormInTimeWait()
    {
        using var h = new EngineHarness();
        var listener = new RecordingListener();
        h.Engine.ListenTcp(80, 8, listener);
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
        for (int i = 0; i < 1000; i++)
        {
            peer.Send(PeerIss + 1, fin.Seq + 1, TcpFlags.Ack | TcpFlags.Fin);
            h.Advance(TimeSpan.FromMilliseconds(50));
        }
        Assert.Equal(1, h.Engine.TcpTimeWaitCount);
        Assert.Equal(1000, peer.Received().Count(s => s.Flags == TcpFlags.Ack && s.Ack == PeerIss + 2));
        // 2·MSL after the last FIN it ends, and the count goes back to zero.
        h.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(TcpState.Closed, connection.State);
        Assert.Equal(0, h.Engine.TcpTimeWaitCount);
        Assert.Equal(0, h.Engine.TcpConnectionCount);
    }
}
