using System.Buffers;

namespace Wirestack.Transport.Tcp;

/// <summary>
/// A connection's two rings on pooled arrays, shared by the engine and the application side. Each side lets go
/// once (the engine when no more data can flow, the application when it disposes the connection); the arrays go
/// back to the pool only when both have, so neither side can touch memory the other has returned. A side that
/// never lets go just leaves the arrays to the garbage collector.
/// </summary>
internal sealed class TcpBuffers
{
    readonly byte[] _receive;
    readonly byte[] _send;
    int _owners = 2;

    public TcpBuffers(int receiveSize, int sendSize)
    {
        // Pooled arrays avoid a large-object-heap allocation (and its zeroing) for every connection.
        _receive = ArrayPool<byte>.Shared.Rent(receiveSize);
        _send = ArrayPool<byte>.Shared.Rent(sendSize);
        Receive = new ReceiveBuffer(new ByteRing(_receive));
        Send = new ByteRing(_send);
    }

    public ReceiveBuffer Receive { get; }

    public ByteRing Send { get; }

    public long Bytes => _receive.Length + _send.Length;

    public void Release()
    {
        if (Interlocked.Decrement(ref _owners) != 0)
            return;
        ArrayPool<byte>.Shared.Return(_receive);
        ArrayPool<byte>.Shared.Return(_send);
    }
}
