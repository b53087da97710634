using System.Net.Sockets;
using Wirestack.Engine;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Dhcp;

/// <summary>What the DHCP client needs from the engine.</summary>
internal interface IDhcpHost
{
    long Now { get; }
    MacAddress MacAddress { get; }
    Random Random { get; }
    SocketError SendUdp(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload);
    void ApplyLease(DhcpLease lease, bool renewal);
    void RemoveLease();
    void SendArpProbe(Ipv4Address address);
    void Raise(StackEventKind kind, string message, Ipv4Address? address = null);
}

/// <summary>A lease and the parameters that came with it.</summary>
internal sealed record DhcpLease(
    Ipv4Address Address, int PrefixLength, Ipv4Address Gateway, Ipv4Address Server,
    IReadOnlyList<Ipv4Address> DnsServers, IReadOnlyList<Ipv4Address> NtpServers, string? DomainName,
    long AcquiredAt, long LeaseMicroseconds, long RenewAt, long RebindAt)
{
    public long ExpiresAt => AcquiredAt + LeaseMicroseconds;
}

/// <summary>
/// The DHCP client of RFC 2131 4.4 (figure 5): INIT, SELECTING, REQUESTING, BOUND, RENEWING, REBINDING,
/// INIT-REBOOT and REBOOTING, with randomized exponential retransmission (4.1), T1 renewal by unicast and T2
/// rebinding by broadcast (4.4.5), NAK handling, and an ARP probe of the offered address before using it
/// (RFC 5227 2.1), declining it on conflict. Runs inside the engine on its clock.
/// </summary>
internal sealed class DhcpClient : IUdpReceiver, IEngineService
{
    public enum ClientState { Stopped, Init, Selecting, Requesting, Probing, Bound, Renewing, Rebinding, InitReboot, Rebooting }

    const ushort ClientPort = 68, ServerPort = 67;
    const long Second = 1_000_000;
    const int MaxRequestAttempts = 4;

    readonly IDhcpHost _host;
    readonly DhcpClientSettings _settings;
    readonly byte[] _buffer = new byte[576];
    UdpBinding? _binding;
    uint _xid;
    long _nextSendAt = long.MaxValue;
    long _stateDeadline = long.MaxValue;
    long _startedAt;
    int _attempt;
    Ipv4Address _offered;
    Ipv4Address _server;
    Ipv4Address _previous;
    DhcpLease? _pendingLease;

    public DhcpClient(IDhcpHost host, DhcpClientSettings settings)
    {
        _host = host;
        _settings = settings;
        _previous = settings.PreviousAddress is { } previous ? Ipv4Address.FromIPAddress(previous) : default;
    }

    public ClientState State { get; private set; } = ClientState.Stopped;

    public DhcpLease? Lease { get; private set; }

    public long NextDeadline => Math.Min(_nextSendAt, Math.Min(_stateDeadline, Lease?.ExpiresAt ?? long.MaxValue));

    public void Start(UdpBinding binding)
    {
        _binding = binding;
        if (!_previous.IsAny)
            Enter(ClientState.InitReboot);
        else
            Enter(ClientState.Init);
    }

    /// <summary>The link went down: forget the lease's validity but remember the address for INIT-REBOOT (RFC 2131 3.2).</summary>
    public void Stop()
    {
        if (Lease is not null)
            _previous = Lease.Address;
        Lease = null;
        State = ClientState.Stopped;
        _nextSendAt = _stateDeadline = long.MaxValue;
    }

    /// <summary>RFC 2131 3.1 step 6: give the lease back on shutdown.</summary>
    public void Release()
    {
        if (Lease is not { } lease || State is not (ClientState.Bound or ClientState.Renewing or ClientState.Rebinding))
            return;
        var writer = NewMessage(DhcpMessageType.Release, clientAddress: lease.Address);
        writer.Add(DhcpOption.ServerIdentifier, lease.Server);
        Send(ref writer, lease.Server);
        _host.Raise(StackEventKind.LeaseReleased, $"Released {lease.Address} to {lease.Server}", lease.Address);
        Stop();
    }

    /// <summary>Another station answered for the address we are probing or hold (RFC 5227 2.1.1).</summary>
    public void OnAddressInUse(Ipv4Address address)
    {
        if (State != ClientState.Probing || address != _offered)
            return;
        var writer = NewMessage(DhcpMessageType.Decline);
        writer.Add(DhcpOption.RequestedAddress, _offered);
        writer.Add(DhcpOption.ServerIdentifier, _server);
        Send(ref writer, Ipv4Address.Broadcast);
        _host.Raise(StackEventKind.AddressConflict, $"Offered address {_offered} is in use: declined", _offered);
        // RFC 2131 3.1 step 5: wait at least ten seconds before starting again.
        _pendingLease = null;
        State = ClientState.Init;
        _nextSendAt = long.MaxValue;
        _stateDeadline = _host.Now + 10 * Second;
    }

