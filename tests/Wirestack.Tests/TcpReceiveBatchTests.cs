using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>
/// Segments that wait at the device together are taken in as one receive batch: their ACK and the reader's wake-up
/// come once, at the end of the batch, as Linux acknowledges what GRO merged.
/// </summary>
public sealed class TcpReceiveBatchTests
{
    const uint PeerIss = 1_000_000;
    const int Segment = 1000;

    [Fact(DisplayName = "RFC 5681 4.2 stretch ACK as with Linux GRO: in-order segments of one receive batch are acknowledged together at its end, at most 16 segments per ACK, and the reader is woken once")]
    public void OneAckPerBatch()
    {
        var (h, peer, listener, stackIss) = TcpFixtures.Established(null, false, PeerIss, true);
        using var _ = h;
        var reader = listener.Accepted[0];
        int signalsBefore = reader.ReadableSignals;

        h.Burst(() => SendSegments(peer, stackIss, first: 0, count: 5));
        var ack = Assert.Single(peer.Received());
        Assert.Equal(PeerIss + 1 + 5 * Segment, ack.Ack);
        Assert.Equal(signalsBefore + 1, reader.ReadableSignals);

        h.Burst(() => SendSegments(peer, stackIss, first: 5, count: 40));
        var acks = peer.Received().Select(a => a.Ack - PeerIss - 1).ToArray();
        Assert.Equal(new uint[] { 21 * Segment, 37 * Segment, 45 * Segment }, acks);
        Assert.Equal(45 * Segment, reader.Received.Length);
    }

    [Fact(DisplayName = "RFC 5681 4.2 / 3.2: out-of-order segments in a receive batch still get a duplicate ACK each, at once, so the sender's fast retransmit counts them")]
    public void OutOfOrderAcksAreNotHeld()
    {
        var (h, peer, _, stackIss) = TcpFixtures.Established(null, false, PeerIss, true);
        using var __ = h;
        h.Burst(() =>
        {
            SendSegments(peer, stackIss, first: 0, count: 1);
            SendSegments(peer, stackIss, first: 2, count: 3);
        });
        var acks = peer.Received();
        Assert.Equal(3, acks.Count);
        Assert.All(acks, a => Assert.Equal(PeerIss + 1 + Segment, a.Ack));
    }

    [Fact(DisplayName = "A batch that ends with the peer's FIN: the data the batch brought is readable before the application learns the connection closed")]
    public void DataBeforeCloseInOneBatch()
    {
        var (h, peer, listener, stackIss) = TcpFixtures.Established(null, false, PeerIss, true);
        using var _ = h;
        var connection = listener.Accepted[0].Connection!;
        connection.Shutdown();
        var fin = Assert.Single(peer.Received());
        Assert.True(fin.Has(TcpFlags.Fin));
        h.Burst(() =>
        {
            SendSegments(peer, stackIss + 1, first: 0, count: 3);
            peer.Send(PeerIss + 1 + 3 * Segment, stackIss + 2, TcpFlags.Fin | TcpFlags.Ack);
        });
        Assert.NotNull(listener.Accepted[0].ClosedWith);
        Assert.Equal(3 * Segment, listener.Accepted[0].Received.Length);
    }

    static void SendSegments(TcpPeer peer, uint stackIss, int first, int count)
    {
        for (int i = first; i < first + count; i++)
            peer.Send(PeerIss + 1 + (uint)(i * Segment), stackIss + 1, TcpFlags.Ack, new byte[Segment]);
    }
}
