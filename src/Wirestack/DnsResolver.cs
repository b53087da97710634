using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Wirestack.Dns;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>
/// A stub resolver (RFC 1035 7) for A and AAAA records (RFC 3596) over the stack's UDP, servers of either family,
/// with a random ID and source port per query, retries across servers, TCP when an answer is truncated, CNAME chains
/// followed (bounded), and a TTL-respecting cache with a size bound. Both families are asked at once; once one has
/// answered, the other gets the RFC 8305 3 resolution delay (50 ms) before the answer goes out without it. Names
/// under <c>.local</c> are asked by multicast DNS instead (RFC 6762 3, one-shot queries of 5.1, both families). Errors
/// are SocketException HostNotFound (the name does not exist) or TryAgain. The queries, their timeouts and the cache
/// run in the stack's engine on its clock (<see cref="StackOptions.TimeProvider"/>); this is their asynchronous face.
/// </summary>
public sealed class DnsResolver
{
    readonly NetworkStack _stack;

    /// <summary>A resolver on <paramref name="stack"/>; <see cref="NetworkStack.Dns"/> is the shared one.</summary>
    public DnsResolver(NetworkStack stack) => _stack = stack;

    /// <summary>Time to wait for one server's answer.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Rounds over the server list before giving up.</summary>
    public int Attempts { get; init; } = 2;

    /// <summary>How long a one-shot mDNS query for a <c>.local</c> name waits for an answer (asked twice within it).</summary>
    public TimeSpan MulticastTimeout { get; init; } = TimeSpan.FromSeconds(1);

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
        return new DnsServiceBrowser(_stack).BrowseAsync(serviceType, wait ?? TimeSpan.FromSeconds(1), cancellationToken);
    }

    /// <summary>Both families' addresses of one name (no search domains), asked by the engine's DNS client.</summary>
    async Task<IPAddress[]> ResolveNameAsync(string name, CancellationToken cancellationToken)
    {
        var settings = new DnsQuerySettings(Servers?.Select(IpAddress.FromIPAddress).ToArray(), Microseconds(Timeout), Attempts, Microseconds(MulticastTimeout));
        var (addresses, error) = await _stack.RunOperationAsync<(IPAddress[], SocketError)>(
            (engine, complete) => engine.Dns.Resolve(name, settings, (addresses, error) => complete((addresses, error))).Cancel,
            cancellationToken).ConfigureAwait(false);
        return error == SocketError.Success ? addresses : throw new SocketException((int)error);
    }

    static long Microseconds(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;

    /// <summary>
    /// One query over TCP (RFC 1035 4.2.2: a two-byte length in front of each message) for an answer that came back
    /// truncated; the engine's exchange hears the response, or null, on its thread.
    /// </summary>
    internal static void ExchangeOverTcp(NetworkStack stack, IpAddress server, byte[] query, long timeoutMicroseconds, Action<byte[]?> done)
    {
        _ = Task.Run(async () =>
        {
            byte[]? response = null;
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromTicks(Math.Max(0, timeoutMicroseconds) * TimeSpan.TicksPerMicrosecond),
                    stack.Options.TimeProvider);
                await using var connection = await stack.ConnectTcpAsync(new IPEndPoint(server.ToIPAddress(), 53), timeout.Token).ConfigureAwait(false);
                var framed = new byte[query.Length + 2];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
                query.CopyTo(framed.AsSpan(2));
                await connection.WriteAsync(framed, timeout.Token).ConfigureAwait(false);
                var lengthBytes = new byte[2];
                await connection.ReadExactlyAsync(lengthBytes, timeout.Token).ConfigureAwait(false);
                response = new byte[BinaryPrimitives.ReadUInt16BigEndian(lengthBytes)];
                await connection.ReadExactlyAsync(response, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
            {
                response = null;
            }
            stack.TryPost(_ => done(response));
        });
    }
}
