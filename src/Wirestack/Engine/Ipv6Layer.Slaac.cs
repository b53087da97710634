using System.Buffers.Binary;
using System.Security.Cryptography;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

// IPv6 addresses (RFC 4862): link-local and SLAAC addresses with RFC 7217 identifiers, duplicate address detection,
// lifetimes, and the Router Advertisement processing of RFC 4861 6.3.4 that feeds them.
internal sealed partial class Ipv6Layer
{
    /// <summary>RFC 7217 5: IDGEN_RETRIES, new identifiers tried after a duplicate.</summary>
    const int IdentifierRetries = 3;

    /// <summary>RFC 4862 5.5.3 (e): the two hours an attacker's short valid lifetime cannot cut below.</summary>
    const long TwoHours = 7_200_000_000;

    byte[]? _stableSecret;
    /// <summary>RFC 7217 DAD_Counter per prefix that saw a duplicate; bounded, as prefixes come from routers.</summary>
    readonly Dictionary<ulong, int> _dadCounters = [];
    const int MaxDadCounters = 64;

    /// <summary>Tests only: prefixes with a DAD counter kept.</summary>
    internal int DadCounterCount => _dadCounters.Count;

    /// <summary>
    /// Forms an address in the 64-bit <paramref name="prefix"/> with this interface's identifier and starts DAD.
    /// Lifetimes are absolute times.
    /// </summary>
    void AddAutoconfiguredAddress(ulong prefix, int prefixLength, Ipv6AddressOrigin origin, long preferredUntil, long validUntil)
    {
        _dadCounters.TryGetValue(prefix, out int counter);
        var address = IpAddress.FromPrefix(prefix, InterfaceIdentifier(prefix, counter));
        var entry = _interface.Add(address, prefixLength, origin);
        if (entry is null)
        {
            _counters.Increment(StackCounter.DropRouterAdvertisementIgnored);
            return;
        }
        entry.PreferredUntil = preferredUntil;
        entry.ValidUntil = validUntil;
        StartAddress(entry);
    }

    /// <summary>
    /// The interface identifier for <paramref name="prefix"/>: RFC 7217 5 (a keyed hash of the prefix, the MAC
    /// address as Net_Iface and the DAD counter; bits 0-63 of HMAC-SHA256), or modified EUI-64 (RFC 4291 appendix A).
    /// Reserved identifiers (RFC 5453: zero, the subnet-router anycast and fdff:ffff:ffff:ff80/121) are never used.
    /// </summary>
    ulong InterfaceIdentifier(ulong prefix, int dadCounter)
    {
        if (_settings.InterfaceIdentifiers == InterfaceIdentifierKind.Eui64)
            return MacAddress.ModifiedEui64;
        _stableSecret ??= _settings.StableSecret ?? RandomNumberGenerator.GetBytes(32);
        // The hash's input: Prefix, Net_Iface (the MAC address), DAD_Counter (RFC 7217 5; no Network_ID).
        Span<byte> input = stackalloc byte[sizeof(ulong) + MacAddress.Length + 1];
        Span<byte> digest = stackalloc byte[32];
        for (int attempt = dadCounter; ; attempt++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(input, prefix);
            MacAddress.WriteTo(input[sizeof(ulong)..]);
            input[^1] = (byte)attempt;
            HMACSHA256.HashData(_stableSecret, input, digest);
            ulong identifier = BinaryPrimitives.ReadUInt64BigEndian(digest);
            if (identifier != 0 && identifier < 0xFDFF_FFFF_FFFF_FF80)
                return identifier;
        }
    }

    /// <summary>A new tentative address: joins its solicited-node group and starts DAD (RFC 4862 5.4.2), or takes it at once when DAD is off.</summary>
    void StartAddress(Ipv6InterfaceAddress? entry)
    {
        if (entry is null)
            return;
        JoinGroup(entry.Address.SolicitedNode);
        RaiseAddressEvent(StackEventKind.AddressTentative, entry, "tentative");
        entry.DadProbesLeft = _settings.DadTransmits;
        if (entry.DadProbesLeft == 0)
        {
            SetPreferred(entry);
            return;
        }
        // The first probe waits a random delay (RFC 4862 5.4.2), so nodes powered up together do not collide.
        entry.DadNextAt = _now + _random.NextInt64(MaxRouterSolicitationDelay + 1);
    }

