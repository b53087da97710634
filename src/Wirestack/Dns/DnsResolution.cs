using System.Net;
using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Dns;

/// <summary>
/// The addresses of one record type for one name: from the cache, else asked, following CNAMEs (at most
/// <see cref="MaxCnameDepth"/>) and remembering what came back under the name first asked for.
/// </summary>
internal sealed class DnsLookup(DnsClient client, string name, ushort type, DnsQuerySettings settings, Action<IPAddress[], SocketError> done) : DnsWork
{
    public const int MaxCnameDepth = 8;

    /// <summary>Seconds a "no records of this type" answer is kept (RFC 2308 5, without the SOA's minimum).</summary>
    const uint NegativeTtl = 60;

    readonly string _asked = name;
    string _name = name;
    int _depth;
    DnsWork? _exchange;

    public void Start()
    {
        if (_depth >= MaxCnameDepth)
        {
            Finish([], SocketError.Success);
            return;
        }
        if (client.TryCached(type, _name, out var cached))
        {
            Finish(cached, SocketError.Success);
            return;
        }
        _exchange = client.Ask(_name, type, settings, OnAnswer);
    }

    void OnAnswer(DnsAnswer answer, SocketError error)
    {
        _exchange = null;
        if (error != SocketError.Success)
        {
            Finish([], error);
            return;
        }
        if (answer.Addresses.Length > 0)
        {
            client.Store(type, _asked, answer.Addresses, answer.Ttl);
            Finish(answer.Addresses, SocketError.Success);
            return;
        }
        if (answer.Canonical is null)
        {
            // NODATA, remembered briefly so an IPv4-only name does not cost an AAAA query every time. Silence on the
            // link proves nothing for mDNS (the host may come up any moment): not remembered.
            if (!DnsClient.IsLocal(_name))
                client.Store(type, _asked, [], NegativeTtl);
            Finish([], SocketError.Success);
            return;
        }
        _name = answer.Canonical;
        _depth++;
        Start();
    }

    public override void Cancel()
    {
        IsFinished = true;
        _exchange?.Cancel();
        _exchange = null;
    }

    void Finish(IPAddress[] addresses, SocketError error)
    {
        IsFinished = true;
        done(addresses, error);
    }
}

/// <summary>
/// A name's addresses of both families, asked at once. Once one family has answered with addresses, the other gets
/// the RFC 8305 3 resolution delay before the answer goes out without it (its late answer still fills the cache).
/// Ordered by <see cref="IDnsHost.PrefersIpv6"/>.
/// </summary>
internal sealed class DnsResolution(DnsClient client, string name, DnsQuerySettings settings, Action<IPAddress[], SocketError> done) : DnsWork
{
    /// <summary>RFC 8305 3: how long the answer waits for the other family once one has answered.</summary>
    public const long ResolutionDelayMicroseconds = 50_000;

    DnsLookup? _ipv4, _ipv6;
    (IPAddress[] Addresses, SocketError Error)? _v4, _v6;

    public void Start()
    {
        client.Track(this);
        _ipv6 = new DnsLookup(client, name, DnsType.Aaaa, settings, (addresses, error) => OnLookup(ipv6: true, addresses, error));
        _ipv4 = new DnsLookup(client, name, DnsType.A, settings, (addresses, error) => OnLookup(ipv6: false, addresses, error));
        _ipv6.Start();
        if (!IsFinished)
            _ipv4.Start();
    }

    void OnLookup(bool ipv6, IPAddress[] addresses, SocketError error)
    {
        if (IsFinished)
            return;
        if (ipv6)
            _v6 = (addresses, error);
        else
            _v4 = (addresses, error);
        if (_v4 is not null && _v6 is not null)
            Conclude();
        else if (addresses.Length > 0)
            Deadline = client.Host.Now + ResolutionDelayMicroseconds;
    }

    public override void Expire(long now) => Conclude();

    void Conclude()
    {
        IsFinished = true;
        Deadline = long.MaxValue;
        client.Untrack(this);
        IPAddress[] v6 = _v6?.Addresses ?? [], v4 = _v4?.Addresses ?? [];
        IPAddress[] all = client.Host.PrefersIpv6 ? [.. v6, .. v4] : [.. v4, .. v6];
        if (all.Length > 0)
        {
            done(all, SocketError.Success);
            return;
        }
        foreach (var result in (ReadOnlySpan<(IPAddress[], SocketError Error)?>)[_v4, _v6])
        {
            if (result is { Error: not SocketError.Success and not SocketError.HostNotFound } failure)
            {
                done([], failure.Error);
                return;
            }
        }
        done([], SocketError.HostNotFound);
    }

    public override void Cancel()
    {
        IsFinished = true;
        Deadline = long.MaxValue;
        client.Untrack(this);
        _ipv4?.Cancel();
        _ipv6?.Cancel();
    }
}
