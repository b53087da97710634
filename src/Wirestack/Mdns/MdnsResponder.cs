using Wirestack.Engine;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Mdns;

/// <summary>Where the responder's messages go: the engine's UDP port 5353.</summary>
internal interface IMdnsTransport
{
    /// <summary>Sends one message to a group (224.0.0.251, ff02::fb) or, for unicast answers, to one peer.</summary>
    void Send(ReadOnlySpan<byte> message, IpAddress destination, ushort port);
}

/// <summary>What the responder is doing with its names (RFC 6762 8).</summary>
internal enum MdnsState { Stopped, Probing, Announcing, Ready }

/// <summary>
/// The Multicast DNS responder (RFC 6762) for the host's name — <c>NAME.local</c> with an A or AAAA record per
/// address and the reverse PTR records — and its DNS-SD services (RFC 6763: PTR, SRV, TXT and the service-type
/// enumeration). It probes before using its unique names (8.1), settles simultaneous probes by the tie-break of
/// 8.2, takes <c>NAME-2</c> (or <c>Instance (2)</c>) when a name is someone else's (9), announces (8.3), answers
/// queries with known-answer suppression (7.1), unicast responses when asked (5.4, 6.7), never multicasts a record
/// more than once a second (6), says goodbye with TTL 0 when an address goes and at shutdown (10.1), and checks that
/// queries come from this link (11). Single-threaded, on the engine's clock.
/// </summary>
internal sealed class MdnsResponder : IEngineService
{
    public const ushort Port = 5353;
    public static readonly IpAddress Ipv4Group = (IpAddress)new Ipv4Address(0xE000_00FB);
    public static readonly IpAddress Ipv6Group = IpAddress.Parse("ff02::fb");

    /// <summary>RFC 6762 6.7: answers to legacy unicast queries carry at most 10 s.</summary>
    const uint LegacyUnicastTtl = 10;
    const long ProbeInterval = 250_000, AnnounceInterval = 1_000_000, MulticastInterval = 1_000_000, ProbeDefenseInterval = 250_000;
    const int Probes = 3, Announcements = 2;
    /// <summary>RFC 6762 8.1: after 15 conflicts within 10 s, wait 5 s before probing again.</summary>
    const int ConflictBurst = 15;
    const long ConflictWindow = 10_000_000, ConflictBackoff = 5_000_000;

    readonly string _baseName;
    readonly Random _random;
    readonly IMdnsTransport _transport;
    readonly Func<IpAddress, bool> _isOnLink;
    readonly StackCounters _counters;
    readonly TokenBucket _unicastAnswers = new(ratePerSecond: 50, burst: 20);
    readonly byte[] _scratch = new byte[1452];
    readonly Queue<(StackEventKind Kind, string Message)> _events = new();
    readonly List<long> _recentConflicts = [];
    readonly List<AdvertisedService> _services;
    List<MdnsRecord> _records = [];
    IReadOnlyList<IpAddress> _addresses = [];
    int _suffix = 1;
    int _left;
    long _nextAt = long.MaxValue;

    public MdnsResponder(string hostName, IReadOnlyList<MdnsService> services, Random random, IMdnsTransport transport, Func<IpAddress, bool> isOnLink,
        StackCounters counters)
    {
        _baseName = hostName;
        _services = [.. services.Select(s => new AdvertisedService(s))];
        _random = random;
        _transport = transport;
        _isOnLink = isOnLink;
        _counters = counters;
        HostName = hostName;
    }

    public MdnsState State { get; private set; }

    /// <summary>The label in use: the configured one, or NAME-N after conflicts.</summary>
    public string HostName
    {
        get;
        private set
        {
            field = value;
            FullName = value + ".local";
        }
    }

    /// <summary>NAME.local (kept, not built per call: the host reads it after every poll).</summary>
    public string FullName { get; private set; } = "";

    /// <summary>The services with the instance names in use.</summary>
    public IReadOnlyList<AdvertisedService> Services => _services;

    public long NextDeadline => _nextAt;

    public bool TryTakeEvent(out (StackEventKind Kind, string Message) stackEvent) => _events.TryDequeue(out stackEvent);

    /// <summary>Starts probing for the names with the interface's current addresses (RFC 6762 8.1: after 0–250 ms).</summary>
    public void Start(IReadOnlyList<IpAddress> addresses, long now)
    {
        _addresses = addresses;
        Rebuild();
        BeginProbing(now + _random.NextInt64(ProbeInterval + 1));
    }

