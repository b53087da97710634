using System.Buffers.Binary;
using System.Net.Sockets;
using Wirestack.Engine;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Dhcp;

/// <summary>What the DHCPv6 client needs from the engine.</summary>
internal interface IDhcpv6Host
{
    long Now { get; }
    MacAddress MacAddress { get; }
    Random Random { get; }
    SocketError SendUdp(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload);

    /// <summary>Adds (DAD first) or updates a leased address; false when the interface has no room.</summary>
    bool SetLeasedAddress(IpAddress address, long preferredUntil, long validUntil);

    void RemoveLeasedAddress(IpAddress address);

    /// <summary>DNS and SNTP servers from the server (replacing earlier ones).</summary>
    void ApplyServers(IReadOnlyList<IpAddress> dnsServers, IReadOnlyList<IpAddress> sntpServers, IReadOnlyList<string> domains);

    void Raise(StackEventKind kind, string message, IpAddress? address = null);
}

/// <summary>
/// The DHCPv6 client of RFC 8415: stateless (Information-Request, 18.2.6) for DNS and SNTP servers when routers set
/// the O flag, stateful (18.2.1-18.2.5: Solicit, Advertise, Request, Reply; Renew at T1, Rebind at T2; Release at
/// shutdown; Decline for an address that fails DAD) with one IA_NA when they set the M flag. Retransmission follows
/// 15 (randomized doubling from IRT up to MRT, bounded by MRC and MRD). Runs inside the engine on its clock.
/// </summary>
internal sealed class Dhcpv6Client : IUdpReceiver, IEngineService
{
    public enum ClientState { Stopped, Informing, Informed, Soliciting, Requesting, Bound, Renewing, Rebinding }

    public const ushort ClientPort = 546, ServerPort = 547;

    /// <summary>ff02::1:2, All_DHCP_Relay_Agents_and_Servers.</summary>
    public static readonly IpAddress AllServers = new(0xFF02_0000_0000_0000, 0x0001_0002);

    const long Second = 1_000_000;

    // RFC 8415 7.6 transmission parameters.
    const long SolMaxDelay = 1 * Second, SolTimeout = 1 * Second, SolMaxRt = 3600 * Second;
    const long ReqTimeout = 1 * Second, ReqMaxRt = 30 * Second;
    const int ReqMaxRc = 10;
    const long RenTimeout = 10 * Second, RenMaxRt = 600 * Second, RebTimeout = 10 * Second, RebMaxRt = 600 * Second;
    const long InfMaxDelay = 1 * Second, InfTimeout = 1 * Second, InfMaxRt = 3600 * Second;
    const long InformationRefreshDefault = 86400 * Second, InformationRefreshMinimum = 600 * Second;
    const int MaxServersPerOption = 4;

    readonly IDhcpv6Host _host;
    readonly byte[] _buffer = new byte[512];
    readonly byte[] _clientId;
    readonly uint _iaid;
    UdpBinding? _binding;
    uint _xid;
    long _nextSendAt = long.MaxValue;
    long _retransmission;
    long _exchangeStartedAt;
    long _giveUpAt = long.MaxValue;
    int _sent;
    byte[]? _serverId;
    int _bestPreference = -1;
    IpAddress _address;
    long _renewAt = long.MaxValue, _rebindAt = long.MaxValue, _validUntil = long.MaxValue;

    public Dhcpv6Client(IDhcpv6Host host)
    {
        _host = host;
        // RFC 8415 11.4: DUID-LL, hardware type 1 (Ethernet), our MAC: stable for the interface, nothing to store.
        _clientId = new byte[10];
        BinaryPrimitives.WriteUInt16BigEndian(_clientId, 3);
        BinaryPrimitives.WriteUInt16BigEndian(_clientId.AsSpan(2), 1);
        host.MacAddress.WriteTo(_clientId.AsSpan(4));
        _iaid = BinaryPrimitives.ReadUInt32BigEndian(_clientId.AsSpan(6));
    }

