using Wirestack.Network;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>Work per packet has a bound no peer can raise: counted in steps, not timed.</summary>
public sealed class BoundedWorkTests
{
    [Fact(DisplayName = "SACK storm: ACKs SACKing every other 100 bytes keep the scoreboard at 128 ranges and each ACK within a fixed number of steps")]
    public void SackStorm()
    {
        using var h = new EngineHarness();
        var listener = new RecordingListener();
        h.Engine.Tcp.Listen(80, 8, listener);
        var peer = new TcpPeer(h);
        var syn = TcpPeer.SynOptions(timestamps: false);
        peer.Send(1000, 0, TcpFlags.Syn, options: syn);
        var synAck = Assert.Single(peer.Received());
        uint una = synAck.Seq + 1;
        peer.Send(1001, una, TcpFlags.Ack);
        var connection = listener.Accepted[0].Connection!;
        var feeder = new Feeder(connection, new byte[4 << 20]);
        // Let slow start open cwnd so a lot is outstanding.
        for (int round = 0; round < 6; round++)
        {
            feeder.Pump();
            var flight = peer.Received();
            if (round == 5)
                break;
            // One ACK per segment: slow start grows cwnd by each (RFC 3465 limits the growth per ACK).
            foreach (var segment in flight.Where(s => s.Payload.Length > 0))
            {
                una = segment.Seq + (uint)segment.Payload.Length;
                peer.Send(1001, una, TcpFlags.Ack);
            }
        }
        long outstanding = connection.GetInfo().BytesInFlight;
        Assert.True(outstanding > 150_000, $"{outstanding} bytes outstanding");

        long worst = 0;
        int blocks = 0;
        for (int ack = 0; ack < 400; ack++)
        {
            var options = TcpOptions.None;
            options.SackBlockCount = 4;
            for (int b = 0; b < 4; b++, blocks++)
            {
                uint left = una + 100 + (uint)(blocks * 200 % (outstanding - 300));
                options.Sack[b] = new SackBlock(left, left + 100);
            }
            long before = connection.ScoreboardWork;
            peer.Send(1001, una, TcpFlags.Ack, options: options);
            worst = Math.Max(worst, connection.ScoreboardWork - before);
            Assert.True(connection.ScoreboardRanges <= TcpControlBlock.MaxScoreboardRanges);
            peer.Received();
        }
        Assert.Equal(TcpControlBlock.MaxScoreboardRanges, connection.ScoreboardRanges);
        Assert.True(h.Count(StackCounter.DropTcpSackBlockIgnored) > 0);
        // Four blocks (search + merge + one move each), the pipe, one recovery pass, the SACKed-bytes sum: each at most
        // the cap, whatever number of blocks the peer has sent.
        Assert.True(worst <= 12 * TcpControlBlock.MaxScoreboardRanges, $"worst ACK took {worst} steps");
    }

    [Fact(DisplayName = "Fragment storm: a 64 KiB datagram in 8-byte fragments sent last-first is dropped at the fragment cap, each fragment within a fixed number of steps")]
    public void FragmentStorm()
    {
        using var h = new EngineHarness();
        var datagram = Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 5555, 7000, new byte[65_000]);
        var fragments = Frames.Fragments(IpProtocol.Udp, datagram, 8, 77);
        fragments.Reverse();
        long worst = 0;
        foreach (var fragment in fragments)
        {
            long before = h.Engine.Reassembler.Work;
            h.Inject(fragment);
            worst = Math.Max(worst, h.Engine.Reassembler.Work - before);
        }
        Assert.True(h.Count(StackCounter.DropFragmentTooMany) >= fragments.Count / (Reassembler.MaxFragmentsPerDatagram + 1));
        Assert.True(worst <= Reassembler.MaxFragmentsPerDatagram + 16, $"worst fragment took {worst} steps");
        Assert.Equal(0, h.Count(StackCounter.Ipv4DatagramsReassembled));
    }

    [Fact(DisplayName = "RFC 791 3.2: a 64 KiB datagram over a 576-byte path (117 fragments, last first) is still reassembled")]
    public void LargeDatagramOverSmallPath()
    {
        using var h = new EngineHarness();
        var receiver = new RecordingReceiver();
        h.Engine.Udp.Bind(7000, receiver);
        var payload = Frames.RandomBytes(65_000, 3);
        var datagram = Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 5555, 7000, payload);
        var fragments = Frames.Fragments(IpProtocol.Udp, datagram, 552, 78);
        Assert.True(fragments.Count > 100);
        fragments.Reverse();
        foreach (var fragment in fragments)
            h.Inject(fragment);
        Assert.Equal(payload, Assert.Single(receiver.Datagrams).Payload);
    }
}