    /// <summary>
    /// The interface's addresses changed: goodbye for records of addresses that went (10.1), and the new set is
    /// announced again (8.4).
    /// </summary>
    public void SetAddresses(IReadOnlyList<IpAddress> addresses, long now)
    {
        if (addresses.SequenceEqual(_addresses))
            return;
        var previous = _records;
        _addresses = addresses;
        Rebuild();
        if (State is MdnsState.Stopped or MdnsState.Probing)
            return;
        var gone = previous.Where(old => !_records.Any(old.Same)).ToList();
        if (gone.Count > 0)
            SendUnsolicited(gone, goodbye: true, now);
        BeginAnnouncing(now);
    }

    /// <summary>Goodbye (RFC 6762 10.1): every record with TTL 0, so caches drop them at once.</summary>
    public void Stop(long now)
    {
        if (State is MdnsState.Announcing or MdnsState.Ready)
            SendUnsolicited(_records, goodbye: true, now);
        State = MdnsState.Stopped;
        _nextAt = long.MaxValue;
    }

    public void Run(long now)
    {
        if (now < _nextAt)
            return;
        switch (State)
        {
            case MdnsState.Probing when _left > 0:
                SendProbe(unicastResponse: _left == Probes);
                _left--;
                _nextAt = now + ProbeInterval;
                break;
            case MdnsState.Probing:
                _events.Enqueue((StackEventKind.MdnsHostNameClaimed, $"mDNS: {FullName} is ours"
                    + string.Concat(_services.Select(s => $", service '{s.Instance}' ({s.Service.ServiceType}, port {s.Service.Port})"))));
                BeginAnnouncing(now);
                Run(now);
                break;
            case MdnsState.Announcing:
                SendUnsolicited(_records, goodbye: false, now);
                if (--_left > 0)
                {
                    _nextAt = now + AnnounceInterval;
                }
                else
                {
                    State = MdnsState.Ready;
                    _nextAt = long.MaxValue;
                }
                break;
            default:
                _nextAt = long.MaxValue;
                break;
        }
    }

    void Rebuild() => _records = MdnsRecords.Build(FullName, _addresses, _services);

    void BeginProbing(long at)
    {
        State = MdnsState.Probing;
        _left = Probes;
        _nextAt = at;
    }

    void BeginAnnouncing(long now)
    {
        State = MdnsState.Announcing;
        _left = Announcements;
        _nextAt = now;
    }

    /// <summary>The unique names this host probes for and defends: its host name and its service instances.</summary>
    IEnumerable<string> UniqueNames => [FullName, .. _services.Select(s => s.FullName)];

    bool IsOurUniqueName(string name) => UniqueNames.Any(n => DnsName.Equal(n, name));

    /// <summary>A datagram that came to port 5353 (or to the unicast address on 5353).</summary>
    public void Receive(ReadOnlySpan<byte> payload, IpAddress source, ushort sourcePort, long now)
    {
        if (State == MdnsState.Stopped)
            return;
        // RFC 6762 11: only this link's hosts speak to us (a unicast query from afar must not get an answer).
        if (!_isOnLink(source))
        {
            _counters.Increment(StackCounter.DropMdnsOffLink);
            return;
        }
        if (!DnsMessage.TryParse(payload, out var packet) || packet.Opcode != 0)
        {
            _counters.Increment(StackCounter.DropMdnsMalformed);
            return;
        }
        if (packet.IsResponse)
            ReceiveResponse(packet, now);
        else
            ReceiveQuery(packet, source, sourcePort, now);
    }

    void ReceiveResponse(DnsMessage packet, long now)
    {
        if ((packet.Flags & 0x000F) != 0)
            return;   // RFC 6762 18.11: responses with a nonzero rcode are ignored
        foreach (var record in packet.Answers.Concat(packet.Additionals))
        {
            // A record of one of our unique names, of a type we own there, with data we do not have: a conflict.
            if (record.TimeToLive == 0 || !IsOurUniqueName(record.Name)
                || !_records.Any(r => r.Unique && r.Type == record.Type && DnsName.Equal(r.Text, record.Name))
                || _records.Any(r => r.Type == record.Type && DnsName.Equal(r.Text, record.Name) && r.Data.AsSpan().SequenceEqual(record.Data)))
                continue;
            Conflict(record.Name, now);
            return;
        }
    }

