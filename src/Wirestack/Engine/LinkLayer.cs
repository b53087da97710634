using Wirestack.Devices;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>
/// The sending side of the link: puts a network packet behind its link header (Ethernet on a TAP, none on a TUN) and
/// hands it to the device with what the device is left to finish, counting what went out. It never writes past the
/// headroom in front of the packet it is given.
/// </summary>
internal sealed class LinkLayer
{
    readonly INetworkDevice _device;
    readonly ISendOffloads? _sendOffloads;
    readonly StackCounters _counters;

    public LinkLayer(INetworkDevice device, MacAddress macAddress, StackCounters counters)
    {
        _device = device;
        _counters = counters;
        MacAddress = macAddress;
        IsEthernet = device.Medium == LinkMedium.Ethernet;
        if (device.SendOffloads is { } sendOffloads && sendOffloads.EnableSendOffloads())
            _sendOffloads = sendOffloads;
    }

    public MacAddress MacAddress { get; }

    /// <summary>True on a TAP (Ethernet frames, neighbours to resolve); false on a TUN (bare IP packets).</summary>
    public bool IsEthernet { get; }

    /// <summary>The largest IP packet the device carries.</summary>
    public int Mtu => _device.Mtu;

    /// <summary>True when the device finishes partial checksums and cuts 64 KiB TCP segments on the way out.</summary>
    public bool SendOffloads => _sendOffloads is not null;

    /// <summary>
    /// Sends the network packet at <paramref name="offset"/> (with <see cref="TransmitBuffers.LinkHeadroom"/> before
    /// it) to <paramref name="linkAddress"/>, with what the device is left to do (<paramref name="offload"/>, positions
    /// counted from the network header).
    /// </summary>
    public void Send(byte[] buffer, int offset, int length, MacAddress linkAddress, ushort etherType, VirtioNetHeader offload, long now)
    {
        if (!IsEthernet)
        {
            Transmit(buffer.AsSpan(offset, length), offload, now);
            return;
        }
        int start = offset - EthernetFrame.HeaderLength;
        EthernetFrame.WriteHeader(buffer.AsSpan(start), linkAddress, MacAddress, etherType);
        Transmit(buffer.AsSpan(start, length + EthernetFrame.HeaderLength), offload.BehindLinkHeader(EthernetFrame.HeaderLength), now);
    }

    /// <summary>Sends a whole frame built by a link protocol (ARP, a DHCP client's raw broadcast).</summary>
    public void SendFrame(ReadOnlySpan<byte> frame, long now) => Transmit(frame, default, now);

    void Transmit(ReadOnlySpan<byte> frame, in VirtioNetHeader offload, long now)
    {
        bool sent = offload.IsOffloaded ? _sendOffloads!.TrySend(frame, offload, now) : _device.TrySend(frame, now);
        if (sent)
        {
            _counters.Increment(StackCounter.FramesSent);
            _counters.Add(StackCounter.BytesSent, frame.Length);
            if (offload.Gso != GsoType.None)
                _counters.Increment(StackCounter.GsoFramesSent);
        }
        else
        {
            _counters.Increment(StackCounter.DropDeviceRefused);
        }
    }
}
