using System.Runtime.CompilerServices;

namespace Wirestack;

/// <summary>The engine's counters: written by the engine thread only, readable from any thread.</summary>
internal sealed class StackCounters
{
    static readonly int Count = Enum.GetValues<StackCounter>().Length;
    readonly long[] _values = new long[Count];

    // Forced: counted on every packet, and large callers run out of the JIT's inlining budget before reaching it.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Increment(StackCounter counter) => _values[(int)counter]++;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(StackCounter counter, long amount) => _values[(int)counter] += amount;

    public long this[StackCounter counter] => Volatile.Read(ref _values[(int)counter]);

    /// <summary>
    /// True for the counters of discarded input (named Drop…). By name, not by position: counters are added to the
    /// enum by topic, and the IPv6, IGMP and mDNS ones after the first drops were once counted as drops.
    /// </summary>
    public static bool IsDrop(StackCounter counter) => Drops[(int)counter];

    static readonly bool[] Drops = [.. Enum.GetValues<StackCounter>().OrderBy(c => (int)c).Select(c => c.ToString().StartsWith("Drop", StringComparison.Ordinal))];
}
