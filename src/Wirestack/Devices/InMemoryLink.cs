using System.Buffers;
using System.Collections.Concurrent;
using Wirestack.Interop;
using Wirestack.Wire;

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
    public static (InMemoryDevice First, InMemoryDevice Second) CreatePair(int mtu = 1500, LinkMedium medium = LinkMedium.Ethernet, int queueCapacity = 4096) =>
        CreatePair(mtu, medium, queueCapacity, offloads: false);

    /// <summary>
    /// A link whose ends take offloaded frames as a TAP with the virtio-net header does: partial checksums and
    /// 64 KiB TCP segments pass whole to an end whose stack asked for them, and are finished in software (checksums
    /// completed, segments cut to size) for one that did not, as a host's NIC would.
    /// </summary>
    internal static (InMemoryDevice First, InMemoryDevice Second) CreatePair(int mtu, LinkMedium medium, int queueCapacity, bool offloads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, 68);
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCapacity, 1);
        var first = new InMemoryDevice(mtu, medium, queueCapacity, offloads);
        var second = new InMemoryDevice(mtu, medium, queueCapacity, offloads);
        first.Peer = second;
        second.Peer = first;
        return (first, second);
    }
}

/// <summary>One end of an <see cref="InMemoryLink"/>.</summary>
public sealed class InMemoryDevice : INetworkDevice, IReceiveOffloads, ISendOffloads
{
    readonly ConcurrentQueue<(byte[] Buffer, int Length, VirtioNetHeader Header)> _inbound = new();
    readonly int _capacity;
    readonly EventFd _ready = new();
    readonly bool _offloads;
    // Set once by this end's stack; read by the peer's sending thread.
    volatile bool _receivesOffloads;
    VirtioNetHeader _lastHeader;
    SoftwareOffloader? _software;
    int _count;
    bool _disposed;

    internal InMemoryDevice(int mtu, LinkMedium medium, int capacity, bool offloads)
    {
        Mtu = mtu;
        Medium = medium;
        _capacity = capacity;
        _offloads = offloads;
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
        _lastHeader = item.Header;
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

    IReceiveOffloads? INetworkDevice.ReceiveOffloads => this;

    ISendOffloads? INetworkDevice.SendOffloads => this;

    bool ISendOffloads.EnableSendOffloads() => _offloads;

    bool ISendOffloads.TrySend(ReadOnlySpan<byte> frame, in VirtioNetHeader header, long nowMicroseconds)
    {
        var peer = Peer;
        if (peer is null || !IsLinkUp || !peer.IsLinkUp || _disposed || peer._disposed)
            return false;
        if (peer._receivesOffloads || !header.IsOffloaded)
            return peer.Deliver(frame, header);
        _software ??= new SoftwareOffloader(Medium, plain => peer.Deliver(plain, default));
        return _software.Send(frame, header);
    }

    bool IReceiveOffloads.EnableReceiveOffloads() => _receivesOffloads = _offloads;

    int IReceiveOffloads.MaxReceiveLength => VirtioNetHeader.FrameBufferLength;

    VirtioNetHeader IReceiveOffloads.LastHeader => _lastHeader;

    /// <summary>Puts a frame into this end's receive queue as if the peer had sent it.</summary>
    public bool Deliver(ReadOnlySpan<byte> frame) => Deliver(frame, default);

    /// <summary>Puts a frame into this end's receive queue with the virtio-net header a TAP would have put in front.</summary>
    internal bool Deliver(ReadOnlySpan<byte> frame, in VirtioNetHeader header)
    {
        if (Interlocked.Increment(ref _count) > _capacity)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(frame.Length, 1));
        frame.CopyTo(buffer);
        _inbound.Enqueue((buffer, frame.Length, header));
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
