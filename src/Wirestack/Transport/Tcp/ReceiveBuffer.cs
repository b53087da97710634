using Wirestack.Collections;
using Wirestack.Transport.Buffers;
using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

/// <summary>
/// The receive side of a connection: an SPSC ring whose published bytes the application reads, and an out-of-order
/// assembler that stages segments beyond RCV.NXT directly in the ring's free space (RFC 9293 3.10.7.4), bounded by
/// the window; the ring takes chunks only for bytes that actually arrive. Staged ranges are positions counted from
/// the connection's first byte (wrapping as sequence numbers do), so RCV.NXT moving on leaves them as they are.
/// </summary>
internal sealed class ReceiveBuffer(ByteRing ring)
{
    /// <summary>A buffer with no room, standing in for released buffers.</summary>
    public static ReceiveBuffer Empty { get; } = new(ByteRing.Empty);

    /// <summary>Most out-of-order ranges kept; a segment creating more is dropped (it will be retransmitted).</summary>
    const int MaxRanges = 32;

    readonly ByteRing _ring = ring;
    // Staged out-of-order ranges, sorted and disjoint; their origin is _tail, the position of RCV.NXT.
    readonly RangeSet _ranges = new(MaxRanges);
    uint _tail;
    int _mostRecentRange = -1;

    public ByteRing Ring => _ring;

    /// <summary>The most the window may offer now (grows with demand up to the configured buffer size).</summary>
    public int Limit => _ring.Limit;

    /// <summary>Free space from RCV.NXT: the most the window can offer.</summary>
    public int Free => _ring.Free;

    public bool HasOutOfOrder => _ranges.Count > 0;

    /// <summary>Bytes of memory held (engine thread).</summary>
    public long HeldBytes => _ring.HeldBytes;

    /// <summary>Gives back the chunks the application has read past (all of them once it has read everything).</summary>
    public void Reclaim() => _ring.Reclaim(emptyAndSettled: _ranges.Count == 0);

    /// <summary>Lets the window grow to <paramref name="limit"/> (never shrinks it: RFC 9293 3.8.6.2.2).</summary>
    public void GrowLimit(int limit) => _ring.Limit = Math.Clamp(limit, _ring.Limit, _ring.MaxLimit);

    /// <summary>
    /// Stages payload that starts <paramref name="offset"/> (&gt; 0) bytes past RCV.NXT (already trimmed to the
    /// window). Returns false when it was dropped: too many disjoint ranges, or it would need new memory while
    /// <paramref name="mayGrow"/> is false (memory pressure: the sender retransmits it).
    /// </summary>
    public bool StageOutOfOrder(int offset, ReadOnlySpan<byte> data, bool mayGrow)
    {
        data = data[..Math.Clamp(_ring.Free - offset, 0, data.Length)];
        if (data.IsEmpty)
            return true;
        if (!mayGrow && !_ring.Stage(offset, data, mayGrow: false))
            return false;
        int index = _ranges.Add(_tail + (uint)offset, _tail + (uint)(offset + data.Length));
        if (index < 0)
            return false;
        _mostRecentRange = index;
        if (mayGrow)
            _ring.Stage(offset, data);
        return true;
    }

    /// <summary>
    /// Accepts payload that starts at RCV.NXT (already trimmed to the window) and any staged ranges it makes
    /// contiguous. Returns how far RCV.NXT advanced.
    /// </summary>
    public int AcceptInOrder(ReadOnlySpan<byte> data)
    {
        data = data[..Math.Min(data.Length, _ring.Free)];
        if (data.IsEmpty)
            return 0;
        _ring.Stage(0, data);
        // Fill from the tail, then swallow any staged ranges now contiguous.
        int advance = data.Length;
        if (_ranges.Count == 0)
        {
            _tail += (uint)advance;
            _ranges.Origin = _tail;
        }
        else
        {
            int swallowed = 0;
            while (swallowed < _ranges.Count && (int)(_ranges[swallowed].Start - _tail) <= advance)
            {
                advance = Math.Max(advance, (int)(_ranges[swallowed].End - _tail));
                swallowed++;
            }
            _tail += (uint)advance;
            _ranges.RemoveBefore(_tail);
            _mostRecentRange -= swallowed;
        }
        _ring.Publish(advance);
        return advance;
    }

    /// <summary>
    /// Fills SACK blocks (RFC 2018 4): the block holding the most recently received segment first, then the others,
    /// as absolute sequence numbers from <paramref name="receiveNext"/>.
    /// </summary>
    public int FillSackBlocks(uint receiveNext, ref TcpOptions.SackBlocks blocks, int max)
    {
        int count = 0;
        if (_mostRecentRange >= 0 && _mostRecentRange < _ranges.Count)
        {
            var r = _ranges[_mostRecentRange];
            blocks[count++] = new SackBlock(receiveNext + (r.Start - _tail), receiveNext + (r.End - _tail));
        }
        for (int i = 0; i < _ranges.Count && count < max; i++)
        {
            if (i == _mostRecentRange)
                continue;
            blocks[count++] = new SackBlock(receiveNext + (_ranges[i].Start - _tail), receiveNext + (_ranges[i].End - _tail));
        }
        return count;
    }

    /// <summary>True when [offset, offset+length) from RCV.NXT is already staged (a duplicate).</summary>
    public bool Covers(int offset, int length) => _ranges.Covers(_tail + (uint)offset, _tail + (uint)(offset + length));
}
