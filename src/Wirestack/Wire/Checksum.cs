using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Wirestack.Wire;

/// <summary>
/// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of 16-bit words,
/// computed with Vector256/Vector128 where the hardware has them, and updated incrementally per RFC 1624.
/// </summary>
/// <remarks>
/// Partial sums are 16-bit values in network order held in a <see cref="uint"/>; they can be chained with
/// <see cref="Sum"/> as long as every chunk but the last has even length.
/// </remarks>
internal static class Checksum
{
    /// <summary>The checksum of <paramref name="data"/>, ready to store in a header.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data, uint initialSum = 0) => Finish(Sum(data, initialSum));

    /// <summary>Folds a partial sum and complements it.</summary>
    public static ushort Finish(uint sum) => (ushort)~Fold(sum);

    /// <summary>Adds the one's complement sum of <paramref name="data"/> to <paramref name="partialSum"/>.</summary>
    public static uint Sum(ReadOnlySpan<byte> data, uint partialSum = 0)
    {
        // One's complement addition is byte-order independent: sum native (little-endian) words, fold, then swap.
        ulong native = SumNative(data);
        ushort folded = (ushort)Fold(native);
        ushort networkOrder = BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(folded) : folded;
        return Fold((ulong)networkOrder + partialSum);
    }

    /// <summary>The partial sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, RFC 9293 3.1).</summary>
    public static uint PseudoHeaderSum(Ipv4Address source, Ipv4Address destination, byte protocol, int length)
    {
        ulong sum = (source.Value >> 16) + (source.Value & 0xFFFF)
            + (destination.Value >> 16) + (destination.Value & 0xFFFF)
            + protocol + (uint)length;
        return Fold(sum);
    }

    /// <summary>
    /// The partial sum of the pseudo-header of the addresses' family: IPv4's (RFC 9293 3.1) or IPv6's (RFC 8200 8.1,
    /// both addresses in full and a 32-bit upper-layer length).
    /// </summary>
    internal static uint PseudoHeaderSum(IpAddress source, IpAddress destination, byte protocol, int length)
    {
        if (source.IsIpv4)
            return PseudoHeaderSum(source.Ipv4, destination.Ipv4, protocol, length);
        ulong sum = Words(source.High) + Words(source.Low) + Words(destination.High) + Words(destination.Low)
            + ((uint)length >> 16) + ((uint)length & 0xFFFF) + protocol;
        return Fold(sum);

        static ulong Words(ulong value) => (value >> 48) + ((value >> 32) & 0xFFFF) + ((value >> 16) & 0xFFFF) + (value & 0xFFFF);
    }

    /// <summary>
    /// Updates a stored checksum after one 16-bit field changed from <paramref name="oldValue"/> to
    /// <paramref name="newValue"/> (RFC 1624 equation 3: HC' = ~(~HC + ~m + m')).
    /// </summary>
    public static ushort Update(ushort storedChecksum, ushort oldValue, ushort newValue)
    {
        ulong sum = (ushort)~storedChecksum + (ulong)(ushort)~oldValue + newValue;
        return (ushort)~Fold(sum);
    }

    /// <summary>Updates a stored checksum after a 32-bit field (such as an address) changed.</summary>
    public static ushort Update(ushort storedChecksum, uint oldValue, uint newValue)
    {
        ushort step = Update(storedChecksum, (ushort)(oldValue >> 16), (ushort)(newValue >> 16));
        return Update(step, (ushort)oldValue, (ushort)newValue);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (uint)sum;
    }

    static ulong SumNative(ReadOnlySpan<byte> data)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        nuint offset = 0;
        ulong sum = 0;

        // 32-bit lanes widened into 64-bit accumulators cannot overflow for any span length.
        if (Vector256.IsHardwareAccelerated && length >= 64)
        {
            Vector256<ulong> accA = Vector256<ulong>.Zero, accB = Vector256<ulong>.Zero;
            for (; offset + 64 <= length; offset += 64)
            {
                var v1 = Vector256.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref start, offset)));
                var v2 = Vector256.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref start, offset + 32)));
                var (l1, h1) = Vector256.Widen(v1);
                var (l2, h2) = Vector256.Widen(v2);
                accA += l1 + h1;
                accB += l2 + h2;
            }
            sum = Fold64(Vector256.Sum(accA), Vector256.Sum(accB));
        }
        if (Vector128.IsHardwareAccelerated && length - offset >= 16)
        {
            Vector128<ulong> acc = Vector128<ulong>.Zero;
            for (; offset + 16 <= length; offset += 16)
            {
                var v = Vector128.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref start, offset)));
                var (lo, hi) = Vector128.Widen(v);
                acc += lo + hi;
            }
            sum = Fold64(sum, Vector128.Sum(acc));
        }
        for (; offset + 4 <= length; offset += 4)
            sum += Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset));
        if (offset + 2 <= length)
        {
            sum += Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref start, offset));
            offset += 2;
        }
        if (offset < length)
        {
            // A trailing odd byte is the high-order byte of a zero-padded network-order word.
            byte last = Unsafe.Add(ref start, offset);
            sum += BitConverter.IsLittleEndian ? last : (ulong)last << 8;
        }
        return sum;
    }

    // Adds two 64-bit partial sums with end-around carry so no carry is lost.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Fold64(ulong a, ulong b)
    {
        ulong s = a + b;
        return s < a ? s + 1 : s;
    }
}