    public void Run(long now)
    {
        if (Lease is { } lease && now >= lease.ExpiresAt)
        {
            // RFC 2131 4.4.5: the lease ran out; stop using the address.
            Lease = null;
            _host.RemoveLease();
            _host.Raise(StackEventKind.LeaseLost, $"Lease of {lease.Address} expired", lease.Address);
            Enter(ClientState.Init);
            return;
        }
        if (now >= _stateDeadline)
        {
            _stateDeadline = long.MaxValue;
            switch (State)
            {
                case ClientState.Init:
                    Enter(ClientState.Init);
                    return;
                case ClientState.Probing:
                    Bind(_pendingLease!, renewal: false);
                    return;
                case ClientState.Bound:
                    Enter(ClientState.Renewing);
                    return;
                case ClientState.Renewing:
                    Enter(ClientState.Rebinding);
                    return;
            }
        }
        if (now >= _nextSendAt)
            Transmit();
    }

    /// <summary>Starts a new exchange in <paramref name="state"/> with a fresh transaction ID (RFC 2131 4.4.1).</summary>
    void Enter(ClientState state)
    {
        _attempt = 0;
        _stateDeadline = long.MaxValue;
        // The transaction ID is what an off-path attacker must guess to spoof a reply: never from a test seed.
        _xid = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        // INIT and INIT-REBOOT are left at once for the states that wait for the answer.
        State = state switch
        {
            ClientState.Init => ClientState.Selecting,
            ClientState.InitReboot => ClientState.Rebooting,
            _ => state,
        };
        if (state is ClientState.Init or ClientState.InitReboot)
            _startedAt = _host.Now;
        if (state == ClientState.Renewing)
            _stateDeadline = Lease!.RebindAt;
        Transmit();
    }

    /// <summary>Sends (or resends) the message the state calls for and schedules the next try.</summary>
    void Transmit()
    {
        long now = _host.Now;
        switch (State)
        {
            case ClientState.Selecting:
            {
                var writer = NewMessage(DhcpMessageType.Discover);
                if (!_previous.IsAny)
                    writer.Add(DhcpOption.RequestedAddress, _previous);
                Send(ref writer, Ipv4Address.Broadcast);
                _nextSendAt = now + Backoff();
                break;
            }
            case ClientState.Requesting:
            case ClientState.Rebooting:
            {
                if (_attempt >= MaxRequestAttempts)
                {
                    // No answer: start over (RFC 2131 3.1 step 3 / 3.2 step 3). After INIT-REBOOT the old address stays
                    // a suggestion in the DISCOVER (4.4.1): servers that keep no record stay silent to INIT-REBOOT.
                    Enter(ClientState.Init);
                    return;
                }
                var writer = NewMessage(DhcpMessageType.Request);
                writer.Add(DhcpOption.RequestedAddress, State == ClientState.Requesting ? _offered : _previous);
                if (State == ClientState.Requesting)
                    writer.Add(DhcpOption.ServerIdentifier, _server);
                Send(ref writer, Ipv4Address.Broadcast);
                _nextSendAt = now + Backoff();
                break;
            }
            case ClientState.Renewing:
            case ClientState.Rebinding:
            {
                var lease = Lease!;
                var writer = NewMessage(DhcpMessageType.Request, clientAddress: lease.Address);
                Send(ref writer, State == ClientState.Renewing ? lease.Server : Ipv4Address.Broadcast);
                // RFC 2131 4.4.5: retry at half the time left (to T2 or to expiry), at least every few seconds.
                long until = State == ClientState.Renewing ? lease.RebindAt : lease.ExpiresAt;
                _nextSendAt = now + Math.Max((until - now) / 2, 4 * Second);
                break;
            }
            default:
                _nextSendAt = long.MaxValue;
                break;
        }
        _attempt++;
    }

    /// <summary>RFC 2131 4.1: 4, 8, 16, 32, 64 s, each ±1 s at random.</summary>
    long Backoff()
    {
        long baseDelay = Math.Min(4L << Math.Min(_attempt, 4), 64) * Second;
        long delay = baseDelay + _host.Random.NextInt64(-Second, Second + 1);
        return (long)(delay * _settings.RetransmissionScale);
    }

