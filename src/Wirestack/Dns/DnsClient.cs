using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Wirestack.Engine;
using Wirestack.Mdns;
using Wirestack.Wire;

namespace Wirestack.Dns;

/// <summary>
/// The DNS client in the engine (RFC 1035 7, RFC 3596; <c>.local</c> by RFC 6762 5.1): resolutions, lookups and
/// exchanges as state machines on the engine's clock, and the answers' cache with TTLs on that clock, bounded in
/// entries. <see cref="DnsResolver"/> is its facade on the application's side.
/// </summary>
internal sealed class DnsClient(IDnsHost host) : IEngineService
{
    /// <summary>Entries the cache holds at most (names times record types, negative answers included).</summary>
    public const int MaxCacheEntries = 512;

    /// <summary>Exchanges and resolutions in flight at most; more fail at once with TryAgain rather than queue without end.</summary>
    public const int MaxWork = 256;

    /// <summary>Records a DNS-SD collection keeps at most: a flood of answers cannot make it grow without end.</summary>
    public const int MaxCollectedRecords = 1024;

    const long Second = 1_000_000;

    readonly Dictionary<string, (IPAddress[] Addresses, long Expires)> _cache = new(StringComparer.OrdinalIgnoreCase);
    readonly List<DnsWork> _work = [];
    bool _stopped;

    public IDnsHost Host => host;

    /// <summary>Tests: the work in flight (0 once every answer is in and every exchange let go of its port).</summary>
    public int WorkInFlight => _work.Count;

    public int CacheCount => _cache.Count;

    public long NextDeadline
    {
        get
        {
            long next = long.MaxValue;
            foreach (var work in _work)
                next = Math.Min(next, work.Deadline);
            return next;
        }
    }

    public void Run(long now)
    {
        // A snapshot: expiring one piece of work may finish others and start new ones.
        foreach (var work in _work.ToArray())
        {
            if (!work.IsFinished && now >= work.Deadline)
                work.Expire(now);
        }
    }

    /// <summary>RFC 6762 3: names ending in ".local." are link-local and asked by multicast DNS only.</summary>
    public static bool IsLocal(string name) => name.EndsWith(".local", StringComparison.OrdinalIgnoreCase);

    /// <summary>Resolves <paramref name="name"/> to addresses of both families; <paramref name="done"/> comes on the engine's thread.</summary>
    public DnsWork Resolve(string name, DnsQuerySettings settings, Action<IPAddress[], SocketError> done)
    {
        var resolution = new DnsResolution(this, name, settings, done);
        if (!Admit(() => done([], _stopped ? SocketError.OperationAborted : SocketError.TryAgain)))
            return resolution;
        resolution.Start();
        return resolution;
    }

    /// <summary>
    /// Asks the link for <paramref name="questions"/> once and keeps every record any responder sends back within
    /// <paramref name="waitMicroseconds"/> (DNS-SD browsing, RFC 6763 4), at most <see cref="MaxCollectedRecords"/>.
    /// </summary>
    public DnsWork? Collect(IReadOnlyList<(string Name, ushort Type)> questions, long waitMicroseconds, Action<List<DnsResourceRecord>, SocketError> done)
    {
        var records = new List<DnsResourceRecord>();
        if (!Admit(() => done(records, _stopped ? SocketError.OperationAborted : SocketError.TryAgain)))
            return null;
        var buffer = new byte[1452];
        var writer = new DnsWriter(buffer);
        foreach (var (name, type) in questions)
        {
            if (!DnsName.TryEncode(name, out var encoded) || !writer.Question(encoded, type, unicastResponse: false))
                break;
        }
        ushort id = NewId();
        var query = writer.Finish(id, 0).ToArray();
        var exchange = new MulticastExchange(this, query, id, waitMicroseconds, rounds: 1, message =>
        {
            records.AddRange(message.Answers.Concat(message.Additionals).Take(MaxCollectedRecords - records.Count));
            return records.Count >= MaxCollectedRecords;
        }, error => done(records, error));
        exchange.Start();
        return exchange;
    }

    /// <summary>One exchange for one record type: by multicast for <c>.local</c>, else to the unicast servers.</summary>
    internal DnsWork? Ask(string name, ushort type, DnsQuerySettings settings, Action<DnsAnswer, SocketError> done)
    {
        if (!Admit(() => done(DnsAnswer.None, _stopped ? SocketError.OperationAborted : SocketError.TryAgain)))
            return null;
        if (IsLocal(name))
            return AskLink(name, type, settings, done);
        var servers = settings.Servers ?? host.DnsServers;
        if (servers.Count == 0)
        {
            done(DnsAnswer.None, SocketError.TryAgain);
            return null;
        }
        var exchange = new UnicastExchange(this, name, type, servers, settings, done);
        exchange.Start();
        return exchange;
    }

