using System.Buffers;
using System.Collections.Concurrent;
using Wirestack.Interop;

namespace Wirestack.Devices;

/// <summary>
/// A point-to-point link in memory: what one device sends, the other receives. For tests and simulations;
/// the two ends may be driven from different threads.
/// </summary>
public static class InMemoryLink
{
    /// <summary>Creates the two joined ends of a link.</summary>
    /// <param name="mtu">IP MTU both ends report.</param>
    /// <param name="medium">Ethernet frames or IP packets.</param>
    /// <param name="queueCapacity">Frames each direction holds before <see cref="INetworkDevice.TrySend"/> refuses more.</param>
    public static (InMemoryDevice First, InMemoryDevice Second) CreatePair(int mtu = 1500, LinkMedium medium = LinkMedium.Ethernet, int queueCapacity = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 68);
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCapacity, 1);
        var first = new InMemoryDevice(mtu, medium, queueCapacity);
        var second = new InMemoryDevice(mtu, medium, queueCapacity);
        first.Peer = second;
        second.Peer = first;
        return (first, second);
    }
}

/// <summary>One end of an <see cref="InMemoryLink"/>.</summary>
public sealed class InMemoryDevice : INetworkDevice
{
    readonly ConcurrentQueue<(byte[] Buffer, int Length)> _inbound = new();
    readonly int _capacity;
    readonly EventFd _ready = new();
    int _count;
    bool _disposed;

    internal InMemoryDevice(int mtu, LinkMedium medium, int capacity)
    {
        Mtu = mtu;
        Medium = medium;
        _capacity = capacity;
    }

    internal InMemoryDevice? Peer { get; set; }

    /// <inheritdoc/>
    public LinkMedium Medium { get; }

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>Settable so tests can take the link down.</summary>
    public bool IsLinkUp { get; set; } = true;

    /// <summary>Frames waiting to be received at this end.</summary>
    public int PendingFrames => Volatile.Read(ref _count);

    /// <inheritdoc/>
    public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length)
    {
        if (!_inbound.TryDequeue(out var item))
        {
            length = 0;
            return false;
        }
        Interlocked.Decrement(ref _count);
        length = Math.Min(item.Length, buffer.Length);
        item.Buffer.AsSpan(0, length).CopyTo(buffer);
        ArrayPool<byte>.Shared.Return(item.Buffer);
        return true;
    }

    /// <inheritdoc/>
    public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds)
    {
        var peer = Peer;
        if (peer is null || !IsLinkUp || !peer.IsLinkUp || _disposed || peer._disposed)
            return false;
        return peer.Deliver(frame);
    }

    /// <summary>Puts a frame into this end's receive queue as if the peer had sent it.</summary>
    public bool Deliver(ReadOnlySpan<byte> frame)
    {
        if (Interlocked.Increment(ref _count) > _capacity)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(frame.Length, 1));
        frame.CopyTo(buffer);
        _inbound.Enqueue((buffer, frame.Length));
        _ready.Signal();
        return true;
    }

    /// <inheritdoc/>
    public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup)
    {
        if (!_inbound.IsEmpty)
            return;
        EventFd.WaitReadable(_ready.FileDescriptor, wakeup.FileDescriptor, timeoutMilliseconds);
        _ready.Reset();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _disposed = true;
        while (_inbound.TryDequeue(out var item))
            ArrayPool<byte>.Shared.Return(item.Buffer);
        _ready.Dispose();
    }
}