    /// <summary>RFC 6762 8.1 and 9: a name is taken — the next one is probed (after a pause when conflicts pile up).</summary>
    void Conflict(string name, long now)
    {
        _counters.Increment(StackCounter.MdnsConflicts);
        if (State is MdnsState.Announcing or MdnsState.Ready)
        {
            // 9: a conflict after probing means probing again, which finds out whether the name is still ours.
            BeginProbing(now);
            return;
        }
        string taken;
        if (DnsName.Equal(name, FullName))
        {
            taken = FullName;
            HostName = MdnsRecords.WithSuffix(_baseName, $"-{++_suffix}");
            _events.Enqueue((StackEventKind.MdnsHostNameConflict, $"mDNS: {taken} is taken by another host; trying {FullName}"));
        }
        else
        {
            int index = _services.FindIndex(s => DnsName.Equal(s.FullName, name));
            var service = _services[index];
            _services[index] = service with { Number = service.Number + 1 };
            _events.Enqueue((StackEventKind.MdnsHostNameConflict, $"mDNS: service '{service.Instance}' is taken by another host; trying '{_services[index].Instance}'"));
        }
        Rebuild();
        _recentConflicts.RemoveAll(t => t < now - ConflictWindow);
        _recentConflicts.Add(now);
        BeginProbing(_recentConflicts.Count >= ConflictBurst ? now + ConflictBackoff : now);
    }

    void ReceiveQuery(DnsMessage packet, IpAddress source, ushort sourcePort, long now)
    {
        bool probe = packet.Authorities.Count > 0;
        if (State == MdnsState.Probing)
        {
            // 8.2: another host probing for one of our names at the same time; the lexicographically later set wins.
            foreach (string name in UniqueNames)
            {
                var theirs = packet.Authorities.Where(r => DnsName.Equal(r.Name, name)).ToList();
                if (theirs.Count > 0 && CompareWithOurs(name, theirs) < 0)
                {
                    BeginProbing(now + 1_000_000);
                    break;
                }
            }
            return;   // 8.1: no answers for names still being probed
        }
        bool legacy = sourcePort != Port;
        var answers = new List<MdnsRecord>();
        bool unicast = legacy;
        foreach (var question in packet.Questions)
        {
            foreach (var record in _records)
            {
                if (!DnsName.Equal(record.Text, question.Name) || (question.Type != DnsType.Any && question.Type != record.Type) || answers.Contains(record))
                    continue;
                // 7.1: known-answer suppression: the asker already holds it with at least half its lifetime left.
                if (packet.Answers.Any(known => known.TimeToLive >= record.TimeToLive / 2 && DnsName.Equal(known.Name, record.Text)
                    && known.Type == record.Type && known.Data.AsSpan().SequenceEqual(record.Data)))
                    continue;
                answers.Add(record);
                unicast |= question.UnicastResponse && !RecentlyMulticast(record, source.IsIpv4, now, record.TimeToLive * 1_000_000L / 4);
            }
        }
        if (answers.Count == 0)
            return;
        if (unicast)
        {
            if (!_unicastAnswers.TryTake(now))
            {
                _counters.Increment(StackCounter.DropMdnsRateLimited);
                return;
            }
            SendAnswer(answers, packet, source, sourcePort, legacy, now);
            return;
        }
        // 6: at most one multicast of a record a second (a quarter of that to defend against a probe).
        answers.RemoveAll(r => RecentlyMulticast(r, source.IsIpv4, now, probe ? ProbeDefenseInterval : MulticastInterval));
        if (answers.Count == 0)
        {
            _counters.Increment(StackCounter.DropMdnsRateLimited);
            return;
        }
        SendAnswer(answers, packet, source.IsIpv4 ? Ipv4Group : Ipv6Group, Port, legacy: false, now);
    }

    static bool RecentlyMulticast(MdnsRecord record, bool ipv4, long now, long within) =>
        now - (ipv4 ? record.LastMulticastV4 : record.LastMulticastV6) < within;

    /// <summary>8.2: compares the other prober's records for a name with ours (type, then data, each set sorted); negative when theirs win.</summary>
    int CompareWithOurs(string name, List<DnsResourceRecord> theirs)
    {
        var ours = _records.Where(r => r.Unique && DnsName.Equal(r.Text, name)).Select(r => (r.Type, r.Data)).OrderBy(r => r, RecordOrder.Instance).ToList();
        var other = theirs.Select(r => (r.Type, r.Data)).OrderBy(r => r, RecordOrder.Instance).ToList();
        for (int i = 0; i < Math.Min(ours.Count, other.Count); i++)
        {
            int c = RecordOrder.Instance.Compare(ours[i], other[i]);
            if (c != 0)
                return c;
        }
        return ours.Count.CompareTo(other.Count);
    }

