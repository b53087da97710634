using System.Net.Sockets;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Dhcp;

/// <summary>What the DHCP server needs from the engine.</summary>
internal interface IDhcpServerHost
{
    long Now { get; }
    Network.Ipv4Interface Interface { get; }

    /// <summary>The link-layer source of the frame being processed (null on an IP-only link).</summary>
    MacAddress? FrameSource { get; }

    StackCounters Counters { get; }
    SocketError SendUdp(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload);
}

/// <summary>
/// A DHCP server (RFC 2131 4.3) for the stack's own segment: a pool with expiring leases, offers that honour a
/// requested address when free, static reservations by MAC, NAK for requests it cannot honour, DECLINE and
/// RELEASE handling. Replies are broadcast (RFC 2131 4.1 allows it) except to clients that already have an address.
/// </summary>
/// <remarks>
/// Against pool starvation: a message must come from the hardware address it names (the check switches' DHCP
/// snooping makes) and from the segment itself (relayed messages are refused: the server answers only its own
/// link), so one host cannot lease for made-up clients; a REQUEST binds only an
/// address offered to or leased by that client; and new bindings are rate limited, so even a host forging source
/// addresses takes minutes, not milliseconds, to drain the pool. A DISCOVER looks at a bounded number of candidates
/// from a rotating cursor, so a full pool costs the same per packet as an empty one.
/// </remarks>
internal sealed class DhcpServer : IUdpReceiver
{
    const long Second = 1_000_000;
    const long OfferHold = 60 * Second;
    const long DeclineHold = 600 * Second;

    /// <summary>Pool addresses a DISCOVER examines at most.</summary>
    const int CandidatesPerDiscover = 64;

    sealed class Lease
    {
        public MacAddress Client;
        public Ipv4Address Address;
        public long Expires;
        public bool Bound;
    }

    readonly IDhcpServerHost _host;
    readonly uint _first, _last;
    readonly long _leaseMicroseconds;
    readonly Dictionary<MacAddress, Ipv4Address> _reservations;
    readonly IReadOnlyList<Ipv4Address> _dns, _ntp;
    readonly Ipv4Address? _router;
    readonly Dictionary<Ipv4Address, Lease> _byAddress = [];
    readonly Dictionary<MacAddress, Lease> _byClient = [];
    readonly Dictionary<Ipv4Address, long> _declined = [];
    readonly byte[] _buffer = new byte[576];
    readonly Network.TokenBucket _newBindings = new(10, 20);
    UdpBinding? _binding;
    uint _cursor;

    public DhcpServer(IDhcpServerHost host, DhcpServerSettings settings)
    {
        _host = host;
        _first = Ipv4Address.FromIPAddress(settings.PoolStart).Value;
        _last = Ipv4Address.FromIPAddress(settings.PoolEnd).Value;
        _leaseMicroseconds = settings.LeaseTime.Ticks / TimeSpan.TicksPerMicrosecond;
        _reservations = settings.Reservations.ToDictionary(r => r.Key, r => Ipv4Address.FromIPAddress(r.Value));
        _dns = settings.DnsServers.Select(Ipv4Address.FromIPAddress).ToArray();
        _ntp = settings.NtpServers.Select(Ipv4Address.FromIPAddress).ToArray();
        _router = settings.Router is null ? null : Ipv4Address.FromIPAddress(settings.Router);
    }

    public int BoundLeases => _byClient.Values.Count(l => l.Bound && l.Expires > _host.Now);

    public void Start(UdpBinding binding) => _binding = binding;

    /// <summary>Tests only: the address offered to or leased by <paramref name="client"/>.</summary>
    internal Ipv4Address? OfferedTo(MacAddress client) => _byClient.TryGetValue(client, out var lease) ? lease.Address : null;