    public ClientState State { get; private set; } = ClientState.Stopped;

    /// <summary>The leased address, or default when none.</summary>
    public IpAddress Address => _address;

    public long NextDeadline => Math.Min(_nextSendAt, Math.Min(_renewAt, Math.Min(_rebindAt, _validUntil)));

    public void Bind(UdpBinding binding) => _binding = binding;

    /// <summary>RFC 8415 18.2.6: routers set O (and not M): ask for configuration only, after up to INF_MAX_DELAY.</summary>
    public void StartStateless()
    {
        if (State != ClientState.Stopped)
            return;
        Begin(ClientState.Informing, _host.Random.NextInt64(InfMaxDelay + 1), InfTimeout);
    }

    /// <summary>RFC 8415 18.2.1: routers set M: solicit an address, after up to SOL_MAX_DELAY.</summary>
    public void StartStateful()
    {
        if (State is not (ClientState.Stopped or ClientState.Informing or ClientState.Informed))
            return;
        _serverId = null;
        _bestPreference = -1;
        Begin(ClientState.Soliciting, _host.Random.NextInt64(SolMaxDelay + 1), SolTimeout);
    }

    /// <summary>The link went down: the lease is forgotten (the address went with the interface's state).</summary>
    public void Stop()
    {
        State = ClientState.Stopped;
        _address = default;
        _serverId = null;
        _nextSendAt = _renewAt = _rebindAt = _validUntil = _giveUpAt = long.MaxValue;
    }

    /// <summary>RFC 8415 18.2.7: give the address back on shutdown (sent once; the stack is going away).</summary>
    public void Release()
    {
        if (State is not (ClientState.Bound or ClientState.Renewing) || _serverId is null)
            return;
        _xid = NewTransactionId();
        _exchangeStartedAt = _host.Now;
        Send(Dhcpv6MessageType.Release, withServerId: true, withAddress: true);
        _host.Raise(StackEventKind.LeaseReleased, $"Released DHCPv6 address {_address}", _address);
        Stop();
    }

    /// <summary>RFC 8415 18.2.8: the leased address failed DAD: decline it and start over.</summary>
    public void OnDuplicate(IpAddress address)
    {
        if (address != _address || _serverId is null)
            return;
        _xid = NewTransactionId();
        _exchangeStartedAt = _host.Now;
        Send(Dhcpv6MessageType.Decline, withServerId: true, withAddress: true);
        _host.Raise(StackEventKind.AddressConflict, $"DHCPv6 address {address} is in use on the link: declined", address);
        _address = default;
        _renewAt = _rebindAt = _validUntil = long.MaxValue;
        State = ClientState.Stopped;
        StartStateful();
    }

    void Begin(ClientState state, long delay, long initialTimeout)
    {
        State = state;
        _xid = NewTransactionId();
        _sent = 0;
        _exchangeStartedAt = _host.Now + delay;
        _retransmission = initialTimeout;
        _nextSendAt = _host.Now + delay;
        _giveUpAt = state switch
        {
            ClientState.Renewing => _rebindAt,
            ClientState.Rebinding => _validUntil,
            _ => long.MaxValue,
        };
    }

    // RFC 8415 15: transaction IDs must not be predictable by an off-path attacker.
    static uint NewTransactionId() => (uint)System.Security.Cryptography.RandomNumberGenerator.GetInt32(1 << 24);

