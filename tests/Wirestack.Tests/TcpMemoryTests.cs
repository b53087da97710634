using Wirestack.Transport.Buffers;
using Wirestack.Transport.Tcp;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>Memory follows the bytes held: nothing at the SYN, windows that grow with a reader that keeps up, chunks given back.</summary>
public sealed class TcpMemoryTests
{
    const uint PeerIss = 5000;

    /// <summary>An established connection from the scripted peer (window scale 7 offered, no timestamps), 10 ms RTT.</summary>
    static (EngineHarness H, TcpPeer Peer, RecordingListener Listener, uint StackIss) Established(StackOptions? options = null, bool autoRead = true) =>
        TcpFixtures.Established(options, peerIss: PeerIss, autoRead: autoRead, rtt: TimeSpan.FromMilliseconds(10));

    /// <summary>
    /// The peer sends <paramref name="total"/> bytes, each round as much as the last advertised window allows, one RTT
    /// (10 ms) per round. Returns the largest window the stack advertised.
    /// </summary>
    static long Stream(EngineHarness h, TcpPeer peer, uint stackIss, int total, int scale)
    {
        uint next = PeerIss + 1;
        uint acked = next;
        long window = 65535;
        long largest = 0;
        int sent = 0;
        for (int round = 0; round < 10_000 && sent < total; round++)
        {
            while (sent < total && (long)(uint)(next - acked) < window)
            {
                int length = (int)Math.Min(Math.Min(1460, total - sent), window - (uint)(next - acked));
                peer.Send(next, stackIss + 1, TcpFlags.Ack, new byte[length]);
                next += (uint)length;
                sent += length;
            }
            h.Advance(TimeSpan.FromMilliseconds(10));
            foreach (var segment in peer.Received())
            {
                if (Seq.Gt(segment.Ack, acked))
                    acked = segment.Ack;
                window = (long)segment.Window << scale;
                largest = Math.Max(largest, window);
            }
        }
        Assert.Equal(total, sent);
        return largest;
    }

    [Fact(DisplayName = "Memory on demand (SYN flood): 1,000 half-open connections hold no buffer memory at all")]
    public void HalfOpenHoldsNothing()
    {
        using var h = new EngineHarness();
        h.Engine.Tcp.Listen(80, 2000, new RecordingListener());
        for (int i = 0; i < 1000; i++)
            new TcpPeer(h, localPort: (ushort)(10000 + i)).Send(PeerIss, 0, TcpFlags.Syn);
        Assert.Equal(1000, h.Engine.Tcp.ConnectionCount);
        Assert.Equal(0, h.Engine.Tcp.BufferBytes);
        Assert.All(h.Engine.Tcp.Connections, c => Assert.Equal(0, c.BufferBytes));
    }

    [Fact(DisplayName = "Memory on demand: a slow reader holds at most its initial window, which does not grow; reading gives it all back")]
    public void SlowReaderHoldsItsWindowOnly()
    {
        var (h, peer, listener, stackIss) = Established(autoRead: false);
        using var _ = h;
        var connection = listener.Accepted[0].Connection ?? h.Engine.Tcp.Connections.Single();
        long largest = Stream(h, peer, stackIss, 64 * 1024, scale: 3);
        Assert.Equal(64 * 1024, connection.Receive.Ring.Count);
        Assert.InRange(largest, 1, 64 * 1024);
        Assert.InRange(h.Engine.Tcp.BufferBytes, 64 * 1024, 64 * 1024 + BufferChunk.Size);
        Assert.Equal(64 * 1024, connection.Receive.Limit);

        var sink = new byte[100_000];
        Assert.Equal(64 * 1024, connection.Receive.Ring.Read(sink));
        connection.OnApplicationRead();
        Assert.Equal(0, h.Engine.Tcp.BufferBytes);
    }

    [Fact(DisplayName = "Receive autotuning: a reader that keeps up lets the window double up to ReceiveBufferSize; memory returns to zero after")]
    public void FastReaderGrowsTheWindow()
    {
        var (h, peer, listener, stackIss) = Established();
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        long largest = Stream(h, peer, stackIss, 4 << 20, scale: 3);
        Assert.Equal(4 << 20, listener.Accepted[0].Received.Length);
        Assert.Equal(256 * 1024, connection.Receive.Limit);
        Assert.True(largest > 128 * 1024, $"largest window {largest}");
        Assert.Equal(0, h.Engine.Tcp.BufferBytes);
    }

