using System.Buffers;
using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>A packet waiting for its next hop's link address, held with room for the link header in front.</summary>
internal readonly record struct PendingPacket(byte[] Buffer, int Offset, int Length)
{
    public ReadOnlySpan<byte> Packet => Buffer.AsSpan(Offset, Length);

    public void Release() => ArrayPool<byte>.Shared.Return(Buffer);
}

/// <summary>
/// The ARP neighbor cache (RFC 826, RFC 1122 2.3.2.1): resolved entries expire, unresolved ones retry on a timer
/// and hold a bounded queue of packets. Pure state; the engine sends the requests it asks for.
/// </summary>
internal sealed class NeighborCache(int capacity, long lifetimeMicroseconds, int attempts, long retryIntervalMicroseconds,
    int queuePacketsPerNeighbor, int queueBytesTotal)
{
    internal sealed class Entry(Ipv4Address address)
    {
        public Ipv4Address Address { get; } = address;
        public MacAddress LinkAddress;
        public bool Resolved;
        public long ExpiresAt;
        public long NextRequestAt;
        public int RequestsLeft;
        public readonly Queue<PendingPacket> Pending = new();
    }

    readonly Dictionary<Ipv4Address, Entry> _entries = [];
    int _queuedBytes;
    long? _nextDeadline;
    bool _deadlineStale;

    public int Count => _entries.Count;

    public int QueuedBytes => _queuedBytes;

    public IEnumerable<Entry> Entries => _entries.Values;

    public bool TryGet(Ipv4Address address, long now, out MacAddress linkAddress)
    {
        if (_entries.TryGetValue(address, out var entry) && entry.Resolved && entry.ExpiresAt > now)
        {
            linkAddress = entry.LinkAddress;
            return true;
        }
        linkAddress = default;
        return false;
    }

    public bool Contains(Ipv4Address address) => _entries.ContainsKey(address);

    /// <summary>
    /// Records that <paramref name="address"/> is at <paramref name="linkAddress"/>. Only updates an existing entry
    /// unless <paramref name="create"/> (RFC 826's merge rule). Returns the entry when it was updated, so the caller
    /// can flush the packets it holds.
    /// </summary>
    public Entry? Learn(Ipv4Address address, MacAddress linkAddress, long now, bool create)
    {
        if (!_entries.TryGetValue(address, out var entry))
        {
            if (!create)
                return null;
            entry = Add(address, now);
        }
        _deadlineStale = true;
        entry.LinkAddress = linkAddress;
        entry.Resolved = true;
        entry.ExpiresAt = now + lifetimeMicroseconds;
        return entry;
    }

    /// <summary>Starts resolving <paramref name="address"/> unless already under way; true when a request should go out now.</summary>
    public bool StartResolution(Ipv4Address address, long now, out Entry entry)
    {
        if (_entries.TryGetValue(address, out var existing))
        {
            entry = existing;
            if (existing.Resolved && existing.ExpiresAt > now)
                return false;
            if (existing.Resolved)
            {
                // Expired: keep the old link address out of use and resolve afresh.
                existing.Resolved = false;
                existing.RequestsLeft = 0;
            }
            if (existing.RequestsLeft > 0)
                return false;
        }
        else
        {
            entry = Add(address, now);
        }
        _deadlineStale = true;
        entry.RequestsLeft = attempts - 1;
        entry.NextRequestAt = now + retryIntervalMicroseconds;
        return true;
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
    /// Runs the timers: unresolved entries due for a retry are passed to <paramref name="retry"/>; those out of
    /// attempts are removed and passed to <paramref name="failed"/> (with their queued packets); resolved entries
    /// past their lifetime are removed.
    /// </summary>
    public void Expire(long now, List<Entry> retry, List<Entry> failed)
    {
        if (NextDeadline() is not { } due || due > now)
            return;
        _deadlineStale = true;
        List<Ipv4Address>? remove = null;
        foreach (var entry in _entries.Values)
        {
            if (entry.Resolved)
            {
                if (entry.ExpiresAt <= now && entry.Pending.Count == 0)
                    (remove ??= []).Add(entry.Address);
                continue;
            }
            if (entry.NextRequestAt > now)
                continue;
            if (entry.RequestsLeft > 0)
            {
                entry.RequestsLeft--;
                entry.NextRequestAt = now + retryIntervalMicroseconds;
                retry.Add(entry);
            }
            else
            {
                (remove ??= []).Add(entry.Address);
                failed.Add(entry);
            }
        }
        if (remove is null)
            return;
        foreach (var address in remove)
            _entries.Remove(address);
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
            long due = entry.Resolved ? entry.ExpiresAt : entry.NextRequestAt;
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
        _deadlineStale = true;
    }

    Entry Add(Ipv4Address address, long now)
    {
        if (_entries.Count >= capacity)
            EvictOne();
        var entry = new Entry(address) { ExpiresAt = now };
        _entries.Add(address, entry);
        _deadlineStale = true;
        return entry;
    }

    void EvictOne()
    {
        // Prefer the resolved entry closest to expiry; entries with waiting packets go last.
        Entry? victim = null;
        foreach (var entry in _entries.Values)
        {
            if (entry.Pending.Count > 0)
                continue;
            if (victim is null || (entry.Resolved && (!victim.Resolved || entry.ExpiresAt < victim.ExpiresAt)))
                victim = entry;
        }
        victim ??= _entries.Values.First();
        while (victim.Pending.Count > 0)
            DequeuePending(victim).Release();
        _entries.Remove(victim.Address);
    }
}