    DhcpMessageWriter NewMessage(DhcpMessageType type, Ipv4Address clientAddress = default)
    {
        ushort seconds = (ushort)Math.Min((_host.Now - _startedAt) / Second, ushort.MaxValue);
        var writer = new DhcpMessageWriter(_buffer, DhcpMessage.BootRequest, _xid, _host.MacAddress, 0, clientAddress, seconds: seconds);
        writer.Add(DhcpOption.MessageType, (byte)type);
        Span<byte> clientId = stackalloc byte[7];
        clientId[0] = 1;
        _host.MacAddress.WriteTo(clientId[1..]);
        writer.Add(DhcpOption.ClientIdentifier, clientId);
        if (type is DhcpMessageType.Discover or DhcpMessageType.Request)
        {
            writer.Add(DhcpOption.ParameterRequestList, [DhcpOption.SubnetMask, DhcpOption.Router, DhcpOption.DomainNameServer,
                DhcpOption.DomainName, DhcpOption.NtpServers, DhcpOption.LeaseTime, DhcpOption.RenewalTime, DhcpOption.RebindingTime]);
            Span<byte> size = [576 >> 8, 576 & 0xFF];
            writer.Add(DhcpOption.MaximumMessageSize, size);
            if (!string.IsNullOrEmpty(_settings.HostName))
                writer.Add(DhcpOption.HostName, System.Text.Encoding.ASCII.GetBytes(_settings.HostName));
        }
        return writer;
    }

    void Send(ref DhcpMessageWriter writer, Ipv4Address destination)
    {
        int length = writer.Finish();
        _host.SendUdp(_binding!, destination, ServerPort, _buffer.AsSpan(0, length));
    }

    public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
    {
        if (!remoteAddress.IsIpv4)
            return true; // DHCPv4 has nothing to say over IPv6
        if (!DhcpMessage.TryParse(payload, out var message) || message.Operation != DhcpMessage.BootReply
            || message.TransactionId != _xid || message.ClientHardwareAddress != _host.MacAddress)
            return true; // not ours: consumed and ignored
        var type = message.MessageType;
        switch (State)
        {
            case ClientState.Selecting when type == DhcpMessageType.Offer:
                if (!message.TryGetAddress(DhcpOption.ServerIdentifier, out _server) || message.YourAddress.IsAny)
                    return true;
                _offered = message.YourAddress;
                State = ClientState.Requesting;
                _attempt = 0;
                Transmit();
                break;
            case ClientState.Requesting or ClientState.Rebooting or ClientState.Renewing or ClientState.Rebinding when type == DhcpMessageType.Ack:
                if (FromChosenServer(message))
                    OnAck(message);
                break;
            case ClientState.Requesting or ClientState.Rebooting or ClientState.Renewing or ClientState.Rebinding when type == DhcpMessageType.Nak
                && FromChosenServer(message):
                // RFC 2131 3.1 step 5 / 4.4.4: stop using any address and start over.
                var lost = Lease;
                Lease = null;
                _previous = default;
                if (lost is not null)
                {
                    _host.RemoveLease();
                    _host.Raise(StackEventKind.LeaseLost, $"Server refused {lost.Address} (NAK): {message.GetText(DhcpOption.Message) ?? "no reason given"}", lost.Address);
                }
                Enter(ClientState.Init);
                break;
        }
        return true;
    }

