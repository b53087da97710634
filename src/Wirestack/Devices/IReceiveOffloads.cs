using Wirestack.Wire;

namespace Wirestack.Devices;

/// <summary>
/// A device that can hand the stack what the host's kernel did not finish: transport checksums left partial and
/// TCP segments of up to 64 KiB not yet cut to the MSS (a TAP or TUN with the virtio-net header). The engine turns
/// this on itself, on the device it was given: a decorator in between (pcap, impairment) does not pass it on, so
/// frames through one stay plain and checked.
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
