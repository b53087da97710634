using System.Runtime.CompilerServices;

namespace Wirestack.Transport.Tcp;

/// <summary>Sequence-number comparisons modulo 2^32 (RFC 9293 3.4): a is before b when (a - b) is negative as int.</summary>
internal static class Seq
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Lt(uint a, uint b) => (int)(a - b) < 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Le(uint a, uint b) => (int)(a - b) <= 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Gt(uint a, uint b) => (int)(a - b) > 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Ge(uint a, uint b) => (int)(a - b) >= 0;

    public static uint Max(uint a, uint b) => Gt(a, b) ? a : b;

    public static uint Min(uint a, uint b) => Lt(a, b) ? a : b;

    /// <summary>True when lo ≤ x &lt; hi.</summary>
    public static bool InRange(uint x, uint lo, uint hi) => Le(lo, x) && Lt(x, hi);
}
