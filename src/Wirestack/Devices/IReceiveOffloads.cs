using Wirestack.Wire;

namespace Wirestack.Devices;

/// <summary>
/// A device that can hand the stack what the host's kernel did not finish: transport checksums left partial and
/// TCP segments of up to 64 KiB not yet cut to the MSS (a TAP or TUN with the virtio-net header). A device offers it
/// through <see cref="INetworkDevice.ReceiveOffloads"/>, and the engine turns it on itself. A decorator passes its
/// inner device's on when it can keep each frame's header with the frame (pcap does; impairment does not: it loses,
/// delays and corrupts wire-sized frames, so it asks for plain ones).
/// </summary>
internal interface IReceiveOffloads
{
    /// <summary>Asks for offloaded frames from now on; false when the device or kernel cannot (frames stay plain).</summary>
    bool EnableReceiveOffloads();

    /// <summary>The receive buffer offloaded frames need: a 64 KiB segment with its headers, and a byte to tell a longer one.</summary>
    int MaxReceiveLength { get; }

    /// <summary>What the header of the frame <see cref="INetworkDevice.TryReceive"/> returned last said.</summary>
    VirtioNetHeader LastHeader { get; }
}
