using Wirestack.Wire;

namespace Wirestack.Devices;

/// <summary>
/// A device that takes frames the stack did not finish, and finishes them (or has its host's kernel finish them) on
/// the way out: a transport checksum left partial, and a TCP segment of up to 64 KiB to cut into MSS-sized ones (a
/// TAP or TUN with the virtio-net header; the kernel cuts only when the packet leaves the host, on a link that
/// cannot carry it whole). A device offers it through <see cref="INetworkDevice.SendOffloads"/>, decorators pass their
/// inner device's on, and the engine turns it on itself.
/// </summary>
internal interface ISendOffloads
{
    /// <summary>Asks to send offloaded frames from now on; false when the device cannot take them (frames stay plain).</summary>
    bool EnableSendOffloads();

    /// <summary>
    /// Queues one frame and what is left to do with it (<paramref name="header"/>, positions counted from the
    /// frame's first byte); false when the device cannot take it now (the frame is dropped).
    /// </summary>
    bool TrySend(ReadOnlySpan<byte> frame, in VirtioNetHeader header, long nowMicroseconds);
}
