using System.Buffers;
using Wirestack.Collections;
using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>What happened to a fragment given to the <see cref="Reassembler"/>.</summary>
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

/// <summary>One fragment as the reassembler sees it, for either family.</summary>
/// <param name="Source">Sender.</param>
/// <param name="Destination">Receiver.</param>
/// <param name="Identification">IPv4's 16-bit or IPv6's 32-bit identification.</param>
/// <param name="Protocol">IPv4's protocol (part of its key, RFC 791); for IPv6 the Fragment header's Next Header.</param>
/// <param name="Offset">Offset of the data in the datagram's fragmentable part, in bytes.</param>
/// <param name="More">More fragments follow.</param>
/// <param name="TypeOfService">IPv4 only: the first fragment's TOS, kept for the rebuilt header.</param>
/// <param name="TimeToLive">IPv4 only: the first fragment's TTL.</param>
internal readonly record struct Fragment(IpAddress Source, IpAddress Destination, uint Identification, byte Protocol, int Offset, bool More,
    byte TypeOfService = 0, byte TimeToLive = 0);

/// <summary>
/// Reassembly for both families (RFC 791 3.2, RFC 815 hole tracking; RFC 8200 4.5). Bounded in datagrams and bytes,
/// each partial datagram timing out. A fragment that partly overlaps held data discards the whole datagram, so
/// teardrop-style overlaps cannot splice data from different senders (RFC 5722, applied to IPv4 too). An IPv6
/// datagram is rebuilt from its first fragment's unfragmentable part (its headers up to the Fragment header), which
/// may be at most <see cref="MaxUnfragmentablePart"/> bytes.
/// </summary>
/// <remarks>
/// Work per fragment is bounded whatever the order fragments arrive in: held data is a sorted list of disjoint
/// ranges with adjacent ones merged, found by binary search, and a datagram takes at most
/// <see cref="MaxFragmentsPerDatagram"/> fragments, so an insert moves at most that many entries (a datagram cut
/// into 8-byte fragments and sent last-first cost quadratic work before). Completion is one comparison.
/// </remarks>
internal sealed class Reassembler(int maxDatagrams, int maxBytes, long timeoutMicroseconds)
{
    /// <summary>Room kept before the rebuilt header for a link header.</summary>
    public const int Headroom = 64;

    /// <summary>Most header bytes kept in front of the data: an IPv6 first fragment's headers before its Fragment header.</summary>
    public const int MaxUnfragmentablePart = 256;

    /// <summary>Where data starts in a partial datagram's buffer.</summary>
    const int DataStart = Headroom + MaxUnfragmentablePart;

    const int InitialBuffer = 4096;

    /// <summary>
    /// Fragments one datagram may arrive in: 64 KiB over a 576-byte path takes 117; more means a fragment storm
    /// (FreeBSD allows 16 by default, Linux bounds the bytes instead).
    /// </summary>
    public const int MaxFragmentsPerDatagram = 128;
    readonly record struct Key(IpAddress Source, IpAddress Destination, uint Identification, byte Protocol);

    sealed class Partial
    {
        public byte[] Buffer = [];
        // Offsets from the datagram's start (origin 0); a fragment more than the bound is refused before it gets here.
        public readonly RangeSet Ranges = new(MaxFragmentsPerDatagram);
        public int TotalLength = -1;
        public long Deadline;
        public long Created;
        public byte TypeOfService;
        public byte TimeToLive;
        public byte NextHeader;
        public bool HaveFirst;
        /// <summary>IPv6: bytes of the first fragment's unfragmentable part, right-aligned before the data.</summary>
        public int HeaderLength;
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

    /// <summary>
    /// Adds one fragment's <paramref name="payload"/>. For IPv6, <paramref name="unfragmentable"/> is the
    /// fragment's headers before its Fragment header (kept from the first fragment); IPv4 rebuilds a plain header.
    /// </summary>
    public FragmentResult Add(in Fragment fragment, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> unfragmentable, long now, out ReassembledDatagram datagram)
    {
        datagram = default;
        bool ipv4 = fragment.Source.IsIpv4;
        int start = fragment.Offset;
        int end = start + payload.Length;
        if (IsMalformed(ipv4, payload.Length, end, fragment.More, unfragmentable.Length))
            return FragmentResult.Malformed;

        var key = new Key(fragment.Source, fragment.Destination, fragment.Identification, ipv4 ? fragment.Protocol : (byte)0);
        if (!_partials.TryGetValue(key, out var partial))
            partial = Open(key, end, now);
        if (ContradictsLength(partial, end, fragment.More))
            return Discard(key, partial, FragmentResult.Malformed);

        // Find where the fragment goes: the first held range ending after its start (binary search).
        var ranges = partial.Ranges;
        long workBefore = ranges.Work;
        int index = ranges.FindOverlap((uint)start, (uint)end);
        Work += ranges.Work - workBefore;
        if (index >= 0)
        {
            var held = ranges[index];
            return held.Start <= start && end <= held.End ? FragmentResult.Duplicate : Discard(key, partial, FragmentResult.Overlap);
        }
        if (++partial.Fragments > MaxFragmentsPerDatagram)
            return Discard(key, partial, FragmentResult.TooManyFragments);
        Store(partial, fragment, payload, unfragmentable);

        if (partial.TotalLength < 0 || ranges.Count != 1 || ranges[0].Start != 0 || ranges[0].End != (uint)partial.TotalLength)
            return FragmentResult.Held;
        _partials.Remove(key);
        _bytesHeld -= partial.Buffer.Length;
        int headerLength = WriteHeader(key, partial, partial.TotalLength);
        datagram = new ReassembledDatagram(partial.Buffer, DataStart - headerLength, headerLength + partial.TotalLength);
        return FragmentResult.Completed;
    }