    public void Run(long now)
    {
        if (_validUntil <= now && _address != default)
        {
            // RFC 8415 18.2.5: nothing answered before the lease ran out: the address is gone, solicit again.
            _host.RemoveLeasedAddress(_address);
            _host.Raise(StackEventKind.LeaseLost, $"DHCPv6 address {_address} expired", _address);
            _address = default;
            _renewAt = _rebindAt = _validUntil = long.MaxValue;
            State = ClientState.Stopped;
            StartStateful();
            return;
        }
        if (State == ClientState.Bound && now >= _renewAt)
        {
            _renewAt = long.MaxValue;
            Begin(ClientState.Renewing, 0, RenTimeout);
        }
        else if (State == ClientState.Renewing && now >= _rebindAt)
        {
            _rebindAt = long.MaxValue;
            Begin(ClientState.Rebinding, 0, RebTimeout);
        }
        else if (State == ClientState.Informed && now >= _renewAt)
        {
            _renewAt = long.MaxValue;
            Begin(ClientState.Informing, 0, InfTimeout);
        }
        if (now < _nextSendAt)
            return;
        if (State == ClientState.Soliciting && _sent > 0 && _serverId is not null)
        {
            // RFC 8415 18.2.1: the first retransmission time is up and an Advertise came: request from the best.
            Begin(ClientState.Requesting, 0, ReqTimeout);
        }
        if (State == ClientState.Requesting && _sent >= ReqMaxRc)
        {
            // RFC 8415 18.2.2: the chosen server stopped answering: solicit again.
            State = ClientState.Stopped;
            StartStateful();
            return;
        }
        if (now >= _giveUpAt)
        {
            _nextSendAt = long.MaxValue;
            return;
        }
        Transmit();
    }

    void Transmit()
    {
        switch (State)
        {
            case ClientState.Informing:
                Send(Dhcpv6MessageType.InformationRequest, withServerId: false, withAddress: false);
                break;
            case ClientState.Soliciting:
                Send(Dhcpv6MessageType.Solicit, withServerId: false, withAddress: false);
                break;
            case ClientState.Requesting:
                Send(Dhcpv6MessageType.Request, withServerId: true, withAddress: false);
                break;
            case ClientState.Renewing:
                Send(Dhcpv6MessageType.Renew, withServerId: true, withAddress: true);
                break;
            case ClientState.Rebinding:
                Send(Dhcpv6MessageType.Rebind, withServerId: false, withAddress: true);
                break;
            default:
                _nextSendAt = long.MaxValue;
                return;
        }
        _sent++;
        // RFC 8415 15: RT = 2 RTprev + RAND RTprev, RAND in [-0.1, 0.1]; past MRT, MRT + RAND MRT.
        long maximum = State switch
        {
            ClientState.Informing => InfMaxRt,
            ClientState.Soliciting => SolMaxRt,
            ClientState.Requesting => ReqMaxRt,
            ClientState.Renewing => RenMaxRt,
            _ => RebMaxRt,
        };
        double rand = (_host.Random.NextDouble() - 0.5) / 5;
        long timeout = _sent == 1 ? _retransmission + (long)(rand * _retransmission) : 2 * _retransmission + (long)(rand * _retransmission);
        if (timeout > maximum)
            timeout = maximum + (long)(rand * maximum);
        _retransmission = timeout;
        _nextSendAt = Math.Min(_host.Now + timeout, _giveUpAt);
    }

    void Send(Dhcpv6MessageType type, bool withServerId, bool withAddress)
    {
        var writer = new Dhcpv6Writer(_buffer, type, _xid);
        writer.Add(Dhcpv6Option.ClientId, _clientId);
        if (withServerId && _serverId is not null)
            writer.Add(Dhcpv6Option.ServerId, _serverId);
        // RFC 8415 21.9: hundredths of a second since the exchange began, capped at 0xffff.
        long elapsed = Math.Clamp((_host.Now - _exchangeStartedAt) / 10_000, 0, 0xFFFF);
        writer.AddUInt16(Dhcpv6Option.ElapsedTime, (ushort)elapsed);
        Span<byte> requested = stackalloc byte[8];
        BinaryPrimitives.WriteUInt16BigEndian(requested, Dhcpv6Option.DnsServers);
        BinaryPrimitives.WriteUInt16BigEndian(requested[2..], Dhcpv6Option.DomainList);
        BinaryPrimitives.WriteUInt16BigEndian(requested[4..], Dhcpv6Option.SntpServers);
        BinaryPrimitives.WriteUInt16BigEndian(requested[6..], Dhcpv6Option.InformationRefreshTime);
        writer.Add(Dhcpv6Option.OptionRequest, type == Dhcpv6MessageType.InformationRequest ? requested : requested[..6]);
        if (type != Dhcpv6MessageType.InformationRequest)
        {
            // One IA_NA (21.4): IAID, T1 and T2 left to the server.
            int ia = writer.Begin(Dhcpv6Option.IaNa);
            Span<byte> header = stackalloc byte[12];
            BinaryPrimitives.WriteUInt32BigEndian(header, _iaid);
            writer.Write(header);
            if (withAddress && _address != default)
            {
                int address = writer.Begin(Dhcpv6Option.IaAddress);
                Span<byte> body = stackalloc byte[24];
                _address.WriteTo(body);
                writer.Write(body);
                writer.End(address);
            }
            writer.End(ia);
        }
        _host.SendUdp(_binding!, AllServers, ServerPort, _buffer.AsSpan(0, writer.Length));
    }

