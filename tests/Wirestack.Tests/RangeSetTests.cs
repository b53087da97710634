using Wirestack.Collections;

namespace Wirestack.Tests;

/// <summary>The one sorted range set behind reassembly, out-of-order TCP data and the SACK scoreboard.</summary>
public sealed class RangeSetTests
{
    static (uint, uint)[] All(RangeSet set) => Enumerable.Range(0, set.Count).Select(i => (set[i].Start, set[i].End)).ToArray();

    [Fact(DisplayName = "Ranges merge when they overlap or touch, stay apart otherwise, and sort by position")]
    public void MergesOverlappingAndTouching()
    {
        var set = new RangeSet(8);
        Assert.Equal(0, set.Add(100, 200));
        Assert.Equal(1, set.Add(300, 400));
        Assert.Equal(0, set.Add(0, 50));
        Assert.Equal([(0u, 50u), (100u, 200u), (300u, 400u)], All(set));
        Assert.Equal(1, set.Add(200, 300));     // touches both neighbours: one range
        Assert.Equal([(0u, 50u), (100u, 400u)], All(set));
        Assert.Equal(0, set.Add(40, 120));      // overlaps both
        Assert.Equal([(0u, 400u)], All(set));
        Assert.True(set.Covers(10, 390));
        Assert.False(set.Covers(390, 410));
        Assert.Equal(-1, set.FindOverlap(400, 500));
        Assert.Equal(0, set.FindOverlap(399, 500));
    }

    [Fact(DisplayName = "RFC 9293 3.4 (sequence space wraps): ranges on both sides of 2^32 sort and merge from the origin")]
    public void SequenceSpaceWraps()
    {
        var set = new RangeSet(8) { Origin = uint.MaxValue - 1000 };
        set.Add(100, 200);                       // past the wrap
        set.Add(uint.MaxValue - 500, uint.MaxValue - 100);
        Assert.Equal([(uint.MaxValue - 500, uint.MaxValue - 100), (100u, 200u)], All(set));
        set.Add(uint.MaxValue - 100, 100);       // bridges the wrap: one range
        Assert.Equal([(uint.MaxValue - 500, 200u)], All(set));
        Assert.Equal(0, set.FirstEndingAfter(150));
        Assert.Equal(1, set.FirstEndingAfter(200));

        set.RemoveBefore(50);                    // the origin moves past the wrap; the straddling range is cut
        Assert.Equal([(50u, 200u)], All(set));
        Assert.Equal(50u, set.Origin);
    }

    [Fact(DisplayName = "A set at capacity refuses a range that needs one more, but still merges into what it holds (bound against a SACK or fragment flood)")]
    public void CapacityRefusesNewRangesOnly()
    {
        var set = new RangeSet(2);
        set.Add(0, 10);
        set.Add(20, 30);
        Assert.Equal(-1, set.Add(40, 50));
        Assert.Equal(2, set.Count);
        Assert.Equal(1, set.Add(25, 45));
        Assert.Equal([(0u, 10u), (20u, 45u)], All(set));
    }

    [Fact(DisplayName = "Work per addition is a binary search plus the ranges merged or moved, whatever the order ranges come in")]
    public void WorkIsBounded()
    {
        var set = new RangeSet(256);
        long worst = 0;
        // Every other 10 bytes, last first: the worst order for a list kept sorted.
        for (uint start = 2540; start < 2560; start -= 20)
        {
            long before = set.Work;
            set.Add(start, start + 10);
            worst = Math.Max(worst, set.Work - before);
        }
        Assert.Equal(128, set.Count);
        Assert.True(worst <= 8 + 128 + 1, $"{worst} steps");
    }
}