    void RunDuplicateAddressDetection()
    {
        var addresses = _interface.Addresses;
        for (int i = 0; i < addresses.Count; i++)
        {
            var entry = addresses[i];
            if (entry.State != Ipv6AddressState.Tentative || entry.DadNextAt > _now)
                continue;
            if (entry.DadProbesLeft > 0)
            {
                entry.DadProbesLeft--;
                entry.DadNextAt = _now + _ndp.RetryIntervalMicroseconds;
                SendDadSolicitation(entry.Address);
            }
            else
            {
                SetPreferred(entry);
            }
        }
    }

    void SetPreferred(Ipv6InterfaceAddress entry)
    {
        entry.State = entry.PreferredUntil <= _now ? Ipv6AddressState.Deprecated : Ipv6AddressState.Preferred;
        _interface.Touch();
        RaiseAddressEvent(entry.State == Ipv6AddressState.Preferred ? StackEventKind.AddressPreferred : StackEventKind.AddressDeprecated,
            entry, entry.State == Ipv6AddressState.Preferred ? "preferred" : "deprecated");
        if (entry.Origin == Ipv6AddressOrigin.LinkLocal && _routerSolicitationsLeft == MaxRouterSolicitations
            && _settings.AcceptRouterAdvertisements)
        {
            // The first solicitation can now carry our link address.
            _nextRouterSolicitationAt = Math.Min(_nextRouterSolicitationAt, _now);
        }
    }

    /// <summary>
    /// RFC 4862 5.4.5: the address is not used. An autoconfigured one is tried again with the next RFC 7217
    /// identifier, up to IDGEN_RETRIES times.
    /// </summary>
    void OnDuplicateAddress(Ipv6InterfaceAddress entry, string why)
    {
        entry.State = Ipv6AddressState.Duplicate;
        _interface.Touch();
        LeaveGroup(entry.Address.SolicitedNode);
        _host.Raise(new StackEventArgs(StackEventKind.AddressConflict,
            $"IPv6 address {entry.Address}/{entry.PrefixLength} is a duplicate ({why}): not used", entry.Address.ToIPAddress()));
        if (entry.Origin == Ipv6AddressOrigin.Dhcpv6)
        {
            _interface.Remove(entry);
            _host.OnDuplicateLease(entry.Address);
            return;
        }
        if (entry.Origin is not (Ipv6AddressOrigin.LinkLocal or Ipv6AddressOrigin.Slaac) || _settings.InterfaceIdentifiers != InterfaceIdentifierKind.StablePrivacy)
            return;
        ulong prefix = entry.Address.High;
        _dadCounters.TryGetValue(prefix, out int counter);
        if (counter >= IdentifierRetries)
            return;
        // Forged advertisements of ever new prefixes, each "defended", must not grow this: past the bound it starts
        // over, which costs a stable address at most one more identifier try.
        if (counter == 0 && _dadCounters.Count >= MaxDadCounters)
            _dadCounters.Clear();
        _dadCounters[prefix] = counter + 1;
        _interface.Remove(entry);
        AddAutoconfiguredAddress(prefix, entry.PrefixLength, entry.Origin, entry.PreferredUntil, entry.ValidUntil);
    }

    void RunAddressLifetimes()
    {
        var addresses = _interface.Addresses;
        for (int i = addresses.Count - 1; i >= 0; i--)
        {
            var entry = addresses[i];
            if (entry.ValidUntil <= _now)
            {
                // RFC 4862 5.5.4: an invalid address is removed; connections using it fail as their packets do.
                _interface.Remove(entry);
                if (entry.State != Ipv6AddressState.Duplicate)
                    LeaveGroup(entry.Address.SolicitedNode);
                RaiseAddressEvent(StackEventKind.AddressRemoved, entry, "removed (valid lifetime ended)");
            }
            else if (entry.State == Ipv6AddressState.Preferred && entry.PreferredUntil <= _now)
            {
                entry.State = Ipv6AddressState.Deprecated;
                _interface.Touch();
                RaiseAddressEvent(StackEventKind.AddressDeprecated, entry, "deprecated (preferred lifetime ended)");
            }
        }
    }

    void RaiseAddressEvent(StackEventKind kind, Ipv6InterfaceAddress entry, string state) =>
        _host.Raise(new StackEventArgs(kind, $"IPv6 address {entry.Address}/{entry.PrefixLength} ({entry.Origin.ToString().ToLowerInvariant()}) {state}",
            entry.Address.ToIPAddress()));