    DnsWork? AskLink(string name, ushort type, DnsQuerySettings settings, Action<DnsAnswer, SocketError> done)
    {
        if (host.OwnHostName is { } own && DnsName.Equal(own, name))
        {
            done(new DnsAnswer(host.OwnAddresses(type), null, MdnsRecords.HostTtl), SocketError.Success);
            return null;
        }
        var buffer = new byte[512];
        var writer = new DnsWriter(buffer);
        if (!DnsName.TryEncode(name, out var encoded) || !writer.Question(encoded, type, unicastResponse: false))
        {
            done(DnsAnswer.None, SocketError.HostNotFound);
            return null;
        }
        ushort id = NewId();
        var query = writer.Finish(id, 0).ToArray();
        var answer = DnsAnswer.None;
        var exchange = new MulticastExchange(this, query, id, settings.MulticastTimeoutMicroseconds, rounds: 2, message =>
        {
            answer = LinkAnswer(message, name, type);
            return answer.Addresses.Length > 0;
        }, error => done(answer, error));
        exchange.Start();
        return exchange;
    }

    static ushort NewId() => (ushort)RandomNumberGenerator.GetInt32(65536);

    /// <summary>False, having told the caller why, when the client stopped or has <see cref="MaxWork"/> in flight.</summary>
    bool Admit(Action refuse)
    {
        if (!_stopped && _work.Count < MaxWork)
            return true;
        refuse();
        return false;
    }

    internal void Track(DnsWork work) => _work.Add(work);

    internal void Untrack(DnsWork work) => _work.Remove(work);

    static string CacheKey(ushort type, string name) => type == DnsType.A ? name : "AAAA " + name;

    internal bool TryCached(ushort type, string name, out IPAddress[] addresses)
    {
        string key = CacheKey(type, name);
        if (_cache.TryGetValue(key, out var entry) && entry.Expires > host.Now)
        {
            addresses = entry.Addresses;
            return true;
        }
        _cache.Remove(key);
        addresses = [];
        return false;
    }

    internal void Store(ushort type, string name, IPAddress[] addresses, uint ttl)
    {
        if (ttl == 0)
            return;
        string key = CacheKey(type, name);
        if (_cache.Count >= MaxCacheEntries && !_cache.ContainsKey(key))
        {
            // Room for the new entry: the one closest to expiry goes.
            _cache.Remove(_cache.MinBy(e => e.Value.Expires).Key);
        }
        _cache[key] = (addresses, host.Now + Math.Min(ttl, 86_400) * Second);
    }

    /// <summary>The stack stops: every exchange lets go of its port, and new work is refused.</summary>
    public void Shutdown()
    {
        _stopped = true;
        foreach (var work in _work.ToArray())
            work.Cancel();
        _work.Clear();
    }

    /// <summary>
    /// A unicast response's addresses of <paramref name="type"/> for <paramref name="name"/>, following CNAMEs inside
    /// the answer; <paramref name="code"/> is the response code, or -1 when the response is not about our question.
    /// </summary>
    internal static DnsAnswer Interpret(DnsMessage message, string name, ushort type, out int code)
    {
        code = message.ResponseCode;
        if (code != 0 || message.Questions.Count != 1 || !string.Equals(message.Questions[0].Name, name, StringComparison.OrdinalIgnoreCase))
        {
            if (code == 0)
                code = -1;
            return DnsAnswer.None;
        }
        var answers = message.Answers;
        string target = name;
        uint ttl = uint.MaxValue;
        for (int depth = 0; depth <= DnsLookup.MaxCnameDepth; depth++)
        {
            var addresses = new List<IPAddress>();
            foreach (var record in answers)
            {
                if (record.Type == type && record.Data.Length == AddressLength(type) && string.Equals(record.Name, target, StringComparison.OrdinalIgnoreCase))
                {
                    addresses.Add(new IPAddress(record.Data));
                    // RFC 2181 8: a TTL with the top bit set counts as zero.
                    ttl = Math.Min(ttl, record.TimeToLive > int.MaxValue ? 0 : record.TimeToLive);
                }
            }
            if (addresses.Count > 0)
                return new DnsAnswer([.. addresses], null, ttl);
            var cname = answers.FirstOrDefault(r => r.Type == DnsType.Cname && string.Equals(r.Name, target, StringComparison.OrdinalIgnoreCase));
            int at = 0;
            if (cname is null || !DnsName.TryRead(cname.Data, ref at, out var next, printableAscii: true))
                return new DnsAnswer([], depth == 0 ? null : target, 0);
            target = next;
        }
        return DnsAnswer.None;
    }

    /// <summary>The addresses of <paramref name="type"/> for <paramref name="name"/> in an mDNS response, with the least TTL.</summary>
    static DnsAnswer LinkAnswer(DnsMessage message, string name, ushort type)
    {
        var addresses = new List<IPAddress>();
        uint ttl = uint.MaxValue;
        foreach (var record in message.Answers.Concat(message.Additionals))
        {
            if (record.Type == type && DnsName.Equal(record.Name, name) && record.Data.Length == AddressLength(type) && record.TimeToLive > 0)
            {
                addresses.Add(new IPAddress(record.Data));
                ttl = Math.Min(ttl, record.TimeToLive);
            }
        }
        return new DnsAnswer([.. addresses], null, addresses.Count > 0 ? ttl : 0);
    }

    static int AddressLength(ushort type) => type == DnsType.A ? 4 : 16;
}