    public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
    {
        // RFC 8415 16.10 and 16.3: our transaction, our client ID, a server ID.
        if (remoteAddress.IsIpv4 || remotePort != ServerPort || !Dhcpv6Message.TryParse(payload, out var message)
            || message.TransactionId != _xid || !message.TryGetOption(Dhcpv6Option.ClientId, out var clientId) || !clientId.SequenceEqual(_clientId)
            || !message.TryGetOption(Dhcpv6Option.ServerId, out var serverId) || serverId.Length is 0 or > 130)
            return true;
        switch (message.Type)
        {
            case Dhcpv6MessageType.Advertise when State == ClientState.Soliciting:
                OnAdvertise(message, serverId);
                break;
            case Dhcpv6MessageType.Reply when State == ClientState.Informing:
                ApplyServers(message);
                State = ClientState.Informed;
                _nextSendAt = long.MaxValue;
                long refresh = message.TryGetOption(Dhcpv6Option.InformationRefreshTime, out var irt) && irt.Length == 4
                    ? Math.Max(BinaryPrimitives.ReadUInt32BigEndian(irt) * Second, InformationRefreshMinimum) : InformationRefreshDefault;
                _renewAt = _host.Now + refresh;
                break;
            case Dhcpv6MessageType.Reply when State is ClientState.Requesting or ClientState.Renewing or ClientState.Rebinding:
                OnReply(message, serverId);
                break;
        }
        return true;
    }

    /// <summary>RFC 8415 18.2.9: remember the most preferred server offering an address; preference 255 is taken at once.</summary>
    void OnAdvertise(Dhcpv6Message message, ReadOnlySpan<byte> serverId)
    {
        if (Dhcpv6Message.StatusOf(message.Options) != 0 || !message.TryGetOption(Dhcpv6Option.IaNa, out var ia) || !TryReadAddress(ia, out _, out _, out _))
            return;
        int preference = message.TryGetOption(Dhcpv6Option.Preference, out var p) && p.Length == 1 ? p[0] : 0;
        if (preference <= _bestPreference)
            return;
        _bestPreference = preference;
        _serverId = serverId.ToArray();
        if (preference == 255 || _sent > 1)
        {
            Begin(ClientState.Requesting, 0, ReqTimeout);
            Transmit();
        }
    }