    [Fact(DisplayName = "Memory pressure: at the budget, windows stop opening past a small floor and out-of-order data needing new memory is dropped and counted")]
    public void BudgetIsAPressureSignal()
    {
        var tcp = new TcpSettings { MemoryBudget = 48 * 1024 };
        var (h, hog, listener, hogIss) = Established(EngineHarness.DefaultOptions() with { Tcp = tcp }, autoRead: false);
        using var _ = h;
        var hogConnection = h.Engine.Tcp.Connections.Single();
        // In-window, in-order data is taken even past the budget: the window was promised.
        Stream(h, hog, hogIss, 64 * 1024, scale: 3);
        Assert.True(h.Engine.Tcp.BufferBytes >= tcp.MemoryBudget);

        // A second connection opens while memory is at the budget: its window is only the floor.
        var peer = new TcpPeer(h, localPort: 40001);
        peer.Send(PeerIss, 0, TcpFlags.Syn, options: TcpPeer.SynOptions(timestamps: false));
        var synAck = Assert.Single(peer.Received());
        Assert.Equal(2 * BufferChunk.Size, synAck.Window);
        peer.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack);
        // Out of order data in its window that needs a chunk of its own is dropped, and counted.
        peer.Send(PeerIss + 1 + BufferChunk.Size + 100, synAck.Seq + 1, TcpFlags.Ack, new byte[500]);
        Assert.Equal(1, h.Count(StackCounter.DropTcpOutOfOrderNoRoom));
        var second = h.Engine.Tcp.Connections.Single(c => c.Key.RemotePort == 40001);
        Assert.False(second.Receive.HasOutOfOrder);
        // In-order data within the floor is taken.
        peer.Send(PeerIss + 1, synAck.Seq + 1, TcpFlags.Ack, new byte[1000]);
        Assert.Equal(1000, second.Receive.Ring.Count);

        // The hog's reader takes a little: memory stays at the budget, so its window does not reopen (no update).
        hog.Received();
        hogConnection.Receive.Ring.Read(new byte[4096]);
        hogConnection.OnApplicationRead();
        Assert.Empty(hog.Received());
        // It reads the rest: memory is back under the budget and the window reopens; it never grew past the initial.
        hogConnection.Receive.Ring.Read(new byte[64 * 1024]);
        hogConnection.OnApplicationRead();
        var update = Assert.Single(hog.Received());
        Assert.Equal(64 * 1024, update.Window << 3);
        Assert.Equal(64 * 1024, hogConnection.Receive.Limit);
    }

    [Fact(DisplayName = "Resource limits: TIME-WAIT holds no buffer memory once the application has let go")]
    public void TimeWaitReleasesBuffers()
    {
        var (h, peer, listener, stackIss) = Established();
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        peer.Send(PeerIss + 1, stackIss + 1, TcpFlags.Ack, new byte[1000]);
        Assert.Equal(3000, connection.Write(new byte[5000].AsSpan(0, 3000)));
        connection.OnApplicationWrite();
        Assert.True(h.Engine.Tcp.BufferBytes > 0);
        peer.Received();
        connection.CloseByApplication();
        var fin = peer.Received().Single(s => s.Has(TcpFlags.Fin));
        peer.Send(PeerIss + 1001, fin.Seq + (uint)fin.Payload.Length + 1, TcpFlags.Ack | TcpFlags.Fin);
        Assert.Equal(TcpState.TimeWait, connection.State);
        Assert.Equal(0, connection.BufferBytes);
        connection.Buffers.Release(); // the application's share (TcpConnection.Dispose)
        Assert.Equal(0, h.Engine.Tcp.BufferBytes);
    }

    [Fact(DisplayName = "Resource limits: a quiet writer's unused send room goes back even when the writer held the ring (writing in place) the first time the engine tried")]
    public void UnusedSendRoomGoesBackAfterTheWriterLetsGo()
    {
        var (h, peer, listener, stackIss) = Established();
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        // The application asks for room as a blocked writer does, writes into it, and the peer acknowledges it all.
        connection.Buffers.WantSendRoom(20_000);
        connection.OnApplicationWrite();
        Assert.Equal(3000, connection.Send.Write(new byte[3000]));
        connection.OnApplicationWrite();
        peer.Received();
        peer.Send(PeerIss + 1, stackIss + 3001, TcpFlags.Ack);
        long held = connection.Send.HeldBytes;
        Assert.True(held > BufferChunk.Size, $"{held} bytes held");
        // The application holds the ring's writing side when the burst ends: nothing can be trimmed then.
        Assert.True(connection.Send.TryBeginWrite());
        h.Advance(TimeSpan.FromSeconds(1.5));
        Assert.Equal(held, connection.Send.HeldBytes);
        connection.Send.EndWrite(0);
        h.Advance(TimeSpan.FromSeconds(1.5));
        Assert.True(connection.Send.HeldBytes <= BufferChunk.Size, $"{connection.Send.HeldBytes} bytes held after the writer let go");
    }
}