    public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
    {
        if (!remoteAddress.IsIpv4)
            return true; // DHCPv4 has nothing to say over IPv6
        if (!_host.Interface.IsConfigured || !DhcpMessage.TryParse(payload, out var message) || message.Operation != DhcpMessage.BootRequest)
            return true;
        var client = message.ClientHardwareAddress;
        // The server serves its own segment only (it answers by broadcast or to the client's address, never through a
        // relay): a relayed message (giaddr set) would skip the check below, and a source off the segment cannot be a
        // client on it. A message must come from the hardware address it names (DHCP snooping's check).
        bool onSegment = remoteAddress.Ipv4.IsAny || _host.Interface.IsOnLink(remoteAddress.Ipv4);
        if (!message.RelayAddress.IsAny || !onSegment || (_host.FrameSource is { } source && source != client))
        {
            _host.Counters.Increment(StackCounter.DropDhcpSpoofedClient);
            return true;
        }
        switch (message.MessageType)
        {
            case DhcpMessageType.Discover:
                if (Choose(client, message) is { } offer && Admit(client, offer))
                {
                    Hold(client, offer, _host.Now + OfferHold, bound: false);
                    Reply(message, DhcpMessageType.Offer, offer);
                }
                break;
            case DhcpMessageType.Request:
                OnRequest(message, client);
                break;
            case DhcpMessageType.Decline:
                if (message.TryGetAddress(DhcpOption.RequestedAddress, out var declined) && _byAddress.TryGetValue(declined, out var held) && held.Client == client)
                {
                    Forget(held);
                    _declined[declined] = _host.Now + DeclineHold;
                }
                break;
            case DhcpMessageType.Release:
                if (_byClient.TryGetValue(client, out var released) && released.Address == message.ClientAddress)
                    released.Expires = _host.Now; // keep the binding as a preference for this client
                break;
            case DhcpMessageType.Inform:
                Reply(message, DhcpMessageType.Ack, default);
                break;
        }
        return true;
    }

