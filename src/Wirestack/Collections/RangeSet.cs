namespace Wirestack.Collections;

/// <summary>
/// Sorted, disjoint, half-open ranges [Start, End) of positions, merged as they are added: what arrived of a
/// fragmented datagram, what a TCP receiver holds beyond RCV.NXT, what a TCP sender's peer has SACKed.
/// </summary>
/// <remarks>
/// Positions compare by their distance from <see cref="Origin"/>, so TCP sequence numbers sort correctly across the
/// wrap as long as every range lies less than 2^31 after the origin (offsets from zero simply use origin 0). A set
/// holds at most its capacity of ranges; an addition that would need one more is refused. <see cref="Work"/> counts
/// the steps taken (binary-search probes, ranges merged or moved), so tests can hold work per packet to a bound.
/// </remarks>
internal sealed class RangeSet(int capacity)
{
    readonly List<(uint Start, uint End)> _ranges = [];

    /// <summary>Where comparisons start: positions before it sort as far in the future.</summary>
    public uint Origin { get; set; }

    public int Capacity { get; } = capacity;

    public int Count => _ranges.Count;

    public (uint Start, uint End) this[int index] => _ranges[index];

    /// <summary>Steps taken since the set was made.</summary>
    public long Work { get; private set; }

    public List<(uint Start, uint End)>.Enumerator GetEnumerator() => _ranges.GetEnumerator();

    bool Before(uint a, uint b) => a - Origin < b - Origin;

    bool AtOrBefore(uint a, uint b) => a - Origin <= b - Origin;

    /// <summary>The first range ending after <paramref name="position"/> (binary search); <see cref="Count"/> when none does.</summary>
    public int FirstEndingAfter(uint position) => Search(position, touching: false);

    /// <summary>The first range that ends after <paramref name="position"/>, or at it when <paramref name="touching"/>.</summary>
    int Search(uint position, bool touching)
    {
        int low = 0, high = _ranges.Count;
        while (low < high)
        {
            Work++;
            int middle = (low + high) >>> 1;
            uint end = _ranges[middle].End;
            if (touching ? Before(end, position) : AtOrBefore(end, position))
                low = middle + 1;
            else
                high = middle;
        }
        return low;
    }

    /// <summary>
    /// Adds [<paramref name="start"/>, <paramref name="end"/>), merging every range it overlaps or touches. Returns the
    /// index of the range that now holds it, or -1 when it would be a range of its own and the set is at capacity
    /// (then nothing changes).
    /// </summary>
    public int Add(uint start, uint end)
    {
        // The first range ending at or after the new start: it, and the ones after it that start at or before the new
        // end, touch the new range and merge into it.
        int index = Search(start, touching: true);
        int last = index;
        while (last < _ranges.Count && AtOrBefore(_ranges[last].Start, end))
        {
            Work++;
            if (Before(_ranges[last].Start, start))
                start = _ranges[last].Start;
            if (Before(end, _ranges[last].End))
                end = _ranges[last].End;
            last++;
        }
        if (last == index)
        {
            if (_ranges.Count >= Capacity)
                return -1;
            _ranges.Insert(index, (start, end));
        }
        else
        {
            _ranges[index] = (start, end);
            _ranges.RemoveRange(index + 1, last - index - 1);
        }
        Work += _ranges.Count - index;
        return index;
    }

    /// <summary>
    /// Forgets what lies before <paramref name="position"/> (ranges ending at or before it go, one that straddles it is
    /// cut) and moves the <see cref="Origin"/> there.
    /// </summary>
    public void RemoveBefore(uint position)
    {
        int gone = FirstEndingAfter(position);
        if (gone > 0)
        {
            _ranges.RemoveRange(0, gone);
            Work += _ranges.Count;
        }
        if (_ranges.Count > 0 && Before(_ranges[0].Start, position))
            _ranges[0] = (position, _ranges[0].End);
        Origin = position;
    }

    /// <summary>True when [<paramref name="start"/>, <paramref name="end"/>) lies inside one range.</summary>
    public bool Covers(uint start, uint end)
    {
        int index = FirstEndingAfter(start);
        return index < _ranges.Count && AtOrBefore(_ranges[index].Start, start) && AtOrBefore(end, _ranges[index].End);
    }

    /// <summary>The index of a range that overlaps [<paramref name="start"/>, <paramref name="end"/>), or -1 when none does.</summary>
    public int FindOverlap(uint start, uint end)
    {
        int index = FirstEndingAfter(start);
        return index < _ranges.Count && Before(_ranges[index].Start, end) ? index : -1;
    }

    public void Clear() => _ranges.Clear();
}
