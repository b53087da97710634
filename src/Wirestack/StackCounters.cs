namespace Wirestack;

/// <summary>The engine's counters: written by the engine thread only, readable from any thread.</summary>
internal sealed class StackCounters
{
    static readonly int Count = Enum.GetValues<StackCounter>().Length;
    readonly long[] _values = new long[Count];

    public void Increment(StackCounter counter) => _values[(int)counter]++;

    public void Add(StackCounter counter, long amount) => _values[(int)counter] += amount;

    public long this[StackCounter counter] => Volatile.Read(ref _values[(int)counter]);

    public static bool IsDrop(StackCounter counter) => counter >= StackCounter.DropLinkTruncated;
}
