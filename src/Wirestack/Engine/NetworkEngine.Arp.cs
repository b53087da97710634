using Wirestack.Wire;

namespace Wirestack.Engine;

// ARP (RFC 826): answering for our address, learning neighbours, asking for the ones the resolver needs.
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
            _neighbors.Learned(_neighbors.Ipv4.Learn(senderIp, senderMac, _now, create: forUs, confirmed: answer));
        }

        if (forUs && arp.Operation == ArpOperation.Request)
        {
            SendArp(ArpOperation.Reply, senderMac, _interface.Address, senderMac, senderIp);
            Counters.Increment(StackCounter.ArpRepliesSent);
        }
    }

    /// <summary>An ARP request: broadcast to resolve, or unicast to <paramref name="to"/> to re-probe (RFC 4861 7.3.3 PROBE).</summary>
    void SendArpRequest(Ipv4Address target, MacAddress? to = null)
    {
        SendArp(ArpOperation.Request, to ?? MacAddress.Broadcast, _interface.Address, MacAddress.Zero, target);
        Counters.Increment(StackCounter.ArpRequestsSent);
    }

    void SendArp(ArpOperation operation, MacAddress frameTo, Ipv4Address senderIp, MacAddress targetMac, Ipv4Address targetIp)
    {
        using var lease = _buffers.Rent();
        var frame = lease.Buffer.AsSpan();
        int length = EthernetFrame.WriteHeader(frame, frameTo, MacAddress, EtherType.Arp);
        length += ArpPacket.Write(frame[length..], operation, MacAddress, senderIp, targetMac, targetIp);
        _link.SendFrame(frame[..length], _now);
    }

    /// <summary>Gratuitous ARP announcing our address (RFC 5227 3): a request with sender and target both ours.</summary>
    void Announce()
    {
        if (_link.IsEthernet && _interface.IsConfigured)
            SendArpRequest(_interface.Address);
    }

    /// <summary>
    /// Upper-layer reachability confirmation (RFC 4861 7.3.1): TCP saw forward progress with <paramref name="remote"/>,
    /// so its next hop answers.
    /// </summary>
    public void ConfirmReachable(IpAddress remote)
    {
        if (_link.IsEthernet && _output.TryNextHop(remote, out var nextHop))
            _neighbors.Confirm(nextHop, _now);
    }
}