    sealed class RecordOrder : IComparer<(ushort Type, byte[] Data)>
    {
        public static readonly RecordOrder Instance = new();

        public int Compare((ushort Type, byte[] Data) x, (ushort Type, byte[] Data) y) =>
            x.Type != y.Type ? x.Type.CompareTo(y.Type) : x.Data.AsSpan().SequenceCompareTo(y.Data);
    }

    /// <summary>8.1: one question per unique name (ANY), our proposed records for them in the authority section.</summary>
    void SendProbe(bool unicastResponse)
    {
        var writer = new DnsWriter(_scratch);
        foreach (string name in UniqueNames)
            writer.Question(DnsName.Encode(name), DnsType.Any, unicastResponse);
        writer.Current = DnsWriter.Section.Authority;
        foreach (var record in _records.Where(r => r.Unique && IsOurUniqueName(r.Text)))
            writer.Record(record.Name, record.Type, cacheFlush: false, record.TimeToLive, record.Data);
        SendOnBothFamilies(writer.Finish(0, 0));
    }

    /// <summary>An unsolicited response (announcement, or goodbye with TTL 0) on both families.</summary>
    void SendUnsolicited(List<MdnsRecord> records, bool goodbye, long now)
    {
        var writer = new DnsWriter(_scratch);
        foreach (var record in records)
        {
            if (!writer.Record(record.Name, record.Type, cacheFlush: record.Unique, goodbye ? 0 : record.TimeToLive, record.Data))
                break;
            record.LastMulticastV4 = record.LastMulticastV6 = now;
        }
        SendOnBothFamilies(writer.Finish(0, 0x8400));
    }

    void SendAnswer(List<MdnsRecord> answers, DnsMessage query, IpAddress destination, ushort port, bool legacy, long now)
    {
        var writer = new DnsWriter(_scratch);
        if (legacy)
        {
            // 6.7: a legacy resolver expects its question back and its ID.
            foreach (var question in query.Questions)
                writer.Question(DnsName.Encode(question.Name), question.Type, unicastResponse: false);
        }
        foreach (var record in answers)
            writer.Record(record.Name, record.Type, cacheFlush: record.Unique && !legacy, legacy ? Math.Min(record.TimeToLive, LegacyUnicastTtl) : record.TimeToLive, record.Data);
        // 6.2 and RFC 6763 12: what the asker will want next rides along as additional records — a service's SRV and
        // TXT after its PTR, the host's addresses after an SRV or an address.
        writer.Current = DnsWriter.Section.Additional;
        foreach (var record in Additional(answers))
            writer.Record(record.Name, record.Type, cacheFlush: record.Unique && !legacy, legacy ? Math.Min(record.TimeToLive, LegacyUnicastTtl) : record.TimeToLive, record.Data);
        var message = writer.Finish(legacy ? query.Id : (ushort)0, 0x8400);
        if (destination.IsMulticast)
        {
            foreach (var record in answers)
            {
                if (destination.IsIpv4)
                    record.LastMulticastV4 = now;
                else
                    record.LastMulticastV6 = now;
            }
        }
        _transport.Send(message, destination, port);
        _counters.Increment(StackCounter.MdnsResponsesSent);
    }

    List<MdnsRecord> Additional(List<MdnsRecord> answers)
    {
        var additional = new List<MdnsRecord>();
        void Add(MdnsRecord record)
        {
            if (!answers.Contains(record) && !additional.Contains(record))
                additional.Add(record);
        }
        foreach (var answer in answers)
        {
            if (answer.Type == DnsType.Ptr && _services.Any(s => answer.Data.AsSpan().SequenceEqual(DnsName.Encode(s.FullName))))
            {
                foreach (var record in _records.Where(r => r.Type is DnsType.Srv or DnsType.Txt && r.Name.AsSpan().SequenceEqual(answer.Data)))
                    Add(record);
            }
        }
        if (answers.Concat(additional).Any(r => r.Type is DnsType.Srv or DnsType.A or DnsType.Aaaa))
        {
            foreach (var record in _records.Where(r => r.Type is DnsType.A or DnsType.Aaaa))
                Add(record);
        }
        return additional;
    }

    void SendOnBothFamilies(ReadOnlySpan<byte> message)
    {
        if (_addresses.Any(a => a.IsIpv4))
            _transport.Send(message, Ipv4Group, Port);
        if (_addresses.Any(a => !a.IsIpv4))
            _transport.Send(message, Ipv6Group, Port);
        _counters.Increment(StackCounter.MdnsResponsesSent);
    }
}
