using System.Buffers;
using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>What happened to a fragment given to the <see cref="Ipv4Reassembler"/>.</summary>
internal enum FragmentResult
{
    /// <summary>Held; the datagram is not complete yet.</summary>
    Held,
    /// <summary>The datagram is complete.</summary>
    Completed,
    /// <summary>Invalid fragment (unaligned, too large, inconsistent end).</summary>
    Malformed,
    /// <summary>Overlapped held data with a different extent: the datagram was discarded.</summary>
    Overlap,
    /// <summary>Lies wholly inside data already held (a retransmitted fragment).</summary>
    Duplicate,
    /// <summary>One fragment too many for its datagram: the datagram was discarded.</summary>
    TooManyFragments,
}

/// <summary>A reassembled datagram in a pooled buffer, with link-header room before it.</summary>
internal readonly record struct ReassembledDatagram(byte[] Buffer, int Offset, int Length)
{
    public Span<byte> Packet => Buffer.AsSpan(Offset, Length);
    public void Release() => ArrayPool<byte>.Shared.Return(Buffer);
}

/// <summary>
/// IPv4 reassembly (RFC 791 section 3.2, RFC 815 hole tracking). Bounded in datagrams and bytes, each partial datagram
/// timing out. A fragment that partly overlaps held data discards the whole datagram, so teardrop-style overlaps
/// cannot splice data from different senders (the policy RFC 5722 mandates for IPv6).
/// </summary>
/// <remarks>
/// Work per fragment is bounded whatever the order fragments arrive in: held data is a sorted list of disjoint
/// ranges with adjacent ones merged, found by binary search, and a datagram takes at most
/// <see cref="MaxFragmentsPerDatagram"/> fragments, so an insert moves at most that many entries (a datagram cut
/// into 8-byte fragments and sent last-first cost quadratic work before). Completion is one comparison.
/// </remarks>
internal sealed class Ipv4Reassembler(int maxDatagrams, int maxBytes, long timeoutMicroseconds)
{
    /// <summary>Room kept before the rebuilt header for a link header.</summary>
    public const int Headroom = 64;

    const int InitialBuffer = 4096;

    /// <summary>
    /// Fragments one datagram may arrive in: 64 KiB over a 576-byte path takes 117; more means a fragment storm
    /// (FreeBSD allows 16 by default, Linux bounds the bytes instead).
    /// </summary>
    public const int MaxFragmentsPerDatagram = 128;
    const int MaxPayload = Ipv4Packet.MaximumLength - Ipv4Packet.MinimumHeaderLength;

    readonly record struct Key(Ipv4Address Source, Ipv4Address Destination, ushort Identification, byte Protocol);

    sealed class Partial
    {
        public byte[] Buffer = [];
        public readonly List<(int Start, int End)> Ranges = [];
        public int TotalLength = -1;
        public long Deadline;
        public long Created;
        public byte TypeOfService;
        public byte TimeToLive;
        public bool HaveFirst;
        public int Fragments;
    }

    /// <summary>Steps taken by searches and list moves since creation (tests hold the per-fragment work to a bound).</summary>
    internal long Work { get; private set; }

    readonly Dictionary<Key, Partial> _partials = [];
    int _bytesHeld;

    public int Count => _partials.Count;

    public long? NextDeadline
    {
        get
        {
            long? next = null;
            foreach (var p in _partials.Values)
            {
                if (next is null || p.Deadline < next)
                    next = p.Deadline;
            }
            return next;
        }
    }

    /// <summary>Evictions made to stay inside the bounds since the last call.</summary>
    public int TakeEvictions()
    {
        int n = _evictions;
        _evictions = 0;
        return n;
    }

    int _evictions;

    public FragmentResult Add(Ipv4Packet fragment, long now, out ReassembledDatagram datagram)
    {
        datagram = default;
        int start = fragment.FragmentOffset;
        var payload = fragment.Payload;
        int end = start + payload.Length;
        bool more = fragment.MoreFragments;
        if ((more && (payload.Length & 7) != 0) || end > MaxPayload || (more && payload.Length == 0))
            return FragmentResult.Malformed;

        var key = new Key(fragment.Source, fragment.Destination, fragment.Identification, fragment.Protocol);
        if (!_partials.TryGetValue(key, out var partial))
        {
            MakeRoom(InitialBuffer);
            partial = new Partial { Deadline = now + timeoutMicroseconds, Created = now };
            Grow(partial, Math.Max(InitialBuffer, Headroom + Ipv4Packet.MinimumHeaderLength + end));
            _partials.Add(key, partial);
        }

        if (!more)
        {
            if (partial.TotalLength >= 0 && partial.TotalLength != end)
                return Discard(key, partial, FragmentResult.Malformed);
            if (partial.Ranges.Count > 0 && partial.Ranges[^1].End > end)
                return Discard(key, partial, FragmentResult.Malformed);
        }
        else if (partial.TotalLength >= 0 && end > partial.TotalLength)
        {
            return Discard(key, partial, FragmentResult.Malformed);
        }

        // Find where the fragment goes: the first held range ending after its start (binary search).
        var ranges = partial.Ranges;
        int low = 0, high = ranges.Count;
        while (low < high)
        {
            Work++;
            int middle = (low + high) >>> 1;
            if (ranges[middle].End <= start)
                low = middle + 1;
            else
                high = middle;
        }
        int index = low;
        if (index < ranges.Count && ranges[index].Start < end)
        {
            var held = ranges[index];
            return held.Start <= start && end <= held.End ? FragmentResult.Duplicate : Discard(key, partial, FragmentResult.Overlap);
        }
        if (++partial.Fragments > MaxFragmentsPerDatagram)
            return Discard(key, partial, FragmentResult.TooManyFragments);

        int needed = Headroom + Ipv4Packet.MinimumHeaderLength + end;
        if (needed > partial.Buffer.Length)
        {
            int size = Math.Min(Math.Max(needed, partial.Buffer.Length * 2), Headroom + Ipv4Packet.MaximumLength);
            MakeRoom(size - partial.Buffer.Length, except: partial);
            Grow(partial, size);
        }
        payload.CopyTo(partial.Buffer.AsSpan(Headroom + Ipv4Packet.MinimumHeaderLength + start));
        InsertMerged(ranges, index, start, end);
        if (!more)
            partial.TotalLength = end;
        if (start == 0)
        {
            partial.HaveFirst = true;
            partial.TypeOfService = fragment.TypeOfService;
            partial.TimeToLive = fragment.TimeToLive;
        }

        if (partial.TotalLength < 0 || ranges.Count != 1 || ranges[0].Start != 0 || ranges[0].End != partial.TotalLength)
            return FragmentResult.Held;

        _partials.Remove(key);
        _bytesHeld -= partial.Buffer.Length;
        int length = Ipv4Packet.MinimumHeaderLength + partial.TotalLength;
        Ipv4Packet.WriteHeader(partial.Buffer.AsSpan(Headroom), length, key.Identification, dontFragment: false, moreFragments: false,
            fragmentOffset: 0, partial.TimeToLive, key.Protocol, key.Source, key.Destination, partial.TypeOfService);
        datagram = new ReassembledDatagram(partial.Buffer, Headroom, length);
        return FragmentResult.Completed;
    }

