using Wirestack.Wire;

namespace Wirestack.Engine;

// ARP (RFC 826): answering for our address, learning neighbours, asking for the ones the resolver needs.
internal sealed partial class Ipv4Layer
{
    public void ReceiveArp(ReadOnlySpan<byte> payload)
    {
        if (!ArpPacket.TryParse(payload, out var arp) || arp.Operation is not (ArpOperation.Request or ArpOperation.Reply))
        {
            _counters.Increment(StackCounter.DropArpMalformed);
            return;
        }
        var senderIp = arp.SenderProtocolAddress;
        var senderMac = arp.SenderHardwareAddress;
        if (senderMac != MacAddress && !senderIp.IsAny)
            _host.OnArpSender(senderIp);
        if (senderMac.IsMulticast || senderMac == MacAddress)
        {
            _counters.Increment(StackCounter.DropArpMalformed);
            return;
        }
        if (_interface.IsConfigured && senderIp == _interface.Address)
        {
            // Someone else claims our address (RFC 5227 2.4): count it and keep ours.
            _counters.Increment(StackCounter.DropArpAddressConflict);
            return;
        }

        bool forUs = _interface.IsConfigured && arp.TargetProtocolAddress == _interface.Address;
        // RFC 826 merge: refresh a known sender; add it only when it asks for us (we are about to answer it) from an
        // address we could send to directly. A reply nobody asked for adds nothing (as Linux without arp_accept), nor
        // does an off-link sender: a spray of either would push real neighbours out. A probe (sender 0.0.0.0,
        // RFC 5227) teaches nothing.
        if (!senderIp.IsAny && !senderIp.IsBroadcast && !senderIp.IsMulticast)
        {
            bool answer = forUs && arp.Operation == ArpOperation.Reply;
            bool create = forUs && !answer && _interface.IsOnLink(senderIp);
            _neighbors.Learned(_neighbors.Ipv4.Learn(senderIp, senderMac, _now, create, confirmed: answer));
        }

        if (forUs && arp.Operation == ArpOperation.Request)
        {
            SendArp(ArpOperation.Reply, senderMac, _interface.Address, senderMac, senderIp);
            _counters.Increment(StackCounter.ArpRepliesSent);
        }
    }

    /// <summary>An ARP request: broadcast to resolve, or unicast to <paramref name="to"/> to re-probe (RFC 4861 7.3.3 PROBE).</summary>
    public void SendArpRequest(Ipv4Address target, MacAddress? to = null)
    {
        SendArp(ArpOperation.Request, to ?? MacAddress.Broadcast, _interface.Address, MacAddress.Zero, target);
        _counters.Increment(StackCounter.ArpRequestsSent);
    }

    /// <summary>RFC 5227 2.1.1: a probe for <paramref name="address"/>, from sender address zero (a DHCP client checking its offer).</summary>
    public void SendProbe(Ipv4Address address)
    {
        SendArp(ArpOperation.Request, MacAddress.Broadcast, Ipv4Address.Any, MacAddress.Zero, address);
        _counters.Increment(StackCounter.ArpRequestsSent);
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
    public void Announce()
    {
        if (_link.IsEthernet && _interface.IsConfigured)
            SendArpRequest(_interface.Address);
    }
}
