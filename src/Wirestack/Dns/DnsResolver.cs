using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>
/// A stub resolver (RFC 1035 7) for A and AAAA records (RFC 3596) over the stack's UDP, servers of either family,
/// with a random ID and source port per query, retries across servers, TCP when an answer is truncated, CNAME chains
/// followed (bounded), and a TTL-respecting cache with a size bound. Both families are asked at once; once one has
/// answered, the other gets the RFC 8305 3 resolution delay (50 ms) before the answer goes out without it. Names
/// under <c>.local</c> are asked by multicast DNS instead (RFC 6762 3, one-shot queries of 5.1, both families). Errors
/// are SocketException HostNotFound (the name does not exist) or TryAgain.
/// </summary>
public sealed class DnsResolver
{
    const int MaxCacheEntries = 512;
    const int MaxCnameDepth = 8;

    /// <summary>RFC 8305 3: how long the answer waits for the other family once one has answered.</summary>
    static readonly TimeSpan ResolutionDelay = TimeSpan.FromMilliseconds(50);

    readonly NetworkStack _stack;
    readonly Dictionary<string, (IPAddress[] Addresses, DateTimeOffset Expires)> _cache = new(StringComparer.OrdinalIgnoreCase);
    readonly object _cacheLock = new();

    /// <summary>A resolver on <paramref name="stack"/>; <see cref="NetworkStack.Dns"/> is the shared one.</summary>
    public DnsResolver(NetworkStack stack) => _stack = stack;

    /// <summary>Time to wait for one server's answer.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Rounds over the server list before giving up.</summary>
    public int Attempts { get; init; } = 2;

    /// <summary>How long a one-shot mDNS query for a <c>.local</c> name waits for an answer (asked twice within it).</summary>
    public TimeSpan MulticastTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>RFC 6762 3: names ending in ".local." are link-local and resolved by multicast DNS only.</summary>
    static bool IsLocal(string name) => name.EndsWith(".local", StringComparison.OrdinalIgnoreCase);

    /// <summary>Servers to ask instead of the stack's (static or DHCP-learned) ones.</summary>
    public IReadOnlyList<IPAddress>? Servers { get; init; }

    /// <summary>Search domains to use instead of the stack's (DHCP, DHCPv6, DNSSL).</summary>
    public IReadOnlyList<string>? SearchDomains { get; init; }

