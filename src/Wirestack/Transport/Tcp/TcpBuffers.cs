using Wirestack.Transport.Buffers;

namespace Wirestack.Transport.Tcp;

/// <summary>
/// A connection's two rings, shared by the engine and the application side. Each side lets go once (the engine when
/// no more data can flow, the application when it disposes the connection and no operation of its own is still
/// running); the chunks go back to the pool only when both have, so neither side can touch memory the other has
/// returned. A side that never lets go just leaves the chunks to the garbage collector.
/// </summary>
internal sealed class TcpBuffers
{
    int _owners = 2;

    public TcpBuffers(BufferChunkPool pool, int receiveLimit, int receiveMaxLimit, int sendMaxLimit)
    {
        Receive = new ReceiveBuffer(new ByteRing(pool, receiveMaxLimit) { Limit = receiveLimit });
        Send = new ByteRing(pool, sendMaxLimit);
    }

    public ReceiveBuffer Receive { get; }

    public ByteRing Send { get; }

    int _sendRoomWanted;

    /// <summary>Application: a writer found no room and waits for room for <paramref name="bytes"/> more.</summary>
    public void WantSendRoom(int bytes) => Volatile.Write(ref _sendRoomWanted, bytes);

    /// <summary>Engine: bytes a blocked writer waits to write, or 0.</summary>
    public int SendRoomWanted => Volatile.Read(ref _sendRoomWanted);

    /// <summary>Engine: the writer's wish was granted (unless it asked again meanwhile).</summary>
    public void SendRoomGranted(int wanted) => Interlocked.CompareExchange(ref _sendRoomWanted, 0, wanted);

    public void Release()
    {
        if (Interlocked.Decrement(ref _owners) != 0)
            return;
        Receive.Ring.ReleaseAll();
        Send.ReleaseAll();
    }
}
