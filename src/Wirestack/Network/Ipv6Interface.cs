using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>One address of the interface.</summary>
internal sealed class Ipv6InterfaceAddress(IpAddress address, int prefixLength, Ipv6AddressOrigin origin)
{
    public IpAddress Address { get; } = address;
    public int PrefixLength { get; } = prefixLength;
    public Ipv6AddressOrigin Origin { get; } = origin;
    public Ipv6AddressState State { get; set; } = Ipv6AddressState.Tentative;

    /// <summary>When the address becomes deprecated; long.MaxValue for never.</summary>
    public long PreferredUntil { get; set; } = long.MaxValue;

    /// <summary>When the address is removed; long.MaxValue for never.</summary>
    public long ValidUntil { get; set; } = long.MaxValue;

    /// <summary>Neighbor Solicitations for DAD still to send.</summary>
    public int DadProbesLeft { get; set; }

    /// <summary>When the next DAD step is due (a probe, or the end of the wait after the last).</summary>
    public long DadNextAt { get; set; }

    /// <summary>Usable as a source and as a destination of ordinary traffic.</summary>
    public bool IsAssigned => State is Ipv6AddressState.Preferred or Ipv6AddressState.Deprecated;
}

/// <summary>A router that advertised itself as a default router (RFC 4861 6.3.4).</summary>
internal sealed class Ipv6Router(IpAddress address)
{
    public IpAddress Address { get; } = address;
    public long ExpiresAt { get; set; }
}

/// <summary>An on-link prefix from a Prefix Information option with the L flag (RFC 4861 6.3.4).</summary>
internal sealed class Ipv6Prefix(IpAddress prefix, int length)
{
    public IpAddress Prefix { get; } = prefix;
    public int Length { get; } = length;
    public long ExpiresAt { get; set; }
}

/// <summary>
/// The interface's IPv6 state: its addresses with their states and lifetimes, the default routers and on-link
/// prefixes learned from Router Advertisements, the multicast groups joined, and the link parameters RAs set.
/// Pure state with bounded tables (RFC 4861 6.3.4 leaves the bounds to the implementation; RA floods must not grow
/// them): the engine drives it.
/// </summary>
internal sealed class Ipv6Interface(int maxAddresses, int maxRouters, int maxPrefixes)
{
    readonly List<Ipv6InterfaceAddress> _addresses = [];
    readonly List<Ipv6Router> _routers = [];
    readonly List<Ipv6Prefix> _prefixes = [];

    /// <summary>RFC 8106 5.3.1: MAX_RDNSS_Addresses.</summary>
    public const int MaxDnsServers = 3;

    /// <summary>Search domains kept from DNSSL options (RFC 8106 5.2) and DHCPv6.</summary>
    public const int MaxSearchDomains = 8;

    /// <summary>Recursive DNS servers from router advertisements (RFC 8106 5.1).</summary>
    public LifetimeList<IpAddress> DnsServers { get; } = new(MaxDnsServers);

    /// <summary>DNS search domains from router advertisements (RFC 8106 5.2).</summary>
    public LifetimeList<string> SearchDomains { get; } = new(MaxSearchDomains);

    // Concrete types: the engine walks these after every poll, and interface enumerators would allocate.
    public List<Ipv6InterfaceAddress> Addresses => _addresses;
    public List<Ipv6Router> Routers => _routers;
    public List<Ipv6Prefix> Prefixes => _prefixes;
    /// <summary>Groups joined: all-nodes, solicited-node groups, and the applications' (RFC 3810).</summary>
    public MulticastGroups Multicast { get; } = new(MulticastGroupCapacity);

    /// <summary>Groups per interface: the stack's own (all-nodes, a solicited-node group per address) and the applications'.</summary>
    public const int MulticastGroupCapacity = 64;

    /// <summary>Hop limit of sent packets (RFC 4861 6.3.4: CurHopLimit from RAs).</summary>
    public byte HopLimit { get; set; } = 64;

    /// <summary>The link MTU (an RA's MTU option lowers it; never below 1280).</summary>
    public int Mtu { get; set; } = Ipv6Packet.MinimumMtu;

    /// <summary>Changes with every change of addresses, routers, prefixes or advertised DNS settings, so the host can tell when to take a new snapshot.</summary>
    public int Version => _version + DnsServers.Version + SearchDomains.Version;

    int _version;

    public void Touch() => _version++;

    public Ipv6InterfaceAddress? Find(IpAddress address)
    {
        foreach (var entry in _addresses)
        {
            if (entry.Address == address)
                return entry;
        }
        return null;
    }

    /// <summary>Adds a tentative address; null when the table is full or the address is already there.</summary>
    public Ipv6InterfaceAddress? Add(IpAddress address, int prefixLength, Ipv6AddressOrigin origin)
    {
        if (_addresses.Count >= maxAddresses || Find(address) is not null)
            return null;
        var entry = new Ipv6InterfaceAddress(address, prefixLength, origin);
        _addresses.Add(entry);
        _version++;
        return entry;
    }

    public void Remove(Ipv6InterfaceAddress entry)
    {
        if (_addresses.Remove(entry))
            _version++;
    }