    /// <summary>
    /// Resolves <paramref name="host"/> to addresses of both families, the family the stack can reach best first
    /// (IPv6 when it has a global IPv6 address, RFC 6724 6); a numeric address is returned as is, without a query.
    /// </summary>
    /// <exception cref="SocketException">HostNotFound when the name does not exist or has no address; TryAgain when no server answered usefully.</exception>
    public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        if (IPAddress.TryParse(host, out var literal))
            return [literal];
        string name = host.TrimEnd('.');
        // A single label is tried in each search domain first (as resolv.conf's ndots:1), then alone; a name
        // ending in a dot is absolute.
        if (!host.EndsWith('.') && !name.Contains('.'))
        {
            foreach (string domain in SearchDomains ?? _stack.DnsSearchDomains)
            {
                try
                {
                    return await ResolveNameAsync($"{name}.{domain}", cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.HostNotFound)
                {
                }
            }
        }
        return await ResolveNameAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Lists the DNS-SD instances of <paramref name="serviceType"/> (such as <c>_http._tcp</c>) on the link (RFC 6763
    /// 4, asked by multicast DNS), each with its host, port, addresses and TXT pairs, as answered within
    /// <paramref name="wait"/> (default 1 s).
    /// </summary>
    public Task<IReadOnlyList<MdnsServiceInstance>> BrowseAsync(string serviceType, TimeSpan? wait = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceType);
        return new MulticastDnsQuery(_stack, MulticastTimeout).BrowseAsync(serviceType, wait ?? TimeSpan.FromSeconds(1), cancellationToken);
    }

    async Task<IPAddress[]> ResolveNameAsync(string name, CancellationToken cancellationToken)
    {
        var ipv6 = LookupAsync(name, DnsType.Aaaa, cancellationToken);
        var ipv4 = LookupAsync(name, DnsType.A, cancellationToken);
        var first = await Task.WhenAny(ipv6, ipv4).ConfigureAwait(false);
        var second = first == ipv6 ? ipv4 : ipv6;
        if (first.IsCompletedSuccessfully && first.Result.Length > 0)
            await Task.WhenAny(second, Task.Delay(ResolutionDelay, _stack.Options.TimeProvider, cancellationToken)).ConfigureAwait(false);
        else
            await Task.WhenAny(second).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        // A late answer still fills the cache; its failure is observed here, not left unobserved.
        _ = second.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        IPAddress[] v6 = ipv6.IsCompletedSuccessfully ? ipv6.Result : [], v4 = ipv4.IsCompletedSuccessfully ? ipv4.Result : [];
        IPAddress[] all = PrefersIpv6 ? [.. v6, .. v4] : [.. v4, .. v6];
        if (all.Length > 0)
            return all;
        foreach (var lookup in (Task<IPAddress[]>[])[ipv4, ipv6])
        {
            if (lookup.IsFaulted && lookup.Exception.InnerException is SocketException { SocketErrorCode: not SocketError.HostNotFound } failure)
                throw failure;
        }
        if (ipv4.IsCanceled || ipv6.IsCanceled)
            throw new OperationCanceledException(cancellationToken);
        throw new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>True when the stack holds a preferred IPv6 address beyond the link, so IPv6 destinations come first.</summary>
    bool PrefersIpv6 => _stack.Ipv6Addresses.Any(a => a.State == Ipv6AddressState.Preferred && !a.Address.IsIPv6LinkLocal);

    /// <summary>The addresses of one record type for <paramref name="name"/>, following CNAMEs; empty when the name has none of that type.</summary>
    async Task<IPAddress[]> LookupAsync(string name, ushort type, CancellationToken cancellationToken)
    {
        string original = name;
        for (int depth = 0; depth < MaxCnameDepth; depth++)
        {
            if (TryCached(type, name, out var cached))
                return cached;
            var (addresses, canonical, ttl) = await QueryAsync(name, type, cancellationToken).ConfigureAwait(false);
            if (addresses.Length > 0)
            {
                Store(type, original, addresses, ttl);
                return addresses;
            }
            if (canonical is null)
            {
                // No records of this type (NODATA): remembered briefly (RFC 2308 5 without the SOA's minimum), so an
                // IPv4-only name does not cost an AAAA query on every lookup. Silence on the link proves nothing for
                // mDNS (the host may come up any moment): not remembered.
                if (!IsLocal(name))
                    Store(type, original, [], NegativeTtl);
                return [];
            }
            name = canonical;
        }
        return [];
    }

    /// <summary>Seconds a "no records of this type" answer is kept.</summary>
    const uint NegativeTtl = 60;

    static string CacheKey(ushort type, string name) => type == DnsType.A ? name : "AAAA " + name;

    bool TryCached(ushort type, string name, out IPAddress[] addresses)
    {
        string key = CacheKey(type, name);
        lock (_cacheLock)
        {
            if (_cache.TryGetValue(key, out var entry) && entry.Expires > _stack.Options.TimeProvider.GetUtcNow())
            {
                addresses = entry.Addresses;
                return true;
            }
            _cache.Remove(key);
        }
        addresses = [];
        return false;
    }

    void Store(ushort type, string name, IPAddress[] addresses, uint ttl)
    {
        name = CacheKey(type, name);
        if (ttl == 0)
            return;
        lock (_cacheLock)
        {
            if (_cache.Count >= MaxCacheEntries)
            {
                // Drop the entry closest to expiry.
                var oldest = _cache.MinBy(e => e.Value.Expires).Key;
                _cache.Remove(oldest);
            }
            _cache[name] = (addresses, _stack.Options.TimeProvider.GetUtcNow().AddSeconds(Math.Min(ttl, 86400)));
        }
    }

    async Task<(IPAddress[] Addresses, string? Canonical, uint Ttl)> QueryAsync(string name, ushort type, CancellationToken cancellationToken)
    {
        if (IsLocal(name))
            return await new MulticastDnsQuery(_stack, MulticastTimeout).QueryAsync(name, type, cancellationToken).ConfigureAwait(false);
        var servers = Servers ?? _stack.DnsServers;
        if (servers.Count == 0)
            throw new SocketException((int)SocketError.TryAgain);
        bool nameError = false;
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            foreach (var server in servers)
            {
                var response = await ExchangeAsync(server, name, type, cancellationToken).ConfigureAwait(false);
                if (response is null)
                    continue;
                var result = Interpret(response, name, type, out int code);
                if (code == 3)
                {
                    nameError = true;
                    break;
                }
                if (code == 0)
                    return result;
            }
            if (nameError)
                break;
        }
        throw new SocketException((int)(nameError ? SocketError.HostNotFound : SocketError.TryAgain));
    }

    /// <summary>One query to one server: UDP, then TCP if the answer was truncated. Null when nothing usable came back.</summary>
    async Task<byte[]?> ExchangeAsync(IPAddress server, string name, ushort type, CancellationToken cancellationToken)
    {
        ushort id = (ushort)RandomNumberGenerator.GetInt32(65536);
        var query = new byte[512];
        if (!DnsQuery.TryWrite(query, id, name, type, out int length))
            throw new SocketException((int)SocketError.HostNotFound);
        var endPoint = new IPEndPoint(server, 53);
        using var socket = await _stack.BindUdpAsync().ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await socket.SendToAsync(query.AsMemory(0, length), endPoint, timeout.Token).ConfigureAwait(false);
            while (true)
            {
                var reply = await socket.ReceiveAsync(timeout.Token).ConfigureAwait(false);
                // Only the server we asked, with our ID, a response to our question (RFC 5452 9.1).
                if (!reply.RemoteEndPoint.Equals(endPoint) || !IsResponseTo(reply.Buffer, id, out bool truncated))
                    continue;
                if (!truncated)
                    return reply.Buffer;
                return await ExchangeTcpAsync(endPoint, query.AsMemory(0, length), id, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    async Task<byte[]?> ExchangeTcpAsync(IPEndPoint server, ReadOnlyMemory<byte> query, ushort id, CancellationToken cancellationToken)
    {
        // RFC 1035 4.2.2: a two-byte length in front of each message.
        await using var connection = await _stack.ConnectTcpAsync(server, cancellationToken).ConfigureAwait(false);
        var framed = new byte[query.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed.AsMemory(2));
        await connection.WriteAsync(framed, cancellationToken).ConfigureAwait(false);
        var lengthBytes = new byte[2];
        await connection.ReadExactlyAsync(lengthBytes, cancellationToken).ConfigureAwait(false);
        var response = new byte[BinaryPrimitives.ReadUInt16BigEndian(lengthBytes)];
        await connection.ReadExactlyAsync(response, cancellationToken).ConfigureAwait(false);
        return IsResponseTo(response, id, out _) ? response : null;
    }

    static bool IsResponseTo(byte[] buffer, ushort id, out bool truncated)
    {
        truncated = false;
        if (!DnsMessage.TryParse(buffer, DnsReadLimits.Unicast, out var message) || message.Id != id || !message.IsResponse)
            return false;
        truncated = message.IsTruncated;
        return true;
    }

    /// <summary>Collects A or AAAA records for <paramref name="name"/>, following CNAMEs inside the answer.</summary>
    static (IPAddress[] Addresses, string? Canonical, uint Ttl) Interpret(byte[] response, string name, ushort type, out int code)
    {
        if (!DnsMessage.TryParse(response, DnsReadLimits.Unicast, out var message))
        {
            code = -1;
            return ([], null, 0);
        }
        code = message.ResponseCode;
        if (code != 0 || message.Questions.Count != 1 || !string.Equals(message.Questions[0].Name, name, StringComparison.OrdinalIgnoreCase))
        {
            if (code == 0)
                code = -1;
            return ([], null, 0);
        }
        var answers = message.Answers;
        string target = name;
        uint ttl = uint.MaxValue;
        for (int depth = 0; depth <= MaxCnameDepth; depth++)
        {
            var addresses = new List<IPAddress>();
            foreach (var record in answers)
            {
                if (record.Type == type && record.Data.Length == (type == DnsType.A ? 4 : 16) && string.Equals(record.Name, target, StringComparison.OrdinalIgnoreCase))
                {
                    addresses.Add(new IPAddress(record.Data));
                    // RFC 2181 8: a TTL with the top bit set counts as zero.
                    ttl = Math.Min(ttl, record.TimeToLive > int.MaxValue ? 0 : record.TimeToLive);
                }
            }
            if (addresses.Count > 0)
                return (addresses.ToArray(), null, ttl);
            var cname = answers.FirstOrDefault(r => r.Type == DnsType.Cname && string.Equals(r.Name, target, StringComparison.OrdinalIgnoreCase));
            int at = 0;
            if (cname is null || !DnsName.TryRead(cname.Data, ref at, out var next, printableAscii: true))
                return ([], depth == 0 ? null : target, 0);
            target = next;
        }
        return ([], null, 0);
    }
}