    /// <summary>Seconds from a router (0xFFFFFFFF is infinity, RFC 4861 4.6.2) as an absolute time.</summary>
    long Expiry(uint seconds) => seconds == uint.MaxValue ? long.MaxValue : _now + seconds * 1_000_000L;

    /// <summary>RFC 4861 6.1.2 validation, then 6.3.4 processing and the prefixes' SLAAC (RFC 4862 5.5.3).</summary>
    void ReceiveRouterAdvertisement(Icmpv6Message message, byte hopLimit, IpAddress source)
    {
        if (hopLimit != 255 || message.Code != 0 || !source.IsLinkLocal || !RouterAdvertisement.TryParse(message.Body, out var advertisement))
        {
            _counters.Increment(StackCounter.DropNdpInvalid);
            return;
        }
        if (!_settings.AcceptRouterAdvertisements)
        {
            _counters.Increment(StackCounter.DropIcmpIgnored);
            return;
        }
        _counters.Increment(StackCounter.RouterAdvertisementsReceived);
        _routerSolicitationsLeft = 0;
        _nextRouterSolicitationAt = long.MaxValue;
        _host.OnRouterFlags(advertisement.Flags);

        ApplyParameters(advertisement);
        bool known = UpdateRouter(source, advertisement.RouterLifetime);
        var reader = new NdpOptionReader(advertisement.Options);
        while (reader.TryNext(out byte type, out var option))
        {
            switch (type)
            {
                case NdpOptionType.SourceLinkLayerAddress when NdpOptionReader.TryReadLinkAddress(option, out var linkAddress):
                    // Only routers in the (bounded) router table get an entry made for them: a flood of forged
                    // advertisements cannot push real neighbours out of the cache.
                    _neighbors.Learned(_ndp.Learn(source, linkAddress, _now, create: known, confirmed: false));
                    break;
                case NdpOptionType.Mtu when NdpMtuOption.TryRead(option, out uint mtu):
                    if (mtu >= Ipv6Packet.MinimumMtu && mtu <= _link.Mtu)
                        _interface.Mtu = (int)mtu;
                    break;
                case NdpOptionType.PrefixInformation when NdpPrefixInformation.TryParse(option, out var prefix):
                    ProcessPrefix(prefix);
                    break;
                case NdpOptionType.RecursiveDnsServer when NdpDnsServerOption.TryParse(option, out var servers):
                    ProcessDnsServers(servers);
                    break;
                case NdpOptionType.DnsSearchList when NdpSearchListOption.TryParse(option, out var searchList):
                    ProcessSearchList(searchList, option);
                    break;
            }
        }
    }

    /// <summary>RFC 4861 6.3.4: the hop limit, reachable time and retransmission timer a router gives, where it gives them.</summary>
    void ApplyParameters(in RouterAdvertisement advertisement)
    {
        if (advertisement.CurrentHopLimit != 0)
            _interface.HopLimit = advertisement.CurrentHopLimit;
        uint reachableTime = advertisement.ReachableTime;
        if (reachableTime != 0 && reachableTime <= 3_600_000)
        {
            // RFC 4861 6.3.2: ReachableTime is BaseReachableTime times a random factor in [0.5, 1.5].
            _ndp.ReachableMicroseconds = (long)(reachableTime * 1000L * (0.5 + _random.NextDouble()));
        }
        if (advertisement.RetransTimer != 0)
            _ndp.RetryIntervalMicroseconds = Math.Clamp(advertisement.RetransTimer, 100u, 60_000u) * 1000L;
    }

    /// <summary>The router enters, stays in or (lifetime 0) leaves the default-router list; true when it is in the (bounded) list.</summary>
    bool UpdateRouter(IpAddress source, ushort routerLifetime)
    {
        if (routerLifetime == 0)
        {
            _interface.RemoveRouter(source);
            return false;
        }
        bool known = _interface.SetRouter(source, _now + routerLifetime * 1_000_000L);
        if (!known)
            _counters.Increment(StackCounter.DropRouterAdvertisementIgnored);
        return known;
    }

    /// <summary>RFC 8106 5.1: recursive DNS servers, unicast IPv6 only; lifetime 0 withdraws them.</summary>
    void ProcessDnsServers(in NdpDnsServerOption servers)
    {
        uint lifetime = servers.Lifetime;
        for (int i = 0; i < servers.Count; i++)
        {
            var server = servers[i];
            if (!server.IsMulticast && !server.IsUnspecified && !server.IsIpv4)
                _interface.DnsServers.Set(server, Expiry(lifetime), remove: lifetime == 0);
        }
    }

