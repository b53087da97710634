using Wirestack.Network;

namespace Wirestack.Engine;

/// <summary>The counters a fragment's fate moves, the same for both families.</summary>
internal static class FragmentCounting
{
    /// <summary>Counts why a fragment was dropped, if it was, and the partial datagrams evicted to make room for it.</summary>
    public static void Count(StackCounters counters, Reassembler reassembler, FragmentResult result)
    {
        switch (result)
        {
            case FragmentResult.Malformed:
                counters.Increment(StackCounter.DropFragmentMalformed);
                break;
            case FragmentResult.Overlap:
                counters.Increment(StackCounter.DropFragmentOverlap);
                break;
            case FragmentResult.Duplicate:
                counters.Increment(StackCounter.DropFragmentDuplicate);
                break;
            case FragmentResult.TooManyFragments:
                counters.Increment(StackCounter.DropFragmentTooMany);
                break;
        }
        int evicted = reassembler.TakeEvictions();
        if (evicted > 0)
            counters.Add(StackCounter.DropReassemblyLimit, evicted);
    }
}
