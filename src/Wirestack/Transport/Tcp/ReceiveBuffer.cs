using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

/// <summary>
/// The receive side of a connection: an SPSC ring whose published bytes the application reads, and an out-of-order
/// assembler that stages segments beyond RCV.NXT directly in the ring's free space (RFC 9293 3.10.7.4), bounded by
/// the window so it needs no memory of its own. Ranges are kept as offsets from the ring's tail (= RCV.NXT).
/// </summary>
internal sealed class ReceiveBuffer(ByteRing ring)
{
    /// <summary>A buffer with no room, standing in for released buffers.</summary>
    public static ReceiveBuffer Empty { get; } = new(0);

    public ReceiveBuffer(int capacity) : this(new ByteRing(capacity))
    {
    }

    /// <summary>Most out-of-order ranges kept; a segment creating more is dropped (it will be retransmitted).</summary>
    const int MaxRanges = 32;

    readonly ByteRing _ring = ring;
    // Staged out-of-order ranges as [start, end) offsets from the tail, sorted and disjoint, most recent first in _recent.
    readonly List<(int Start, int End)> _ranges = [];
    int _mostRecentRange = -1;

    public ByteRing Ring => _ring;

    public int Capacity => _ring.Capacity;

    /// <summary>Free space from RCV.NXT: the most the window can offer.</summary>
    public int Free => _ring.Free;

    public bool HasOutOfOrder => _ranges.Count > 0;

    /// <summary>
    /// Accepts payload that starts <paramref name="offset"/> bytes past RCV.NXT (already trimmed to the window).
    /// Returns how far RCV.NXT advanced (0 for out-of-order data).
    /// </summary>
    public int Accept(int offset, ReadOnlySpan<byte> data)
    {
        int end = offset + data.Length;
        if (end > _ring.Free)
        {
            data = data[..Math.Max(0, _ring.Free - offset)];
            end = offset + data.Length;
        }
        if (data.IsEmpty)
            return 0;
        if (offset > 0)
        {
            if (!AddRange(offset, end))
                return 0;
            _ring.Stage(offset, data);
            return 0;
        }
        _ring.Stage(0, data);
        // Fill from the tail, then swallow any staged ranges now contiguous.
        int advance = data.Length;
        int swallowed = 0;
        while (swallowed < _ranges.Count && _ranges[swallowed].Start <= advance)
        {
            advance = Math.Max(advance, _ranges[swallowed].End);
            swallowed++;
        }
        _ranges.RemoveRange(0, swallowed);
        for (int i = 0; i < _ranges.Count; i++)
            _ranges[i] = (_ranges[i].Start - advance, _ranges[i].End - advance);
        _mostRecentRange -= swallowed;
        _ring.Publish(advance);
        return advance;
    }

    bool AddRange(int start, int end)
    {
        int i = 0;
        while (i < _ranges.Count && _ranges[i].End < start)
            i++;
        int mergedStart = start, mergedEnd = end;
        int j = i;
        while (j < _ranges.Count && _ranges[j].Start <= end)
        {
            mergedStart = Math.Min(mergedStart, _ranges[j].Start);
            mergedEnd = Math.Max(mergedEnd, _ranges[j].End);
            j++;
        }
        if (j == i && _ranges.Count >= MaxRanges)
            return false;
        _ranges.RemoveRange(i, j - i);
        _ranges.Insert(i, (mergedStart, mergedEnd));
        _mostRecentRange = i;
        return true;
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
            blocks[count++] = new SackBlock(receiveNext + (uint)r.Start, receiveNext + (uint)r.End);
        }
        for (int i = 0; i < _ranges.Count && count < max; i++)
        {
            if (i == _mostRecentRange)
                continue;
            blocks[count++] = new SackBlock(receiveNext + (uint)_ranges[i].Start, receiveNext + (uint)_ranges[i].End);
        }
        return count;
    }

    /// <summary>True when [offset, offset+length) from RCV.NXT is already staged (a duplicate).</summary>
    public bool Covers(int offset, int length)
    {
        foreach (var (start, end) in _ranges)
        {
            if (start <= offset && offset + length <= end)
                return true;
        }
        return false;
    }
}
