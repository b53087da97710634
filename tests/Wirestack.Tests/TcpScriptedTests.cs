using System.Net.Sockets;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>The stack's TCP against a scripted peer, segment by segment, on a virtual clock.</summary>
public sealed class TcpScriptedTests
{
    const uint PeerIss = 1_000_000;

    static (EngineHarness H, TcpPeer Peer, RecordingListener Listener, uint StackIss) Established(StackOptions? options = null, bool timestamps = false,
        uint peerIss = PeerIss, bool autoRead = true, bool offloads = false) => TcpFixtures.Established(options, timestamps, peerIss, autoRead, offloads: offloads);

    [Fact(DisplayName = "RFC 9293 3.5 passive open: SYN gets SYN-ACK with MSS, window scale, SACK-permitted and timestamps echoed")]
    public void PassiveOpenNegotiatesOptions()
    {
        using var h = new EngineHarness();
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 8, listener);
        var peer = new TcpPeer(h);
        peer.Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(tsval: 4242));
        var synAck = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(PeerIss + 1, synAck.Ack);
        Assert.Equal(1460, synAck.Options.MaximumSegmentSize);
        Assert.True(synAck.Options.WindowScale >= 0);
        Assert.True(synAck.Options.SackPermitted);
        Assert.True(synAck.Options.HasTimestamps);
        Assert.Equal(4242u, synAck.Options.TimestampEcho);
        Assert.Empty(listener.Accepted);
        peer.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack, options: TcpPeer.Timestamps(4243, synAck.Options.TimestampValue));
        var accepted = Assert.Single(listener.Accepted);
        var info = accepted.Connection!.GetInfo();
        Assert.Equal(TcpState.Established, info.State);
        Assert.True(info.SackEnabled && info.WindowScalingEnabled && info.TimestampsEnabled);
    }

    [Fact(DisplayName = "RFC 7323 2.2 / RFC 2018 2: options the peer did not offer are not used")]
    public void OptionsOnlyWhenOffered()
    {
        using var h = new EngineHarness();
        h.Engine.Tcp.Listen(80, 8, new RecordingListener());
        var peer = new TcpPeer(h);
        peer.Send(PeerIss, 0, TcpFlags.Syn);
        var synAck = Assert.Single(peer.Received());
        Assert.Equal(-1, synAck.Options.WindowScale);
        Assert.False(synAck.Options.SackPermitted);
        Assert.False(synAck.Options.HasTimestamps);
        Assert.NotEqual(0, synAck.Options.MaximumSegmentSize);
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.1: a SYN to a closed port gets RST+ACK acknowledging it; an ACK gets RST with its number")]
    public void ClosedPortResets()
    {
        using var h = new EngineHarness();
        var peer = new TcpPeer(h, remotePort: 81);
        peer.Send(PeerIss, 0, TcpFlags.Syn);
        var reset = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, reset.Flags);
        Assert.Equal(0u, reset.Seq);
        Assert.Equal(PeerIss + 1, reset.Ack);
        peer.Send(PeerIss, 777, TcpFlags.Ack);
        var second = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Rst, second.Flags);
        Assert.Equal(777u, second.Seq);
        peer.Send(PeerIss, 777, TcpFlags.Rst);
        Assert.Empty(peer.Received());
    }

    [Fact(DisplayName = "RFC 9293 3.4: sequence numbers wrap around 2^32 on receive without losing order")]
    public void ReceiveAcrossWrap()
    {
        var (h, peer, listener, stackIss) = Established(peerIss: 0xFFFF_FC00);
        using var _ = h;
        uint seq = 0xFFFF_FC01;
        var all = new List<byte>();
        for (int i = 0; i < 4; i++)
        {
            var data = Frames.RandomBytes(1000, i);
            all.AddRange(data);
            peer.Send(seq, stackIss + 1, TcpFlags.Ack | TcpFlags.Psh, data);
            seq += 1000;
        }
        Assert.Equal(all.ToArray(), listener.Accepted[0].Received.ToArray());
        var acks = peer.Received();
        Assert.Equal(seq, acks[^1].Ack);
    }

    [Fact(DisplayName = "RFC 9293 3.4: sequence numbers wrap around 2^32 on send, and ACKs across the wrap free the buffer")]
    public void SendAcrossWrap()
    {
        using var h = new EngineHarness();
        h.Engine.Tcp.InitialSequenceOverride = 0xFFFF_FF00;
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 8, listener);
        var peer = new TcpPeer(h);
        peer.Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(timestamps: false));
        var synAck = Assert.Single(peer.Received());
        Assert.Equal(0xFFFF_FF00u, synAck.Seq);
        peer.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack);
        var connection = listener.Accepted[0].Connection!;
        var data = Frames.RandomBytes(5000, 5);
        connection.Write(data);
        connection.OnApplicationWrite();
        var segments = peer.Received();
        var received = segments.SelectMany(s => s.Payload).ToArray();
        Assert.Equal(data, received);
        Assert.Contains(segments, s => s.Seq < 0x1000);
        peer.Send(PeerIss + 1, synAck.Seq + 1 + 5000, TcpFlags.Ack);
        Assert.Equal(0, connection.Send.Count);
        Assert.Equal(0, connection.GetInfo().BytesInFlight);
    }

    [Fact(DisplayName = "RFC 5961 3.2: an in-window RST that is not exact elicits a challenge ACK; the exact one resets")]
    public void ResetChallenge()
    {
        var (h, peer, listener, _) = Established();
        using var __ = h;
        peer.Send(PeerIss + 100, 0, TcpFlags.Rst);
        var challenge = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Ack, challenge.Flags);
        Assert.Equal(PeerIss + 1, challenge.Ack);
        Assert.Null(listener.Accepted[0].ClosedWith);
        peer.Send(PeerIss + 1, 0, TcpFlags.Rst);
        Assert.Equal(SocketError.ConnectionReset, listener.Accepted[0].ClosedWith);
        Assert.Equal(0, h.Engine.Tcp.ConnectionCount);
    }

    [Fact(DisplayName = "RFC 5961 4.2: a SYN on an established connection elicits a challenge ACK, never a reset")]
    public void SynChallenge()
    {
        var (h, peer, listener, _) = Established();
        using var __ = h;
        peer.Send(PeerIss + 50, 0, TcpFlags.Syn);
        var challenge = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Ack, challenge.Flags);
        Assert.Null(listener.Accepted[0].ClosedWith);
        Assert.Equal(TcpState.Established, listener.Accepted[0].Connection!.State);
    }

    [Fact(DisplayName = "RFC 5961 7: challenge ACKs are rate limited")]
    public void ChallengeAcksLimited()
    {
        var options = EngineHarness.DefaultOptions() with { Tcp = new TcpSettings { ChallengeAcksPerSecond = 3 } };
        var (h, peer, _, _) = Established(options);
        using var __ = h;
        for (int i = 0; i < 10; i++)
            peer.Send(PeerIss + 100 + (uint)i, 0, TcpFlags.Rst);
        Assert.Equal(3, peer.Received().Count);
        Assert.Equal(7, h.Count(StackCounter.DropTcpChallengeAckLimited));
    }

    [Fact(DisplayName = "RFC 5961 5.2: an ACK for data never sent is answered with an ACK and ignored")]
    public void AckOfUnsentData()
    {
        var (h, peer, listener, stackIss) = Established();
        using var _ = h;
        peer.Send(PeerIss + 1, stackIss + 1 + 5000, TcpFlags.Ack, [1, 2, 3]);
        var reply = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Ack, reply.Flags);
        Assert.Equal(PeerIss + 1, reply.Ack);
        Assert.Equal(0, listener.Accepted[0].Received.Length);
        Assert.Equal(1, h.Count(StackCounter.DropTcpAckOfUnsentData));
    }

    [Fact(DisplayName = "RFC 7323 5.3 PAWS: a segment with an older timestamp is dropped and answered with an ACK")]
    public void Paws()
    {
        var (h, peer, listener, stackIss) = Established(timestamps: true);
        using var _ = h;
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack | TcpFlags.Psh, [1, 2], options: TcpPeer.Timestamps(2000, 1));
        Assert.Equal(2, listener.Accepted[0].Received.Length);
        peer.Received();
        peer.Send(PeerIss + 3, stackIss + 1, TcpFlags.Ack | TcpFlags.Psh, [3, 4], options: TcpPeer.Timestamps(1500, 1));
        Assert.Equal(2, listener.Accepted[0].Received.Length);
        Assert.Equal(1, h.Count(StackCounter.DropTcpPaws));
        var ack = Assert.Single(peer.Received());
        Assert.Equal(PeerIss + 3, ack.Ack);
    }

    [Fact(DisplayName = "RFC 7323 5.3 R3 (blind injection found by a frame fuzzer): a segment whose ACK is refused does not move TS.Recent, so the real peer's next segment is not dropped by PAWS")]
    public void RefusedAckLeavesTsRecent()
    {
        var (h, peer, listener, stackIss) = Established(timestamps: true);
        using var _ = h;
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack | TcpFlags.Psh, [1, 2], options: TcpPeer.Timestamps(2000, 1));
        peer.Received();
        // In window, a timestamp far ahead, and an ACK of data never sent (RFC 9293: ACK it and drop it).
        peer.Send(PeerIss + 3, stackIss + 100_000, TcpFlags.Ack | TcpFlags.Psh, [9], options: TcpPeer.Timestamps(0x7000_0000, 1));
        var answer = Assert.Single(peer.Received());
        Assert.Equal(2000u, answer.Options.TimestampEcho);
        Assert.Equal(1, h.Count(StackCounter.DropTcpAckOfUnsentData));
        // So is an ACK older than SND.UNA - MAX.SND.WND (RFC 5961 5.2; its challenge ACK may be rate-limited).
        peer.Send(PeerIss + 3, stackIss - 0x4000_0000, TcpFlags.Ack | TcpFlags.Psh, [9], options: TcpPeer.Timestamps(0x7000_0001, 1));
        Assert.All(peer.Received(), segment => Assert.Equal(2000u, segment.Options.TimestampEcho));
        // The real peer carries on with its own clock: accepted, and echoed.
        peer.Send(PeerIss + 3, stackIss + 1, TcpFlags.Ack | TcpFlags.Psh, [3, 4], options: TcpPeer.Timestamps(2001, 1));
        Assert.Equal([1, 2, 3, 4], listener.Accepted[0].Received.ToArray());
        Assert.Equal(0, h.Count(StackCounter.DropTcpPaws));
        h.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(2001u, peer.Received().Last().Options.TimestampEcho);
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.4: out-of-order data is held and ACKed at once with SACK; filling the gap delivers it all")]
    public void OutOfOrderWithSack()
    {
        var (h, peer, listener, stackIss) = Established();
        using var _ = h;
        var first = Frames.RandomBytes(1000, 1);
        var second = Frames.RandomBytes(1000, 2);
        peer.Send(PeerIss + 1001, stackIss + 1, TcpFlags.Ack, second);
        var dupAck = Assert.Single(peer.Received());
        Assert.Equal(PeerIss + 1, dupAck.Ack);
        Assert.Equal(1, dupAck.Options.SackBlockCount);
        Assert.Equal(new SackBlock(PeerIss + 1001, PeerIss + 2001), dupAck.Options.Sack[0]);
        Assert.Equal(0, listener.Accepted[0].Received.Length);
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack, first);
        var ack = Assert.Single(peer.Received());
        Assert.Equal(PeerIss + 2001, ack.Ack);
        Assert.Equal(0, ack.Options.SackBlockCount);
        Assert.Equal(first.Concat(second).ToArray(), listener.Accepted[0].Received.ToArray());
    }

    [Fact(DisplayName = "RFC 1122 4.2.3.2: one segment's ACK is delayed (at most the timeout); every second segment is ACKed at once")]
    public void DelayedAck()
    {
        var (h, peer, _, stackIss) = Established();
        using var __ = h;
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack, new byte[1000]);
        Assert.Empty(peer.Received());
        h.Advance(TimeSpan.FromMilliseconds(41));
        Assert.Equal(PeerIss + 1001, Assert.Single(peer.Received()).Ack);
        peer.Send(PeerIss + 1001, stackIss + 1, TcpFlags.Ack, new byte[1000]);
        peer.Send(PeerIss + 2001, stackIss + 1, TcpFlags.Ack, new byte[1000]);
        Assert.Equal(PeerIss + 3001, Assert.Single(peer.Received()).Ack);
    }

    [Theory(DisplayName = "RFC 896 / RFC 1122 4.2.3.4: Nagle holds a small segment while data is unacknowledged; NoDelay sends it (with and without segmentation offload)")]
    [InlineData(false)]
    [InlineData(true)]
    public void Nagle(bool offloads)
    {
        var (h, peer, listener, stackIss) = Established(offloads: offloads);
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        connection.Write(new byte[10]);
        connection.OnApplicationWrite();
        Assert.Single(peer.Received());
        connection.Write(new byte[10]);
        connection.OnApplicationWrite();
        Assert.Empty(peer.Received());
        peer.Send(PeerIss + 1, stackIss + 11, TcpFlags.Ack);
        var held = Assert.Single(peer.Received());
        Assert.Equal(10, held.Payload.Length);
        connection.NoDelay = true;
        connection.Write(new byte[10]);
        connection.OnApplicationWrite();
        connection.Write(new byte[10]);
        connection.OnApplicationWrite();
        Assert.Equal(2, peer.Received().Count);
    }

    [Fact(DisplayName = "RFC 9293 3.8.6.1: a zero window stops sending; persist probes follow; an opened window resumes")]
    public void ZeroWindowAndPersist()
    {
        var (h, peer, listener, stackIss) = Established();
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack, window: 0);
        peer.Received();
        connection.Write(new byte[3000]);
        connection.OnApplicationWrite();
        Assert.Empty(peer.Received());
        h.Advance(TimeSpan.FromSeconds(1.1));
        var probe = Assert.Single(peer.Received());
        Assert.Empty(probe.Payload);
        Assert.Equal(stackIss, probe.Seq);
        Assert.Equal(1, h.Count(StackCounter.TcpWindowProbesSent));
        h.Advance(TimeSpan.FromSeconds(2.1));
        Assert.Single(peer.Received());
        Assert.Equal(TcpState.Established, connection.State);
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack, window: 65535);
        var resumed = peer.Received();
        Assert.Equal(3000, resumed.Sum(s => s.Payload.Length));
    }

    [Fact(DisplayName = "RFC 9293 3.8.6 flow control: a reader that does not read closes the window; the buffer bounds memory")]
    public void SlowReaderClosesWindow()
    {
        var tcp = new TcpSettings { ReceiveBufferSize = 16384 };
        var (h, peer, listener, stackIss) = Established(EngineHarness.DefaultOptions() with { Tcp = tcp }, autoRead: false);
        using var _ = h;
        uint seq = PeerIss + 1;
        for (int i = 0; i < 20; i++)
        {
            peer.Send(seq, stackIss + 1, TcpFlags.Ack, new byte[1000]);
            seq += 1000;
        }
        var acks = peer.Received();
        var last = acks[^1];
        Assert.Equal(PeerIss + 1 + 16384, last.Ack);
        Assert.Equal(0, last.Window);
        Assert.Equal(16384, listener.Accepted[0].Received.Length + (int)(last.Ack - PeerIss - 1) - 0 - listener.Accepted[0].Received.Length);
        var connection = h.Engine.Tcp.Connections.Single();
        Assert.Equal(16384, connection.Receive.Ring.Count);
        // The application reads: the window reopens with an update.
        connection.Receive.Ring.Read(new byte[16384]);
        connection.OnApplicationRead();
        var update = Assert.Single(peer.Received());
        Assert.True(update.Window > 0);
    }

    [Fact(DisplayName = "RFC 6298 5.5-5.7: the retransmission timeout doubles each time and the connection gives up with TimedOut")]
    public void RetransmissionBackoffAndGiveUp()
    {
        var options = EngineHarness.DefaultOptions() with { Tcp = new TcpSettings { MaxRetransmissions = 4 } };
        var (h, peer, listener, _) = Established(options);
        using var __ = h;
        var connection = listener.Accepted[0].Connection!;
        connection.Write(new byte[100]);
        connection.OnApplicationWrite();
        Assert.Single(peer.Received());
        var times = new List<double>();
        long start = h.Now;
        for (int i = 0; i < 200 && listener.Accepted[0].ClosedWith is null; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            if (peer.Received().Any(s => s.Payload.Length == 100))
                times.Add((h.Now - start) / 1e6);
        }
        Assert.Equal(SocketError.TimedOut, listener.Accepted[0].ClosedWith);
        Assert.Equal(4, times.Count);
        // The handshake's RTT sample put the RTO at its 200 ms floor (RFC 6298 2.4); each expiry doubles it.
        Assert.InRange(times[0], 0.15, 0.35);
        for (int i = 1; i < times.Count; i++)
        {
            double gap = times[i] - times[i - 1];
            double previous = i == 1 ? times[0] : times[i - 1] - times[i - 2];
            Assert.InRange(gap / previous, 1.5, 2.6);
        }
    }

    [Fact(DisplayName = "RFC 5681 3.2: three duplicate ACKs trigger a fast retransmit before the timer")]
    public void FastRetransmit()
    {
        var (h, peer, listener, stackIss) = Established();
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        connection.Write(new byte[1460 * 5]);
        connection.OnApplicationWrite();
        Assert.Equal(5, peer.Received().Count);
        for (int i = 0; i < 3; i++)
            peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack);
        var retransmitted = Assert.Single(peer.Received());
        Assert.Equal(stackIss + 1, retransmitted.Seq);
        Assert.Equal(1, h.Count(StackCounter.TcpFastRetransmits));
    }

    [Fact(DisplayName = "RFC 9293 3.10.4 half-close: after our FIN the peer can still send and we still receive")]
    public void HalfClose()
    {
        var (h, peer, listener, stackIss) = Established();
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        connection.Shutdown();
        var fin = Assert.Single(peer.Received());
        Assert.True(fin.Has(TcpFlags.Fin));
        peer.Send(PeerIss + 1, stackIss + 2, TcpFlags.Ack);
        Assert.Equal(TcpState.FinWait2, connection.State);
        peer.Send(PeerIss + 1, stackIss + 2, TcpFlags.Ack, [7, 7, 7]);
        Assert.Equal([7, 7, 7], listener.Accepted[0].Received.ToArray());
        peer.Send(PeerIss + 4, stackIss + 2, TcpFlags.Ack | TcpFlags.Fin);
        Assert.Equal(TcpState.TimeWait, connection.State);
        Assert.Equal(SocketError.Success, listener.Accepted[0].ClosedWith);
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.4 TIME-WAIT lasts 2·MSL, then the connection is gone")]
    public void TimeWaitExpires()
    {
        var options = EngineHarness.DefaultOptions() with { Tcp = new TcpSettings { TimeWait = TimeSpan.FromSeconds(10) } };
        var (h, peer, listener, stackIss) = Established(options);
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        connection.Shutdown();
        peer.Received();
        peer.Send(PeerIss + 1, stackIss + 2, TcpFlags.Ack | TcpFlags.Fin);
        Assert.Equal(TcpState.TimeWait, connection.State);
        Assert.Equal(1, h.Engine.Tcp.TimeWaitCount);
        h.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(1, h.Engine.Tcp.ConnectionCount);
        h.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(0, h.Engine.Tcp.ConnectionCount);
        Assert.Equal(0, h.Engine.Tcp.TimeWaitCount);
    }

    [Fact(DisplayName = "RFC 6191 2: a SYN with a newer timestamp reopens a TIME-WAIT tuple as a fresh connection")]
    public void TimeWaitReuse()
    {
        var (h, peer, listener, stackIss) = Established(timestamps: true);
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        connection.Shutdown();
        peer.Received();
        peer.Send(PeerIss + 1, stackIss + 2, TcpFlags.Ack | TcpFlags.Fin, options: TcpPeer.Timestamps(1100, 1));
        Assert.Equal(TcpState.TimeWait, connection.State);
        peer.Received();
        peer.Send(PeerIss + 5000, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(tsval: 5000));
        var synAck = Assert.Single(peer.Received());
        Assert.True(synAck.Has(TcpFlags.Syn | TcpFlags.Ack));
        Assert.Equal(PeerIss + 5001, synAck.Ack);
        peer.Send(PeerIss + 5001, synAck.Seq + 1, TcpFlags.Ack, options: TcpPeer.Timestamps(5001, synAck.Options.TimestampValue));
        Assert.Equal(2, listener.Accepted.Count);
    }

    [Theory(DisplayName = "RFC 6191 2: a SYN with the TIME-WAIT tuple's last timestamp reopens it only with a higher sequence number; an older timestamp never does")]
    [InlineData(1100, 5000, true)]
    [InlineData(1100, 0, false)]
    [InlineData(1099, 5000, false)]
    public void TimeWaitReuseWithinOneTick(uint tsval, uint sequenceAhead, bool reopens)
    {
        var (h, peer, listener, stackIss) = Established(timestamps: true);
        using var _ = h;
        listener.Accepted[0].Connection!.Shutdown();
        peer.Received();
        peer.Send(PeerIss + 1, stackIss + 2, TcpFlags.Ack | TcpFlags.Fin, options: TcpPeer.Timestamps(1100, 1));
        peer.Received();
        peer.Send(PeerIss + sequenceAhead, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(tsval: tsval));
        var answer = Assert.Single(peer.Received());
        // Refused, the SYN meets the old incarnation, which answers with an ACK of where it stands (RFC 9293 3.10.7.4).
        Assert.Equal(reopens, answer.Has(TcpFlags.Syn));
        Assert.Equal(reopens ? 0 : 1, h.Engine.Tcp.TimeWaitCount);
    }

    [Fact(DisplayName = "RFC 4987 3.6: with the SYN queue full, SYN cookies still let a client connect")]
    public void SynCookies()
    {
        using var h = new EngineHarness();
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 1, listener);
        // Fill the SYN queue with half-open connections from other ports.
        for (ushort port = 1000; port < 1020; port++)
            new TcpPeer(h, localPort: port).Send(PeerIss, 0, TcpFlags.Syn);
        h.Drain();
        Assert.True(h.Count(StackCounter.TcpSynCookiesSent) > 0);
        var client = new TcpPeer(h, localPort: 2000);
        client.Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(timestamps: false));
        var synAck = Assert.Single(client.Received());
        Assert.True(synAck.Has(TcpFlags.Syn | TcpFlags.Ack));
        Assert.Equal(1460, synAck.Options.MaximumSegmentSize);
        client.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack, [1, 2, 3]);
        Assert.Equal(1, h.Count(StackCounter.TcpSynCookiesAccepted));
        var accepted = Assert.Single(listener.Accepted);
        Assert.Equal([1, 2, 3], accepted.Received.ToArray());
        // A forged cookie is refused.
        new TcpPeer(h, localPort: 2001).Send(PeerIss, 12345, TcpFlags.Ack);
        Assert.Equal(1, h.Count(StackCounter.DropTcpSynCookieInvalid));
    }

    [Fact(DisplayName = "SYN-cookie guessing attack (RFC 4987 3.6): a listener takes cookie ACKs only within two minutes of its last cookie; otherwise even a valid cookie is refused with RST")]
    public void CookiesOnlyWhileSent()
    {
        using var h = new EngineHarness();
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 1, listener);
        // A valid cookie for a handshake the listener never answered with one: no overflow, so no cookie is taken.
        var key = new TcpConnectionKey(Frames.StackIp, 80, Frames.PeerIp, 3000);
        uint cookie = h.Engine.Tcp.Cookies.Create(key, PeerIss, 1460, h.Now);
        var guesser = new TcpPeer(h, localPort: 3000);
        guesser.Send(PeerIss + 1, cookie + 1, TcpFlags.Ack, [1]);
        Assert.Equal(TcpFlags.Rst, Assert.Single(guesser.Received()).Flags);
        Assert.Equal(1, h.Count(StackCounter.DropTcpSynCookieInvalid));
        Assert.Empty(listener.Accepted);
        // Once the SYN queue overflows the listener sends cookies, and the same kind of ACK completes a handshake...
        for (ushort port = 1000; port < 1020; port++)
            new TcpPeer(h, localPort: port).Send(PeerIss, 0, TcpFlags.Syn);
        h.Drain();
        cookie = h.Engine.Tcp.Cookies.Create(key, PeerIss, 1460, h.Now);
        guesser.Send(PeerIss + 1, cookie + 1, TcpFlags.Ack, [1]);
        Assert.Single(listener.Accepted);
        // ...until two minutes pass without one.
        h.Advance(TimeSpan.FromSeconds(121));
        var late = new TcpConnectionKey(Frames.StackIp, 80, Frames.PeerIp, 3001);
        var second = new TcpPeer(h, localPort: 3001);
        second.Send(PeerIss + 1, h.Engine.Tcp.Cookies.Create(late, PeerIss, 1460, h.Now) + 1, TcpFlags.Ack, [1]);
        Assert.Single(listener.Accepted);
        Assert.Equal(2, h.Count(StackCounter.DropTcpSynCookieInvalid));
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.3: in SYN-SENT an RST acknowledging our SYN refuses the connection")]
    public void ConnectRefused()
    {
        using var h = new EngineHarness();
        var client = new RecordingConnection();
        var connection = h.Engine.Tcp.Connect(Frames.PeerIp, 80, client);
        var peer = new TcpPeer(h, localPort: 80, remotePort: connection.Key.LocalPort);
        var syn = Assert.Single(peer.Received());
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        // An RST with a wrong ACK is ignored, the right one refuses.
        peer.Send(0, syn.Seq + 7, TcpFlags.Rst | TcpFlags.Ack);
        Assert.Null(client.ClosedWith);
        peer.Send(0, syn.Seq + 1, TcpFlags.Rst | TcpFlags.Ack);
        Assert.Equal(SocketError.ConnectionRefused, client.ClosedWith);
    }

    [Fact(DisplayName = "RFC 9293 3.10.7.3 / RFC 6298: SYNs are retransmitted with backoff and the attempt times out")]
    public void ConnectTimesOut()
    {
        var options = EngineHarness.DefaultOptions() with { Tcp = new TcpSettings { MaxSynRetransmissions = 2 } };
        using var h = new EngineHarness(options);
        var client = new RecordingConnection();
        var connection = h.Engine.Tcp.Connect(Frames.PeerIp, 80, client);
        var peer = new TcpPeer(h, localPort: 80, remotePort: connection.Key.LocalPort);
        int syns = peer.Received().Count;
        for (int i = 0; i < 100 && client.ClosedWith is null; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            syns += peer.Received().Count(s => s.Has(TcpFlags.Syn));
        }
        Assert.Equal(3, syns);
        Assert.Equal(SocketError.TimedOut, client.ClosedWith);
    }

    [Fact(DisplayName = "RFC 5927 / RFC 1122 4.2.3.9: ICMP port unreachable during connect fails it with ConnectionRefused")]
    public void IcmpRefusesConnect()
    {
        using var h = new EngineHarness();
        var client = new RecordingConnection();
        h.Engine.Tcp.Connect(Frames.PeerIp, 80, client);
        var frame = Assert.Single(h.Drain());
        EthernetFrame.TryParse(frame, out var eth);
        var quote = eth.Payload[..48].ToArray();
        var error = new byte[8 + quote.Length];
        quote.CopyTo(error, 8);
        Icmpv4Message.WriteHeader(error, Icmpv4Type.DestinationUnreachable, UnreachableCode.Port, 0);
        h.Inject(Frames.ToStack(IpProtocol.Icmp, error));
        Assert.Equal(SocketError.ConnectionRefused, client.ClosedWith);
    }

    [Fact(DisplayName = "RFC 2525 2.17: closing with unread data sends RST instead of FIN")]
    public void CloseWithUnreadDataResets()
    {
        var (h, peer, listener, stackIss) = Established(autoRead: false);
        using var _ = h;
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack, [1, 2, 3]);
        peer.Received();
        h.Engine.Tcp.Connections.Single().CloseByApplication();
        var reset = Assert.Single(peer.Received());
        Assert.True(reset.Has(TcpFlags.Rst));
        Assert.Equal(0, h.Engine.Tcp.ConnectionCount);
    }
}

public sealed class TcpLimitTests
{
    [Fact(DisplayName = "RFC 1122 4.2.3.6: keepalive (when enabled) probes an idle peer and gives up with TimedOut")]
    public void KeepaliveGivesUp()
    {
        var tcp = new TcpSettings { KeepaliveIdle = TimeSpan.FromSeconds(10), KeepaliveInterval = TimeSpan.FromSeconds(1), KeepaliveProbes = 3 };
        using var h = new EngineHarness(EngineHarness.DefaultOptions() with { Tcp = tcp });
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 16, listener);
        var peer = new TcpPeer(h);
        peer.Send(5000, 0, TcpFlags.Syn);
        var synAck = Assert.Single(peer.Received());
        peer.Send(5001, synAck.Seq + 1, TcpFlags.Ack);
        int probes = 0;
        for (int i = 0; i < 200 && listener.Accepted[0].ClosedWith is null; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            probes += peer.Received().Count(s => s.Seq == synAck.Seq && s.Payload.Length == 0);
        }
        Assert.Equal(3, probes);
        Assert.Equal(System.Net.Sockets.SocketError.TimedOut, listener.Accepted[0].ClosedWith);
    }
}