    /// <summary>True for an address of ours that is assigned (not tentative, not duplicate).</summary>
    public bool IsAssigned(IpAddress address) => Find(address) is { IsAssigned: true };

    /// <summary>True when a packet to <paramref name="destination"/> is for this host: an assigned address or a joined group.</summary>
    public bool Accepts(IpAddress destination) => destination.IsMulticast ? Multicast.Contains(destination) : IsAssigned(destination);

    /// <summary>RFC 4861 5.2: on link when link-local, or inside a prefix advertised on link (or a static address's prefix).</summary>
    public bool IsOnLink(IpAddress destination)
    {
        if (destination.IsLinkLocal || destination.IsMulticast)
            return true;
        foreach (var prefix in _prefixes)
        {
            if (destination.HasPrefix(prefix.Prefix, prefix.Length))
                return true;
        }
        foreach (var entry in _addresses)
        {
            if (entry.Origin == Ipv6AddressOrigin.Static && entry.IsAssigned && destination.HasPrefix(entry.Address, entry.PrefixLength))
                return true;
        }
        return false;
    }

    /// <summary>Records a default router; false when the table is full (the advertisement is ignored).</summary>
    public bool SetRouter(IpAddress address, long expiresAt)
    {
        foreach (var router in _routers)
        {
            if (router.Address == address)
            {
                router.ExpiresAt = expiresAt;
                return true;
            }
        }
        if (_routers.Count >= maxRouters)
            return false;
        _routers.Add(new Ipv6Router(address) { ExpiresAt = expiresAt });
        _version++;
        return true;
    }

    public void RemoveRouter(IpAddress address)
    {
        if (_routers.RemoveAll(r => r.Address == address) > 0)
            _version++;
    }

    /// <summary>Records an on-link prefix; false when the table is full.</summary>
    public bool SetPrefix(IpAddress prefix, int length, long expiresAt)
    {
        foreach (var entry in _prefixes)
        {
            if (entry.Length == length && entry.Prefix.HasPrefix(prefix, length))
            {
                entry.ExpiresAt = expiresAt;
                return true;
            }
        }
        if (_prefixes.Count >= maxPrefixes)
            return false;
        _prefixes.Add(new Ipv6Prefix(prefix, length) { ExpiresAt = expiresAt });
        _version++;
        return true;
    }

    public void RemovePrefix(IpAddress prefix, int length)
    {
        if (_prefixes.RemoveAll(p => p.Length == length && p.Prefix.HasPrefix(prefix, length)) > 0)
            _version++;
    }

    /// <summary>
    /// The default router to use (RFC 4861 6.3.6): the first whose neighbour entry is not known to be unreachable,
    /// else round-robin is not needed for one interface, so simply the first.
    /// </summary>
    public bool TryGetDefaultRouter(Func<IpAddress, bool> probablyReachable, out IpAddress router)
    {
        foreach (var candidate in _routers)
        {
            if (probablyReachable(candidate.Address))
            {
                router = candidate.Address;
                return true;
            }
        }
        router = _routers.Count > 0 ? _routers[0].Address : default;
        return _routers.Count > 0;
    }

    /// <summary>
    /// Source address selection (RFC 6724 5) among this interface's assigned addresses: the destination itself
    /// (rule 1), matching scope (rule 2), preferred over deprecated (rule 3), then the longest matching prefix
    /// (rule 8). Rules 4-7 (home, outgoing interface, label, temporary) have nothing to choose between here.
    /// </summary>
    public bool TrySelectSource(IpAddress destination, out IpAddress source)
    {
        Ipv6InterfaceAddress? best = null;
        int destinationScope = Scope(destination);
        foreach (var candidate in _addresses)
        {
            if (!candidate.IsAssigned)
                continue;
            if (candidate.Address == destination)
            {
                best = candidate;
                break;
            }
            if (best is null || Better(candidate, best))
                best = candidate;
        }
        source = best?.Address ?? default;
        return best is not null;

        bool Better(Ipv6InterfaceAddress a, Ipv6InterfaceAddress b)
        {
            int scopeA = Scope(a.Address), scopeB = Scope(b.Address);
            if (scopeA != scopeB)
                return scopeA < scopeB ? scopeA >= destinationScope : scopeB < destinationScope;
            bool preferredA = a.State == Ipv6AddressState.Preferred, preferredB = b.State == Ipv6AddressState.Preferred;
            if (preferredA != preferredB)
                return preferredA;
            return a.Address.CommonPrefixLength(destination) > b.Address.CommonPrefixLength(destination);
        }
    }

    /// <summary>RFC 6724 3.1 scope: 2 link-local, 14 global (unique-local counts as global, RFC 6724 3.1).</summary>
    static int Scope(IpAddress address) => address.IsMulticast ? address.MulticastScope : address.IsLinkLocal || address.IsLoopback ? 2 : 14;

    public void Clear()
    {
        _addresses.Clear();
        _routers.Clear();
        _prefixes.Clear();
        Multicast.Clear();
        DnsServers.Clear();
        SearchDomains.Clear();
        _version++;
    }
}
