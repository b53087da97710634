using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>What walking an IPv6 extension-header chain decided.</summary>
internal enum HeaderChainVerdict
{
    /// <summary>The chain ends in an upper-layer header (or at a Fragment header, for reassembly to continue).</summary>
    Deliver,
    /// <summary>Truncated or impossible: drop silently.</summary>
    Malformed,
    /// <summary>Longer than the stack walks: drop silently.</summary>
    TooLong,
    /// <summary>No Next Header (59): nothing to deliver.</summary>
    NoNextHeader,
    /// <summary>An option whose action bits say discard (RFC 8200 4.2, 01): drop silently.</summary>
    Discard,
    /// <summary>Drop and answer Parameter Problem with <see cref="Ipv6HeaderChain.ErrorCode"/> at <see cref="Ipv6HeaderChain.ErrorPointer"/>.</summary>
    ParameterProblem,
}

/// <summary>
/// The walk of an IPv6 packet's extension headers (RFC 8200 4): Hop-by-Hop and Destination Options with the option
/// action bits of 4.2, Routing (any header still to be routed is refused: a host forwards nothing, and type 0 is
/// deprecated by RFC 5095), and the Fragment header, where the walk stops so reassembly can continue it.
/// </summary>
/// <remarks>
/// Work is bounded: at most <see cref="MaxHeaders"/> extension headers and <see cref="MaxOptions"/> options per
/// options header are walked, and more than 7 bytes of consecutive padding is refused (RFC 8504 5.3, as Linux does),
/// so a packet of padding cannot make the walk long.
/// </remarks>
internal readonly struct Ipv6HeaderChain
{
    public const int MaxHeaders = 8;
    public const int MaxOptions = 16;

    /// <summary>The upper-layer protocol (or unknown Next Header value) the chain ends in.</summary>
    public byte UpperProtocol { get; init; }

    /// <summary>Offset of the upper-layer header from the start of the packet.</summary>
    public int UpperOffset { get; init; }

    /// <summary>Offset of the Fragment header, or -1.</summary>
    public int FragmentHeaderOffset { get; init; }

    /// <summary>Offset of the Next Header byte that names the fragment's next header (or <see cref="UpperProtocol"/>).</summary>
    public int LastNextHeaderOffset { get; init; }

    /// <summary>For <see cref="HeaderChainVerdict.ParameterProblem"/>: RFC 4443 3.4 code (0 header field, 1 next header, 2 option, 3 incomplete chain).</summary>
    public byte ErrorCode { get; init; }

    /// <summary>For <see cref="HeaderChainVerdict.ParameterProblem"/>: offset of the offending byte.</summary>
    public int ErrorPointer { get; init; }

    public bool IsFragment => FragmentHeaderOffset >= 0;

    /// <summary>Walks the chain of <paramref name="packet"/> (a whole packet, fixed header first).</summary>
    public static HeaderChainVerdict Walk(ReadOnlySpan<byte> packet, bool multicastDestination, out Ipv6HeaderChain chain) =>
        Walk(packet, Ipv6Packet.HeaderLength, 6, multicastDestination, out chain);

    /// <summary>
    /// Walks from the header at <paramref name="offset"/>, named by the Next Header byte at
    /// <paramref name="nextHeaderOffset"/>. Used again on a reassembled packet, from its Fragment header's successor.
    /// </summary>
    public static HeaderChainVerdict Walk(ReadOnlySpan<byte> packet, int offset, int nextHeaderOffset, bool multicastDestination, out Ipv6HeaderChain chain)
    {
        chain = new Ipv6HeaderChain { FragmentHeaderOffset = -1 };
        byte next = packet[nextHeaderOffset];
        for (int walked = 0; ; walked++)
        {
            switch (next)
            {
                case Ipv6NextHeader.HopByHop or Ipv6NextHeader.DestinationOptions or Ipv6NextHeader.Routing:
                    break;
                case Ipv6NextHeader.Fragment:
                    if (packet.Length < offset + 8)
                        return Fail(HeaderChainVerdict.Malformed, out chain);
                    chain = new Ipv6HeaderChain { UpperProtocol = packet[offset], UpperOffset = offset + 8, FragmentHeaderOffset = offset, LastNextHeaderOffset = offset };
                    return HeaderChainVerdict.Deliver;
                case Ipv6NextHeader.NoNextHeader:
                    return Fail(HeaderChainVerdict.NoNextHeader, out chain);
                default:
                    chain = new Ipv6HeaderChain { UpperProtocol = next, UpperOffset = offset, FragmentHeaderOffset = -1, LastNextHeaderOffset = nextHeaderOffset };
                    return HeaderChainVerdict.Deliver;
            }
            if (walked == MaxHeaders)
                return Fail(HeaderChainVerdict.TooLong, out chain);
            // RFC 8200 4.1: Hop-by-Hop only straight after the fixed header.
            if (next == Ipv6NextHeader.HopByHop && offset != Ipv6Packet.HeaderLength)
                return Problem(1, nextHeaderOffset, out chain);
            if (packet.Length < offset + 8)
                return Fail(HeaderChainVerdict.Malformed, out chain);
            int length = (packet[offset + 1] + 1) * 8;
            if (packet.Length < offset + length)
                return Fail(HeaderChainVerdict.Malformed, out chain);
            if (next == Ipv6NextHeader.Routing)
            {
                // RFC 8200 4.4: a routing header with segments left asks us to forward; no type is recognised by a
                // host (type 0 is deprecated, RFC 5095 3), so Parameter Problem code 0 at the routing type.
                if (packet[offset + 3] != 0)
                    return Problem(0, offset + 2, out chain);
            }
            else
            {
                var verdict = WalkOptions(packet, offset, length, multicastDestination, out int pointer);
                if (verdict == HeaderChainVerdict.ParameterProblem)
                    return Problem(2, pointer, out chain);
                if (verdict != HeaderChainVerdict.Deliver)
                    return Fail(verdict, out chain);
            }
            nextHeaderOffset = offset;
            next = packet[offset];
            offset += length;
        }
    }

    /// <summary>RFC 8200 4.2: the options of a Hop-by-Hop or Destination Options header.</summary>
    static HeaderChainVerdict WalkOptions(ReadOnlySpan<byte> packet, int start, int length, bool multicastDestination, out int pointer)
    {
        pointer = 0;
        int position = start + 2, end = start + length, options = 0, padding = 0;
        while (position < end)
        {
            byte type = packet[position];
            if (type == 0)
            {
                // Pad1
                if (++padding > 7)
                    return HeaderChainVerdict.Malformed;
                position++;
                continue;
            }
            if (position + 2 > end)
                return HeaderChainVerdict.Malformed;
            int optionLength = packet[position + 1];
            if (position + 2 + optionLength > end)
                return HeaderChainVerdict.Malformed;
            if (type == 1)
            {
                // PadN
                padding += optionLength + 2;
                if (padding > 7)
                    return HeaderChainVerdict.Malformed;
            }
            else
            {
                padding = 0;
                if (++options > MaxOptions)
                    return HeaderChainVerdict.TooLong;
                // Router Alert (RFC 2711), carried by MLD, needs nothing from a host; other options are unknown.
                if (type != 5)
                {
                    switch (type >> 6)
                    {
                        case 1:
                            return HeaderChainVerdict.Discard;
                        case 2:
                            pointer = position;
                            return HeaderChainVerdict.ParameterProblem;
                        case 3:
                            pointer = position;
                            return multicastDestination ? HeaderChainVerdict.Discard : HeaderChainVerdict.ParameterProblem;
                    }
                }
            }
            position += 2 + optionLength;
        }
        return HeaderChainVerdict.Deliver;
    }

    static HeaderChainVerdict Fail(HeaderChainVerdict verdict, out Ipv6HeaderChain chain)
    {
        chain = new Ipv6HeaderChain { FragmentHeaderOffset = -1 };
        return verdict;
    }

    static HeaderChainVerdict Problem(byte code, int pointer, out Ipv6HeaderChain chain)
    {
        chain = new Ipv6HeaderChain { FragmentHeaderOffset = -1, ErrorCode = code, ErrorPointer = pointer };
        return HeaderChainVerdict.ParameterProblem;
    }
}

/// <summary>The Fragment header (RFC 8200 4.5).</summary>
internal readonly ref struct Ipv6FragmentHeader
{
    public const int Length = 8;

    readonly ReadOnlySpan<byte> _bytes;

    public Ipv6FragmentHeader(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public byte NextHeader => _bytes[0];

    /// <summary>Offset of this fragment's data in the fragmentable part, in bytes.</summary>
    public int FragmentOffset => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]) & 0xFFF8;

    public bool MoreFragments => (_bytes[3] & 1) != 0;

    public uint Identification => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]);

    /// <summary>An atomic fragment (offset 0, no more fragments; RFC 6946): processed as a whole packet.</summary>
    public bool IsAtomic => FragmentOffset == 0 && !MoreFragments;

    public static void Write(Span<byte> destination, byte nextHeader, int fragmentOffset, bool moreFragments, uint identification)
    {
        destination[0] = nextHeader;
        destination[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)(fragmentOffset | (moreFragments ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], identification);
    }
}
