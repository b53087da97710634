using System.Buffers;
using System.Net.Sockets;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

// ARP (RFC 826): answering for our address, learning neighbors, resolving next hops with a bounded wait queue.
internal sealed partial class NetworkEngine
{
    void ReceiveArp(ReadOnlySpan<byte> payload)
    {
        if (!ArpPacket.TryParse(payload, out var arp) || arp.Operation is not (ArpOperation.Request or ArpOperation.Reply))
        {
            Counters.Increment(StackCounter.DropArpMalformed);
            return;
        }
        var senderIp = arp.SenderProtocolAddress;
        var senderMac = arp.SenderHardwareAddress;
        if (_dhcp is not null && senderMac != MacAddress && !senderIp.IsAny)
            _dhcp.OnAddressInUse(senderIp);
        if (senderMac.IsMulticast || senderMac == MacAddress)
        {
            Counters.Increment(StackCounter.DropArpMalformed);
            return;
        }
        if (_interface.IsConfigured && senderIp == _interface.Address)
        {
            // Someone else claims our address (RFC 5227 2.4): count it and keep ours.
            Counters.Increment(StackCounter.DropArpAddressConflict);
            return;
        }

        bool forUs = _interface.IsConfigured && arp.TargetProtocolAddress == _interface.Address;
        // RFC 826 merge: refresh a known sender; add it only when the packet is addressed to us. A probe
        // (sender 0.0.0.0, RFC 5227) teaches nothing.
        if (!senderIp.IsAny && !senderIp.IsBroadcast && !senderIp.IsMulticast)
        {
            bool answer = forUs && arp.Operation == ArpOperation.Reply;
            var entry = _neighbors.Learn(senderIp, senderMac, _now, create: forUs, confirmed: answer);
            if (entry is not null)
                FlushPending(_neighbors, entry);
        }

        if (forUs && arp.Operation == ArpOperation.Request)
        {
            var frame = _controlBuffer.AsSpan();
            int length = EthernetFrame.WriteHeader(frame, senderMac, MacAddress, EtherType.Arp);
            length += ArpPacket.Write(frame[length..], ArpOperation.Reply, MacAddress, _interface.Address, senderMac, senderIp);
            Transmit(frame[..length]);
            Counters.Increment(StackCounter.ArpRepliesSent);
        }
    }

    /// <summary>An ARP request: broadcast to resolve, or unicast to <paramref name="to"/> to re-probe (RFC 4861 7.3.3 PROBE).</summary>
    void SendArpRequest(Ipv4Address target, MacAddress? to = null)
    {
        var frame = _controlBuffer.AsSpan();
        int length = EthernetFrame.WriteHeader(frame, to ?? MacAddress.Broadcast, MacAddress, EtherType.Arp);
        length += ArpPacket.Write(frame[length..], ArpOperation.Request, MacAddress, _interface.Address, MacAddress.Zero, target);
        Transmit(frame[..length]);
        Counters.Increment(StackCounter.ArpRequestsSent);
    }

    /// <summary>Gratuitous ARP announcing our address (RFC 5227 3): a request with sender and target both ours.</summary>
    void Announce()
    {
        if (_device.Medium == Devices.LinkMedium.Ethernet && _interface.IsConfigured)
            SendArpRequest(_interface.Address);
    }

    /// <summary>Sends a packet to a next hop whose link address is not known yet: queue it and ask.</summary>
    void ResolveAndQueue(Ipv4Address nextHop, ReadOnlySpan<byte> packet, VirtioNetHeader offload)
    {
        if (_neighbors.StartResolution(nextHop, _now, out var entry))
            SendArpRequest(nextHop);
        if (entry is null)
        {
            Counters.Increment(StackCounter.DropNeighborTableFull);
            ReportToSender(packet, SocketError.HostUnreachable);
            return;
        }
        QueuePending(_neighbors, entry, packet, offload);
    }

    /// <summary>
    /// Holds a copy of a packet (with link headroom, and room for fragment headers) until its next hop resolves,
    /// with what the device is left to do with it.
    /// </summary>
    void QueuePending(NeighborCache cache, NeighborCache.Entry entry, ReadOnlySpan<byte> packet, VirtioNetHeader offload)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(LinkHeadroom + packet.Length);
        packet.CopyTo(buffer.AsSpan(LinkHeadroom));
        cache.Enqueue(entry, new PendingPacket(buffer, LinkHeadroom, packet.Length, offload), _dropPending);
    }

    /// <summary>
    /// Upper-layer reachability confirmation (RFC 4861 7.3.1): TCP saw forward progress with <paramref name="remote"/>,
    /// so its next hop answers.
    /// </summary>
    public void ConfirmReachable(IpAddress remote)
    {
        if (_device.Medium != Devices.LinkMedium.Ethernet)
            return;
        if (remote.IsIpv4)
        {
            if (TryNextHop(remote.Ipv4, out var nextHop))
                _neighbors.Confirm(nextHop, _now);
        }
        else if (_ndp is not null && TryNextHopIpv6(remote, out var nextHop))
        {
            _ndp.Confirm(nextHop, _now);
        }
    }

    void DropPending(PendingPacket packet)
    {
        Counters.Increment(StackCounter.DropResolutionQueueFull);
        packet.Release();
    }

    void FlushPending(NeighborCache cache, NeighborCache.Entry entry)
    {
        while (entry.Pending.Count > 0)
        {
            var packet = cache.DequeuePending(entry);
            if (entry.Address.IsIpv4)
                EmitIpv4(packet.Buffer, packet.Offset, packet.Length, entry.LinkAddress, packet.Offload);
            else
                EmitIpv6(packet.Buffer, packet.Offset, packet.Length, entry.LinkAddress, packet.Offload);
            packet.Release();
        }
    }

    void FailResolution(NeighborCache cache, NeighborCache.Entry entry)
    {
        while (entry.Pending.Count > 0)
        {
            var packet = cache.DequeuePending(entry);
            Counters.Increment(StackCounter.DropResolutionFailed);
            ReportToSender(packet.Packet, SocketError.HostUnreachable);
            packet.Release();
        }
    }
}
