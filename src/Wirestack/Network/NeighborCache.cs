using System.Buffers;
using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>A packet waiting for its next hop's link address, held with room for the link header in front.</summary>
internal readonly record struct PendingPacket(byte[] Buffer, int Offset, int Length, Wire.VirtioNetHeader Offload)
{
    public ReadOnlySpan<byte> Packet => Buffer.AsSpan(Offset, Length);

    public void Release() => ArrayPool<byte>.Shared.Return(Buffer);
}

/// <summary>Reachability of a neighbor (RFC 4861 7.3.2; Linux applies the same states to ARP).</summary>
internal enum NeighborState
{
    /// <summary>Resolution under way (broadcast requests); packets wait in a bounded queue.</summary>
    Incomplete,
    /// <summary>Recently confirmed reachable (an answer to our request, or forward progress of a TCP flow).</summary>
    Reachable,
    /// <summary>Link address known but not confirmed lately; still used.</summary>
    Stale,
    /// <summary>Used while stale: waiting a moment for an upper layer to confirm before probing.</summary>
    Delay,
    /// <summary>Being re-probed by unicast requests; still used until the probes fail.</summary>
    Probe,
}

/// <summary>
/// The neighbour cache of either family: ARP's (RFC 826, RFC 1122 2.3.2.1) and NDP's, both with the reachability
/// states of RFC 4861 7.3 (as Linux keeps them for ARP too): a confirmed entry is REACHABLE for the reachable time, then STALE; a stale entry keeps being used
/// and, once used, is re-probed by unicast (DELAY, then PROBE) and dropped only when those probes go unanswered.
/// TCP forward progress confirms reachability, so a busy flow never loses its next hop, and nothing queues behind an
/// entry that merely aged. Unresolved entries retry on a timer and hold a bounded queue of packets. Pure state; the
/// engine sends the requests it asks for.
/// </summary>
/// <remarks>
/// Bounds that keep legitimate peers in (RFC 6583 6.2, RFC 6583 7.1): unresolved entries have a part of their own
/// (<paramref name="maxUnresolved"/>), and when it is full the entry that has waited longest for an answer gives way
/// to the new one, so a scan or a spoofed-source flood of a large subnet churns among addresses that never answer
/// while a peer that answers resolves within its first round trip. When the whole table is full, the entry least
/// recently confirmed goes: entries never confirmed (learned from unsolicited news, still unresolved) first, oldest
/// first; a neighbour confirmed lately (the gateway, a peer with a TCP flow) is the last to go.
/// </remarks>
internal sealed class NeighborCache(int capacity, long reachableMicroseconds, int attempts, long retryIntervalMicroseconds,
    int queuePacketsPerNeighbor, int queueBytesTotal, int maxUnresolved)
{
    /// <summary>RFC 4861 10: DELAY_FIRST_PROBE_TIME.</summary>
    const long DelayFirstProbe = 5_000_000;

    /// <summary>RFC 4861 10: MAX_UNICAST_SOLICIT.</summary>
    const int UnicastProbes = 3;

    /// <summary>An unused stale entry is forgotten after this long (Linux gc_stale_time).</summary>
    const long StaleLifetime = 60_000_000;

    internal sealed class Entry(IpAddress address)
    {
        public IpAddress Address { get; } = address;
        public MacAddress LinkAddress;
        public NeighborState State;
        /// <summary>When the state's timer runs out: REACHABLE ends, STALE is forgotten, DELAY probes, PROBE retries.</summary>
        public long Deadline;
        public long NextRequestAt;
        public int RequestsLeft;
        /// <summary>When the entry was made or its resolution (re)started: the oldest unresolved one gives way first.</summary>
        public long Since;
        /// <summary>When reachability was last confirmed; <see cref="long.MinValue"/> when never.</summary>
        public long ConfirmedAt = long.MinValue;
        public readonly Queue<PendingPacket> Pending = new();

        public bool Resolved => State != NeighborState.Incomplete;
    }

    readonly Dictionary<IpAddress, Entry> _entries = [];
    int _queuedBytes;
    int _unresolved;

    /// <summary>How long a confirmed entry stays REACHABLE (IPv6 routers may change it, RFC 4861 6.3.4).</summary>
    public long ReachableMicroseconds { get; set; } = reachableMicroseconds;

    /// <summary>Time between resolution requests (RetransTimer for NDP).</summary>
    public long RetryIntervalMicroseconds { get; set; } = retryIntervalMicroseconds;

    /// <summary>Entries still being resolved.</summary>
    public int UnresolvedCount => _unresolved;
    long? _nextDeadline;
    bool _deadlineStale;

    public int Count => _entries.Count;

    public int QueuedBytes => _queuedBytes;

    public IEnumerable<Entry> Entries => _entries.Values;

    /// <summary>
    /// The link address to send to, for any resolved state. Using a STALE entry starts DELAY (RFC 4861 7.3.3); a
    /// REACHABLE one past its time becomes STALE first.
    /// </summary>
    public bool TryGet(IpAddress address, long now, out MacAddress linkAddress)
    {
        if (!_entries.TryGetValue(address, out var entry) || !entry.Resolved)
        {
            linkAddress = default;
            return false;
        }
        if (entry.State == NeighborState.Reachable && entry.Deadline <= now)
            entry.State = NeighborState.Stale;
        if (entry.State == NeighborState.Stale)
        {
            entry.State = NeighborState.Delay;
            SetDeadline(entry, now + DelayFirstProbe);
        }
        linkAddress = entry.LinkAddress;
        return true;
    }

    public bool Contains(IpAddress address) => _entries.ContainsKey(address);

    /// <summary>The state of <paramref name="address"/>'s entry, if any.</summary>
    public NeighborState? StateOf(IpAddress address) => _entries.TryGetValue(address, out var entry) ? entry.State : null;

    /// <summary>
    /// Records that <paramref name="address"/> is at <paramref name="linkAddress"/>. Only updates an existing entry
    /// unless <paramref name="create"/> (RFC 826's merge rule). An answer (<paramref name="confirmed"/>) to a request
    /// of ours (the entry is INCOMPLETE or PROBE) makes it REACHABLE; other news makes a new or changed entry STALE
    /// (RFC 4861 7.3.3) and leaves an unchanged one as it is. Returns the entry when it was updated, so the caller can
    /// flush the packets it holds.
    /// </summary>
    public Entry? Learn(IpAddress address, MacAddress linkAddress, long now, bool create, bool confirmed)
    {
        if (!_entries.TryGetValue(address, out var entry))
        {
            if (!create)
                return null;
            entry = Add(address, now, static packet => packet.Release());
            _unresolved++;
        }
        bool changed = !entry.Resolved || entry.LinkAddress != linkAddress;
        // Only an answer to a request of ours confirms: unsolicited replies would let a sprayer keep its entries
        // looking fresher than the neighbours we really talk to.
        bool asked = !entry.Resolved || entry.State == NeighborState.Probe;
        if (!entry.Resolved)
            _unresolved--;
        entry.LinkAddress = linkAddress;
        if (confirmed && asked)
            Confirm(entry, now);
        else if (changed)
        {
            entry.State = NeighborState.Stale;
            SetDeadline(entry, now + StaleLifetime);
        }
        return entry;
    }

    /// <summary>
    /// A Neighbor Advertisement for <paramref name="address"/> (RFC 4861 7.2.5). No entry: ignored. INCOMPLETE: takes
    /// the link address (none: ignored) and becomes REACHABLE when solicited, else STALE. Otherwise a different link
    /// address is taken only with the Override flag (without it a REACHABLE entry just turns STALE); solicited
    /// advertisements confirm reachability, unsolicited news of a new address makes the entry STALE. Returns the
    /// entry when packets held for it may now go.
    /// </summary>
    public Entry? Advertise(IpAddress address, MacAddress? linkAddress, bool solicited, bool overrideFlag, long now)
    {
        if (!_entries.TryGetValue(address, out var entry))
            return null;
        if (!entry.Resolved)
        {
            if (linkAddress is not { } first)
                return null;
            _unresolved--;
            entry.LinkAddress = first;
            if (solicited)
                Confirm(entry, now);
            else
            {
                entry.State = NeighborState.Stale;
                SetDeadline(entry, now + StaleLifetime);
            }
            return entry;
        }
        bool different = linkAddress is { } advertised && advertised != entry.LinkAddress;
        if (!overrideFlag && different)
        {
            if (entry.State == NeighborState.Reachable)
            {
                entry.State = NeighborState.Stale;
                SetDeadline(entry, now + StaleLifetime);
            }
            return null;
        }
        if (different)
            entry.LinkAddress = linkAddress!.Value;
        if (solicited)
            Confirm(entry, now);
        else if (different)
        {
            entry.State = NeighborState.Stale;
            SetDeadline(entry, now + StaleLifetime);
        }
        return entry;
    }

    /// <summary>Upper-layer confirmation (RFC 4861 7.3.1: TCP forward progress): a resolved entry becomes REACHABLE.</summary>
    public void Confirm(IpAddress address, long now)
    {
        if (_entries.TryGetValue(address, out var entry) && entry.Resolved)
            Confirm(entry, now);
    }

    void Confirm(Entry entry, long now)
    {
        entry.State = NeighborState.Reachable;
        entry.ConfirmedAt = now;
        // A later deadline never invalidates the cached earliest one: at worst the engine wakes early once.
        entry.Deadline = now + ReachableMicroseconds;
    }

    void SetDeadline(Entry entry, long deadline)
    {
        entry.Deadline = deadline;
        if (!_deadlineStale && (_nextDeadline is null || deadline < _nextDeadline))
            _nextDeadline = deadline;
    }

    /// <summary>
    /// Starts resolving <paramref name="address"/> unless already under way; true when a request should go out now.
    /// A new address past the unresolved bound takes the place of the unresolved entry that has waited longest, whose
    /// queued packets go to <paramref name="evicted"/>.
    /// </summary>
    public bool StartResolution(IpAddress address, long now, Action<PendingPacket> evicted, out Entry entry)
    {
        if (_entries.TryGetValue(address, out var existing))
        {
            entry = existing;
            if (existing.Resolved || existing.RequestsLeft > 0)
                return false;
        }
        else
        {
            if (_unresolved >= maxUnresolved)
                Evict(LongestUnresolved(), evicted);
            entry = Add(address, now, evicted);
            _unresolved++;
        }
        _deadlineStale = true;
        entry.State = NeighborState.Incomplete;
        entry.Since = now;
        entry.RequestsLeft = attempts - 1;
        entry.NextRequestAt = now + RetryIntervalMicroseconds;
        return true;
    }

    Entry LongestUnresolved()
    {
        Entry? oldest = null;
        foreach (var entry in _entries.Values)
        {
            if (!entry.Resolved && (oldest is null || entry.Since < oldest.Since))
                oldest = entry;
        }
        return oldest!;
    }

    /// <summary>Queues a packet behind an unresolved entry; returns the packets dropped to make room (oldest first).</summary>
    public int Enqueue(Entry entry, PendingPacket packet, Action<PendingPacket> dropped)
    {
        int drops = 0;
        entry.Pending.Enqueue(packet);
        _queuedBytes += packet.Length;
        while (entry.Pending.Count > queuePacketsPerNeighbor || (_queuedBytes > queueBytesTotal && entry.Pending.Count > 0))
        {
            var old = entry.Pending.Dequeue();
            _queuedBytes -= old.Length;
            dropped(old);
            drops++;
        }
        return drops;
    }

    public PendingPacket DequeuePending(Entry entry)
    {
        var packet = entry.Pending.Dequeue();
        _queuedBytes -= packet.Length;
        return packet;
    }

    /// <summary>
    /// Runs the timers: unresolved entries due for a retry are passed to <paramref name="retry"/> (broadcast), those
    /// out of attempts are removed and passed to <paramref name="failed"/> (with their queued packets); entries due
    /// for a unicast probe go to <paramref name="probe"/>, and those whose probes went unanswered are removed;
    /// REACHABLE entries past their time become STALE, and stale ones unused for a minute are forgotten.
    /// </summary>
    public void Expire(long now, List<Entry> retry, List<Entry> failed, List<Entry> probe)
    {
        if (NextDeadline() is not { } due || due > now)
            return;
        _deadlineStale = true;
        List<IpAddress>? remove = null;
        foreach (var entry in _entries.Values)
        {
            switch (entry.State)
            {
                case NeighborState.Incomplete:
                    if (entry.NextRequestAt > now)
                        break;
                    if (entry.RequestsLeft > 0)
                    {
                        entry.RequestsLeft--;
                        entry.NextRequestAt = now + RetryIntervalMicroseconds;
                        retry.Add(entry);
                    }
                    else
                    {
                        (remove ??= []).Add(entry.Address);
                        failed.Add(entry);
                    }
                    break;
                case NeighborState.Reachable when entry.Deadline <= now:
                    entry.State = NeighborState.Stale;
                    entry.Deadline = now + StaleLifetime;
                    break;
                case NeighborState.Stale when entry.Deadline <= now:
                    (remove ??= []).Add(entry.Address);
                    break;
                case NeighborState.Delay when entry.Deadline <= now:
                    entry.State = NeighborState.Probe;
                    entry.RequestsLeft = UnicastProbes - 1;
                    entry.Deadline = now + RetryIntervalMicroseconds;
                    probe.Add(entry);
                    break;
                case NeighborState.Probe when entry.Deadline <= now:
                    if (entry.RequestsLeft > 0)
                    {
                        entry.RequestsLeft--;
                        entry.Deadline = now + RetryIntervalMicroseconds;
                        probe.Add(entry);
                    }
                    else
                    {
                        (remove ??= []).Add(entry.Address);
                    }
                    break;
            }
        }
        if (remove is null)
            return;
        foreach (var address in remove)
            Remove(address);
    }

    void Remove(IpAddress address)
    {
        if (_entries.Remove(address, out var entry) && !entry.Resolved)
            _unresolved--;
    }

    // The engine asks after every poll; entries change only on ARP traffic and timers, so cache the answer.
    public long? NextDeadline()
    {
        if (!_deadlineStale)
            return _nextDeadline;
        _deadlineStale = false;
        long? next = null;
        foreach (var entry in _entries.Values)
        {
            long due = entry.Resolved ? entry.Deadline : entry.NextRequestAt;
            if (next is null || due < next)
                next = due;
        }
        _nextDeadline = next;
        return next;
    }

    public void Clear(Action<PendingPacket> dropped)
    {
        foreach (var entry in _entries.Values)
        {
            while (entry.Pending.Count > 0)
                dropped(DequeuePending(entry));
        }
        _entries.Clear();
        _unresolved = 0;
        _deadlineStale = true;
    }

    Entry Add(IpAddress address, long now, Action<PendingPacket> evicted)
    {
        if (_entries.Count >= capacity)
            Evict(LeastRecentlyConfirmed(), evicted);
        var entry = new Entry(address) { Deadline = now, Since = now };
        _entries.Add(address, entry);
        _deadlineStale = true;
        return entry;
    }

    /// <summary>The entry whose loss costs least: never confirmed before confirmed, then the longest ago.</summary>
    Entry LeastRecentlyConfirmed()
    {
        Entry? victim = null;
        foreach (var entry in _entries.Values)
        {
            if (victim is null || entry.ConfirmedAt < victim.ConfirmedAt || (entry.ConfirmedAt == victim.ConfirmedAt && entry.Since < victim.Since))
                victim = entry;
        }
        return victim!;
    }

    void Evict(Entry victim, Action<PendingPacket> evicted)
    {
        while (victim.Pending.Count > 0)
            evicted(DequeuePending(victim));
        Remove(victim.Address);
    }
}