    public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort)
    {
    }

    /// <summary>
    /// In REQUESTING and RENEWING the client talks to one server; an ACK or NAK naming another (a rogue server, or a
    /// stale answer) is ignored (RFC 2131 4.4.1: the server identifier tells the servers apart). REBOOTING and
    /// REBINDING broadcast to all servers, so any may answer.
    /// </summary>
    bool FromChosenServer(DhcpMessage message)
    {
        var chosen = State switch
        {
            ClientState.Requesting => _server,
            ClientState.Renewing => Lease?.Server ?? _server,
            _ => default,
        };
        return chosen.IsAny || (message.TryGetAddress(DhcpOption.ServerIdentifier, out var server) && server == chosen);
    }

    void OnAck(DhcpMessage message)
    {
        long now = _host.Now;
        var address = message.YourAddress;
        int prefix = message.TryGetAddress(DhcpOption.SubnetMask, out var mask) && IsMask(mask.Value) ? PrefixOf(mask.Value) : DefaultPrefix(address);
        if (!IsHostAddress(address, prefix))
            return;
        message.TryGetAddress(DhcpOption.ServerIdentifier, out var server);
        if (server.IsAny)
            server = _server;
        // A lease shorter than a minute would bind and expire in a loop, failing every connection each time.
        uint leaseSeconds = Math.Max(MinimumLeaseSeconds, message.TryGetSeconds(DhcpOption.LeaseTime, out uint l) ? l : 3600);
        long leaseMicro = leaseSeconds == uint.MaxValue ? long.MaxValue / 4 : leaseSeconds * Second;
        long t1 = message.TryGetSeconds(DhcpOption.RenewalTime, out uint r) ? r * Second : leaseMicro / 2;
        long t2 = message.TryGetSeconds(DhcpOption.RebindingTime, out uint b) ? b * Second : leaseMicro * 7 / 8;
        t2 = Math.Clamp(t2, 0, leaseMicro);
        t1 = Math.Clamp(t1, 0, t2);
        var routers = message.GetAddresses(DhcpOption.Router, 1);
        var lease = new DhcpLease(address, prefix, routers.Count > 0 && IsUsableRouter(routers[0], address, prefix) ? routers[0] : default, server,
            message.GetAddresses(DhcpOption.DomainNameServer, 6), message.GetAddresses(DhcpOption.NtpServers, 6),
            message.GetText(DhcpOption.DomainName), now, leaseMicro, now + t1, now + t2);
        bool renewal = State is ClientState.Renewing or ClientState.Rebinding && Lease?.Address == address;
        if (renewal || State == ClientState.Rebooting || _settings.ProbeTime <= TimeSpan.Zero)
        {
            Bind(lease, renewal);
            return;
        }
        // RFC 5227 2.1: probe the address before using it.
        _pendingLease = lease;
        _offered = address;
        State = ClientState.Probing;
        _nextSendAt = long.MaxValue;
        _host.SendArpProbe(address);
        _stateDeadline = now + _settings.ProbeTime.Ticks / TimeSpan.TicksPerMicrosecond;
    }

    void Bind(DhcpLease lease, bool renewal)
    {
        var previous = Lease;
        Lease = lease;
        _previous = lease.Address;
        _pendingLease = null;
        State = ClientState.Bound;
        _nextSendAt = long.MaxValue;
        _stateDeadline = lease.RenewAt;
        _host.ApplyLease(lease, renewal);
        long seconds = lease.LeaseMicroseconds / Second;
        if (renewal)
        {
            _host.Raise(StackEventKind.LeaseRenewed, $"Lease of {lease.Address} renewed for {seconds} s", lease.Address);
            return;
        }
        _host.Raise(StackEventKind.LeaseAcquired, $"Lease {lease.Address}/{lease.PrefixLength} from {lease.Server}, gateway {lease.Gateway}, {seconds} s", lease.Address);
        foreach (var dns in lease.DnsServers)
        {
            if (previous is null || !previous.DnsServers.Contains(dns))
                _host.Raise(StackEventKind.DnsServerLearned, $"Got DNS from DHCP: {dns}", dns);
        }
        foreach (var ntp in lease.NtpServers)
        {
            if (previous is null || !previous.NtpServers.Contains(ntp))
                _host.Raise(StackEventKind.SntpServerLearned, $"Got SNTP from DHCP: {ntp}", ntp);
        }
    }

    /// <summary>Seconds a lease lasts at least, whatever the server says (0 would expire as it binds).</summary>
    internal const uint MinimumLeaseSeconds = 60;

    static int PrefixOf(uint mask) => System.Numerics.BitOperations.PopCount(mask);

    /// <summary>A subnet mask (RFC 950): contiguous ones from the top, at least /1; anything else is ignored for the classful default.</summary>
    static bool IsMask(uint mask) => mask != 0 && (~mask & (~mask + 1)) == 0;

    /// <summary>
    /// An address a host may take (RFC 1122 3.2.1.3, RFC 5735): not 0/8, loopback, multicast or class E, and not the
    /// network or broadcast address of its subnet (except on /31 and /32 links, RFC 3021).
    /// </summary>
    static bool IsHostAddress(Ipv4Address address, int prefix)
    {
        uint value = address.Value;
        if ((value >> 24) == 0 || address.IsLoopback || value >= 0xE000_0000)
            return false;
        if (prefix >= 31)
            return true;
        uint host = value & (uint.MaxValue >> prefix);
        return host != 0 && host != uint.MaxValue >> prefix;
    }

    /// <summary>A router must be a host on the leased subnet (on a /31 or /32 link it cannot be: then any host address).</summary>
    static bool IsUsableRouter(Ipv4Address router, Ipv4Address address, int prefix) =>
        router != address && IsHostAddress(router, Math.Min(prefix, 30))
        && (prefix >= 31 || (router.Value ^ address.Value) >> (32 - prefix) == 0);

    static int DefaultPrefix(Ipv4Address address) => (address.Value >> 24) switch
    {
        < 128 => 8,
        < 192 => 16,
        _ => 24,
    };
}