    /// <summary>RFC 8415 18.2.10: take the address and its lifetimes, T1 and T2 (defaults 0.5 and 0.8 of the preferred lifetime).</summary>
    void OnReply(Dhcpv6Message message, ReadOnlySpan<byte> serverId)
    {
        if (!message.TryGetOption(Dhcpv6Option.IaNa, out var ia) || ia.Length < 12 || Dhcpv6Message.StatusOf(ia[12..]) != 0
            || !TryReadAddress(ia, out var address, out uint preferred, out uint valid))
        {
            // NoAddrsAvail, NoBinding and the like: back to soliciting (a Renew's NoBinding would need a Request; this is simpler and safe).
            if (State == ClientState.Requesting)
            {
                State = ClientState.Stopped;
                StartStateful();
            }
            return;
        }
        uint t1 = BinaryPrimitives.ReadUInt32BigEndian(ia[4..]), t2 = BinaryPrimitives.ReadUInt32BigEndian(ia[8..]);
        long now = _host.Now;
        long preferredUntil = Expiry(now, preferred), validUntil = Expiry(now, valid);
        if (_address != default && _address != address)
            _host.RemoveLeasedAddress(_address);
        if (!_host.SetLeasedAddress(address, preferredUntil, validUntil))
            return;
        bool renewal = _address == address;
        _address = address;
        _serverId = serverId.ToArray();
        ApplyServers(message);
        if (t1 == 0 || t2 == 0 || t1 > t2)
        {
            t1 = preferred == uint.MaxValue ? uint.MaxValue : preferred / 2;
            t2 = preferred == uint.MaxValue ? uint.MaxValue : preferred / 5 * 4;
        }
        _renewAt = Expiry(now, t1);
        _rebindAt = Expiry(now, t2);
        _validUntil = validUntil;
        State = ClientState.Bound;
        _nextSendAt = long.MaxValue;
        _giveUpAt = long.MaxValue;
        _host.Raise(renewal ? StackEventKind.LeaseRenewed : StackEventKind.LeaseAcquired,
            $"DHCPv6 address {address} for {valid} s (renew in {t1} s)", address);
    }

    static long Expiry(long now, uint seconds) => seconds == uint.MaxValue ? long.MaxValue : now + seconds * Second;

    /// <summary>The first usable IA Address in an IA_NA's contents (RFC 8415 21.4, 21.6).</summary>
    static bool TryReadAddress(ReadOnlySpan<byte> ia, out IpAddress address, out uint preferred, out uint valid)
    {
        address = default;
        preferred = valid = 0;
        if (ia.Length < 12 || !Dhcpv6Message.OptionsValid(ia[12..]) || !Dhcpv6Message.TryFind(ia[12..], Dhcpv6Option.IaAddress, out var entry)
            || entry.Length < 24)
            return false;
        address = IpAddress.Read(entry);
        preferred = BinaryPrimitives.ReadUInt32BigEndian(entry[16..]);
        valid = BinaryPrimitives.ReadUInt32BigEndian(entry[20..]);
        // RFC 8415 18.2.10.1: a preferred lifetime above the valid one, or a zero valid one, makes the address unusable.
        return valid != 0 && preferred <= valid && !address.IsMulticast && !address.IsLinkLocal && !address.IsUnspecified && !address.IsIpv4
            && (entry.Length == 24 || Dhcpv6Message.OptionsValid(entry[24..]) && Dhcpv6Message.StatusOf(entry[24..]) == 0);
    }

    void ApplyServers(Dhcpv6Message message)
    {
        var dns = message.TryGetOption(Dhcpv6Option.DnsServers, out var d) ? Dhcpv6Message.ReadAddresses(d, MaxServersPerOption) : [];
        var sntp = message.TryGetOption(Dhcpv6Option.SntpServers, out var s) ? Dhcpv6Message.ReadAddresses(s, MaxServersPerOption) : [];
        var domains = new List<string>();
        if (message.TryGetOption(Dhcpv6Option.DomainList, out var list))
        {
            // RFC 8415 10: uncompressed names, one after another.
            int offset = 0;
            while (offset < list.Length && domains.Count < MaxServersPerOption && DnsName.TryRead(list, ref offset, out string domain, printableAscii: true) && domain.Length > 0)
                domains.Add(domain);
        }
        _host.ApplyServers(dns, sntp, domains);
        foreach (var server in dns)
            _host.Raise(StackEventKind.DnsServerLearned, $"Got DNS from DHCPv6: {server}", server);
        foreach (var server in sntp)
            _host.Raise(StackEventKind.SntpServerLearned, $"Got SNTP from DHCPv6: {server}", server);
    }

    public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort)
    {
    }
}