    /// <summary>RFC 8106 5.2: DNS search domains, read as printable names; lifetime 0 withdraws them.</summary>
    void ProcessSearchList(in NdpSearchListOption searchList, ReadOnlySpan<byte> option)
    {
        uint lifetime = searchList.Lifetime;
        int offset = NdpSearchListOption.NamesOffset;
        while (offset < option.Length && option[offset] != 0 && DnsName.TryRead(option, ref offset, out string domain, printableAscii: true) && domain.Length > 0)
            _interface.SearchDomains.Set(domain, Expiry(lifetime), remove: lifetime == 0);
    }

    void ProcessPrefix(NdpPrefixInformation information)
    {
        var prefix = information.Prefix;
        if (prefix.IsLinkLocal || prefix.IsMulticast)
            return;
        uint valid = information.ValidLifetime, preferred = information.PreferredLifetime;
        var ipv6 = _interface;
        if (information.OnLink)
        {
            if (valid == 0)
                ipv6.RemovePrefix(prefix, information.PrefixLength);
            else if (!ipv6.SetPrefix(prefix, information.PrefixLength, Expiry(valid)))
                _counters.Increment(StackCounter.DropRouterAdvertisementIgnored);
        }
        // RFC 4862 5.5.3: autonomous prefixes of /64 (interface identifiers are 64 bits, RFC 4291 2.5.1) whose
        // preferred lifetime does not exceed the valid one.
        if (!information.Autonomous || !_settings.Autoconfigure || preferred > valid || information.PrefixLength != 64)
            return;
        Ipv6InterfaceAddress? existing = null;
        foreach (var address in ipv6.Addresses)
        {
            if (address.Origin == Ipv6AddressOrigin.Slaac && address.Address.High == prefix.High)
                existing = address;
        }
        if (existing is null)
        {
            if (valid != 0)
                AddAutoconfiguredAddress(prefix.High, 64, Ipv6AddressOrigin.Slaac, Expiry(preferred), Expiry(valid));
            return;
        }
        existing.PreferredUntil = Expiry(preferred);
        if (existing.State == Ipv6AddressState.Deprecated && preferred != 0)
        {
            existing.State = Ipv6AddressState.Preferred;
            RaiseAddressEvent(StackEventKind.AddressPreferred, existing, "preferred again");
        }
        // RFC 4862 5.5.3 (e): the two-hour rule, so a forged advertisement cannot make an address expire early.
        long remaining = existing.ValidUntil == long.MaxValue ? long.MaxValue : existing.ValidUntil - _now;
        long received = valid == uint.MaxValue ? long.MaxValue : valid * 1_000_000L;
        if (received > TwoHours || received > remaining)
            existing.ValidUntil = Expiry(valid);
        else if (remaining > TwoHours)
            existing.ValidUntil = _now + TwoHours;
        ipv6.Touch();
    }

    /// <summary>
    /// A DHCPv6 lease of <paramref name="address"/> (RFC 8415 18.2.10.1): a new one goes through DAD like any other,
    /// a renewed one gets its lifetimes. False when it cannot be used (duplicate, or the table is full).
    /// </summary>
    public bool SetLeasedAddress(IpAddress address, long preferredUntil, long validUntil)
    {
        if (_interface.Find(address) is { } existing)
        {
            existing.PreferredUntil = preferredUntil;
            existing.ValidUntil = validUntil;
            if (existing.State == Ipv6AddressState.Deprecated && preferredUntil > _now)
                existing.State = Ipv6AddressState.Preferred;
            _interface.Touch();
            return existing.State != Ipv6AddressState.Duplicate;
        }
        // The prefix comes from routers (RFC 8415 21.6: an IA address carries no prefix length), so /128 here.
        var entry = _interface.Add(address, 128, Ipv6AddressOrigin.Dhcpv6);
        if (entry is null)
            return false;
        entry.PreferredUntil = preferredUntil;
        entry.ValidUntil = validUntil;
        StartAddress(entry);
        return true;
    }

    /// <summary>A DHCPv6 lease ended: the address goes.</summary>
    public void RemoveLeasedAddress(IpAddress address)
    {
        if (_interface.Find(address) is not { } entry)
            return;
        _interface.Remove(entry);
        if (entry.State != Ipv6AddressState.Duplicate)
            LeaveGroup(address.SolicitedNode);
    }
}