    /// <summary>
    /// Discards partial datagrams past their deadline. For each that had its first fragment, <paramref name="expired"/>
    /// gets the rebuilt header plus the first data bytes, so the engine can send Time Exceeded (RFC 792, code 1).
    /// Returns how many were discarded.
    /// </summary>
    public int Expire(long now, ReassemblyExpired expired)
    {
        if (NextDeadline is not { } due || due > now)
            return 0;
        List<Key>? remove = null;
        foreach (var (key, partial) in _partials)
        {
            if (partial.Deadline <= now)
                (remove ??= []).Add(key);
        }
        foreach (var key in remove!)
        {
            var partial = _partials[key];
            if (partial.HaveFirst)
            {
                int dataBytes = Math.Min(8, partial.Ranges[0].End);
                int length = Ipv4Packet.MinimumHeaderLength + dataBytes;
                var header = partial.Buffer.AsSpan(Headroom, length);
                Ipv4Packet.WriteHeader(header, partial.TotalLength < 0 ? length : Ipv4Packet.MinimumHeaderLength + partial.TotalLength,
                    key.Identification, false, moreFragments: true, 0, partial.TimeToLive, key.Protocol, key.Source, key.Destination, partial.TypeOfService);
                expired(header);
            }
            Release(key, partial);
        }
        return remove.Count;
    }

    public void Clear()
    {
        foreach (var (key, partial) in _partials.ToArray())
            Release(key, partial);
    }

    /// <summary>Inserts [start, end) before <paramref name="index"/>, merging it with a neighbour it touches.</summary>
    void InsertMerged(List<(int Start, int End)> ranges, int index, int start, int end)
    {
        bool joinsPrevious = index > 0 && ranges[index - 1].End == start;
        bool joinsNext = index < ranges.Count && ranges[index].Start == end;
        if (joinsPrevious && joinsNext)
        {
            ranges[index - 1] = (ranges[index - 1].Start, ranges[index].End);
            ranges.RemoveAt(index);
            Work += ranges.Count - index;
        }
        else if (joinsPrevious)
        {
            ranges[index - 1] = (ranges[index - 1].Start, end);
        }
        else if (joinsNext)
        {
            ranges[index] = (start, ranges[index].End);
        }
        else
        {
            ranges.Insert(index, (start, end));
            Work += ranges.Count - index;
        }
    }

    FragmentResult Discard(Key key, Partial partial, FragmentResult result)
    {
        Release(key, partial);
        return result;
    }

    void Release(Key key, Partial partial)
    {
        _partials.Remove(key);
        _bytesHeld -= partial.Buffer.Length;
        ArrayPool<byte>.Shared.Return(partial.Buffer);
    }

    void Grow(Partial partial, int size)
    {
        var bigger = ArrayPool<byte>.Shared.Rent(size);
        if (partial.Buffer.Length > 0)
        {
            partial.Buffer.AsSpan().CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(partial.Buffer);
        }
        _bytesHeld += bigger.Length - partial.Buffer.Length;
        partial.Buffer = bigger;
    }

    // Evicts the oldest partial datagrams until a new one (or growth of one) fits the bounds, as Linux does past
    // its high threshold: a flood of junk fragments then ages out instead of locking reassembly for the timeout.
    void MakeRoom(int extraBytes, Partial? except = null)
    {
        while (_partials.Count > 0 && (_partials.Count >= maxDatagrams + (except is null ? 0 : 1) || _bytesHeld + extraBytes > maxBytes))
        {
            KeyValuePair<Key, Partial>? oldest = null;
            foreach (var pair in _partials)
            {
                if (ReferenceEquals(pair.Value, except))
                    continue;
                if (oldest is null || pair.Value.Created < oldest.Value.Value.Created)
                    oldest = pair;
            }
            if (oldest is null)
                return;
            Release(oldest.Value.Key, oldest.Value.Value);
            _evictions++;
        }
    }
}

/// <summary>Receives the header and leading data of a datagram whose reassembly timed out.</summary>
internal delegate void ReassemblyExpired(ReadOnlySpan<byte> headerAndData);