    public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort)
    {
    }

    void OnRequest(DhcpMessage message, MacAddress client)
    {
        bool hasServerId = message.TryGetAddress(DhcpOption.ServerIdentifier, out var serverId);
        message.TryGetAddress(DhcpOption.RequestedAddress, out var requested);
        var current = message.ClientAddress;
        if (hasServerId)
        {
            // SELECTING: the client chose a server; if not us, let our offer go.
            if (serverId != _host.Interface.Address)
            {
                if (_byClient.TryGetValue(client, out var offered) && !offered.Bound)
                    Forget(offered);
                return;
            }
            // SELECTING: only what was offered to this client (or it already holds) can be bound.
            if (!_reservations.ContainsKey(client) && !(_byClient.TryGetValue(client, out var offer) && offer.Address == requested))
            {
                Reply(message, DhcpMessageType.Nak, default);
                return;
            }
            Confirm(message, client, requested);
            return;
        }
        // INIT-REBOOT names the address in the option; RENEWING/REBINDING in ciaddr (RFC 2131 4.3.2). An INIT-REBOOT
        // client on the wrong network gets a NAK; one the server has no record of gets silence (4.3.2), so another
        // server that has one can answer.
        if (current.IsAny && _host.Interface.IsOnLink(requested) && !_byClient.ContainsKey(client) && !_reservations.ContainsKey(client))
            return;
        Confirm(message, client, current.IsAny ? requested : current);
    }

    void Confirm(DhcpMessage message, MacAddress client, Ipv4Address address)
    {
        if (address.IsAny || !Assignable(client, address))
        {
            Reply(message, DhcpMessageType.Nak, default);
            return;
        }
        if (!Admit(client, address))
            return;
        Hold(client, address, _host.Now + _leaseMicroseconds, bound: true);
        Reply(message, DhcpMessageType.Ack, address);
    }

    /// <summary>The address to offer: reservation, the client's current lease, the requested one if free, else the first free.</summary>
    Ipv4Address? Choose(MacAddress client, DhcpMessage message)
    {
        if (_reservations.TryGetValue(client, out var reserved))
            return reserved;
        if (_byClient.TryGetValue(client, out var existing) && Assignable(client, existing.Address))
            return existing.Address;
        if (message.TryGetAddress(DhcpOption.RequestedAddress, out var requested) && Assignable(client, requested))
            return requested;
        ulong size = (ulong)_last - _first + 1;
        for (int i = 0; i < CandidatesPerDiscover && (ulong)i < size; i++)
        {
            var candidate = new Ipv4Address((uint)(_first + (ulong)_cursor % size));
            _cursor++;
            if (Assignable(client, candidate))
                return candidate;
        }
        return null;
    }

    bool Assignable(MacAddress client, Ipv4Address address)
    {
        if (_reservations.TryGetValue(client, out var reserved))
            return address == reserved;
        if (address.Value < _first || address.Value > _last || address == _host.Interface.Address || !_host.Interface.IsOnLink(address))
            return false;
        if (_reservations.ContainsValue(address))
            return false;
        if (_declined.TryGetValue(address, out long until) && until > _host.Now)
            return false;
        return !_byAddress.TryGetValue(address, out var lease) || lease.Client == client || lease.Expires <= _host.Now;
    }

    /// <summary>
    /// Whether <paramref name="client"/> may take <paramref name="address"/>: free when it already holds it (offered
    /// or bound), otherwise a token from the rate limit of new holds. Offers count too: each one holds an address
    /// for a minute, so a flood of DISCOVERs from forged addresses would otherwise drain the pool as fast as REQUESTs.
    /// </summary>
    bool Admit(MacAddress client, Ipv4Address address)
    {
        if (_byClient.TryGetValue(client, out var held) && held.Address == address)
            return true;
        if (_newBindings.TryTake(_host.Now))
            return true;
        _host.Counters.Increment(StackCounter.DropDhcpRateLimited);
        return false;
    }

    void Hold(MacAddress client, Ipv4Address address, long expires, bool bound)
    {
        if (_byClient.TryGetValue(client, out var previous) && previous.Address != address)
            Forget(previous);
        if (_byAddress.TryGetValue(address, out var other) && other.Client != client)
            Forget(other);
        var lease = new Lease { Client = client, Address = address, Expires = expires, Bound = bound };
        _byClient[client] = lease;
        _byAddress[address] = lease;
    }

    void Forget(Lease lease)
    {
        _byClient.Remove(lease.Client);
        _byAddress.Remove(lease.Address);
    }

    void Reply(DhcpMessage request, DhcpMessageType type, Ipv4Address yourAddress)
    {
        var own = _host.Interface.Address;
        var writer = new DhcpMessageWriter(_buffer, DhcpMessage.BootReply, request.TransactionId, request.ClientHardwareAddress,
            request.Flags, type == DhcpMessageType.Ack ? request.ClientAddress : default, yourAddress, own);
        writer.Add(DhcpOption.MessageType, (byte)type);
        writer.Add(DhcpOption.ServerIdentifier, own);
        if (type != DhcpMessageType.Nak)
        {
            if (!yourAddress.IsAny)
                writer.AddSeconds(DhcpOption.LeaseTime, (uint)Math.Min(_leaseMicroseconds / Second, uint.MaxValue - 1));
            writer.Add(DhcpOption.SubnetMask, new Ipv4Address(_host.Interface.Mask));
            writer.Add(DhcpOption.Router, _router ?? own);
            writer.Add(DhcpOption.DomainNameServer, _dns);
            writer.Add(DhcpOption.NtpServers, _ntp);
        }
        int length = writer.Finish();
        var client = request.ClientAddress;
        var destination = !client.IsAny && type != DhcpMessageType.Nak ? client : Ipv4Address.Broadcast;
        _host.SendUdp(_binding!, destination, 68, _buffer.AsSpan(0, length));
    }
}
