namespace Wirestack.Devices;

/// <summary>What a device carries: Ethernet frames (TAP) or bare IP packets (TUN).</summary>
public enum LinkMedium
{
    /// <summary>Ethernet II frames; the stack runs ARP.</summary>
    Ethernet,
    /// <summary>IP packets with no link header.</summary>
    Ip,
}

/// <summary>
/// A source and sink of frames. All calls come from one thread (the stack's event loop) except
/// <see cref="DeviceWakeup.Signal"/>; implementations never block in <see cref="TryReceive"/> or <see cref="TrySend"/>.
/// </summary>
public interface INetworkDevice : IDisposable
{
    /// <summary>Ethernet frames or IP packets.</summary>
    LinkMedium Medium { get; }

    /// <summary>The largest IP packet the link carries (1500 on Ethernet).</summary>
    int Mtu { get; }

    /// <summary>True while the link can carry frames.</summary>
    bool IsLinkUp { get; }

    /// <summary>Copies the next received frame into <paramref name="buffer"/>; false when none is ready.</summary>
    /// <remarks>A frame longer than the buffer is truncated to it; callers pass MTU plus link header plus slack.</remarks>
    bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length);

    /// <summary>Queues one frame for transmission; false when the device cannot take it now (the frame is dropped).</summary>
    bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds);

    /// <summary>
    /// When a frame this device holds back (a simulated delay) becomes receivable, or null when it holds none.
    /// </summary>
    long? NextFrameDueMicroseconds => null;

    /// <summary>
    /// Blocks the calling thread until a frame may be ready, <paramref name="wakeup"/> is signalled, or the timeout
    /// passes. Returning early without a frame is allowed.
    /// </summary>
    void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup);

    /// <summary>
    /// What the device can take on the way in beyond plain frames (see <see cref="IReceiveOffloads"/>), or null when
    /// it hands over plain frames only. A decorator passes its inner device's on where it can record or forward them.
    /// </summary>
    internal IReceiveOffloads? ReceiveOffloads => null;

    /// <summary>
    /// What the device finishes on the way out (see <see cref="ISendOffloads"/>), or null when it sends frames as they
    /// are. A decorator passes its inner device's on where it can record or forward them.
    /// </summary>
    internal ISendOffloads? SendOffloads => null;
}