    /// <summary>
    /// A fragment no datagram can have: not a multiple of 8 bytes (or empty) before the last, past what a 16-bit
    /// length field holds (IPv4's total length, IPv6's payload length), or behind too long an unfragmentable part.
    /// </summary>
    static bool IsMalformed(bool ipv4, int payloadLength, int end, bool more, int unfragmentableLength)
    {
        int maxPayload = ipv4 ? Ipv4Packet.MaximumLength - Ipv4Packet.MinimumHeaderLength : Ipv4Packet.MaximumLength - (unfragmentableLength - Ipv6Packet.HeaderLength);
        return (more && (payloadLength & 7) != 0) || end > maxPayload || (more && payloadLength == 0) || unfragmentableLength > MaxUnfragmentablePart;
    }

    /// <summary>A new datagram's state, room made for it within the bounds.</summary>
    Partial Open(in Key key, int end, long now)
    {
        MakeRoom(InitialBuffer);
        var partial = new Partial { Deadline = now + timeoutMicroseconds, Created = now };
        Grow(partial, Math.Max(InitialBuffer, DataStart + end));
        _partials.Add(key, partial);
        return partial;
    }

    /// <summary>A last fragment that ends elsewhere than the length already known (or before data held), or a fragment past it.</summary>
    static bool ContradictsLength(Partial partial, int end, bool more)
    {
        if (more)
            return partial.TotalLength >= 0 && end > partial.TotalLength;
        return (partial.TotalLength >= 0 && partial.TotalLength != end)
            || (partial.Ranges.Count > 0 && partial.Ranges[partial.Ranges.Count - 1].End > end);
    }

    /// <summary>Copies the fragment's data into place (growing the buffer within the bounds) and records what it tells of the whole.</summary>
    void Store(Partial partial, in Fragment fragment, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> unfragmentable)
    {
        int start = fragment.Offset, end = start + payload.Length;
        int needed = DataStart + end;
        if (needed > partial.Buffer.Length)
        {
            int size = Math.Min(Math.Max(needed, partial.Buffer.Length * 2), DataStart + Ipv4Packet.MaximumLength);
            MakeRoom(size - partial.Buffer.Length, except: partial);
            Grow(partial, size);
        }
        payload.CopyTo(partial.Buffer.AsSpan(DataStart + start));
        long workBefore = partial.Ranges.Work;
        partial.Ranges.Add((uint)start, (uint)end);
        Work += partial.Ranges.Work - workBefore;
        if (!fragment.More)
            partial.TotalLength = end;
        if (start != 0)
            return;
        partial.HaveFirst = true;
        partial.TypeOfService = fragment.TypeOfService;
        partial.TimeToLive = fragment.TimeToLive;
        partial.NextHeader = fragment.Protocol;
        if (!fragment.Source.IsIpv4)
        {
            unfragmentable.CopyTo(partial.Buffer.AsSpan(DataStart - unfragmentable.Length));
            partial.HeaderLength = unfragmentable.Length;
        }
    }

    /// <summary>
    /// Writes the header of the whole datagram in front of its data and returns its length: a plain IPv4 header, or
    /// the IPv6 first fragment's unfragmentable part with the payload length set and the Fragment header's Next
    /// Header put where the Fragment header was named (RFC 8200 4.5).
    /// </summary>
    static int WriteHeader(in Key key, Partial partial, int dataLength)
    {
        if (key.Source.IsIpv4)
        {
            new Ipv4Header(key.Source.Ipv4, key.Destination.Ipv4, key.Protocol, partial.TimeToLive, (ushort)key.Identification) { TypeOfService = partial.TypeOfService }
                .Write(partial.Buffer.AsSpan(DataStart - Ipv4Packet.MinimumHeaderLength), Ipv4Packet.MinimumHeaderLength + dataLength);
            return Ipv4Packet.MinimumHeaderLength;
        }
        var header = partial.Buffer.AsSpan(DataStart - partial.HeaderLength, partial.HeaderLength);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)Math.Min(partial.HeaderLength - Ipv6Packet.HeaderLength + dataLength, ushort.MaxValue));
        // The last header before the Fragment header names it: walk the (already validated) chain to that byte.
        int nextHeaderAt = 6, offset = Ipv6Packet.HeaderLength;
        while (offset < header.Length)
        {
            nextHeaderAt = offset;
            offset += (header[offset + 1] + 1) * 8;
        }
        header[nextHeaderAt] = partial.NextHeader;
        return partial.HeaderLength;
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
                // The rebuilt header and the first data bytes: enough for the sender to find its socket.
                int dataBytes = (int)Math.Min(8, partial.Ranges[0].End);
                int headerLength = WriteHeader(key, partial, dataBytes);
                expired(partial.Buffer.AsSpan(DataStart - headerLength, headerLength + dataBytes));
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
