using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>TCP header flags (RFC 9293 3.1).</summary>
[Flags]
internal enum TcpFlags : byte
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>No more data from sender.</summary>
    Fin = 0x01,
    /// <summary>Synchronize sequence numbers.</summary>
    Syn = 0x02,
    /// <summary>Reset the connection.</summary>
    Rst = 0x04,
    /// <summary>Push function.</summary>
    Psh = 0x08,
    /// <summary>Acknowledgment field is significant.</summary>
    Ack = 0x10,
    /// <summary>Urgent pointer field is significant.</summary>
    Urg = 0x20,
    /// <summary>ECN echo (RFC 3168).</summary>
    Ece = 0x40,
    /// <summary>Congestion window reduced (RFC 3168).</summary>
    Cwr = 0x80,
}

/// <summary>One SACK block (RFC 2018): the left edge and the sequence number just past the right edge.</summary>
internal readonly record struct SackBlock(uint Left, uint Right);

/// <summary>The TCP options the stack understands, parsed from or to be written into a header.</summary>
internal struct TcpOptions
{
    /// <summary>Maximum segment size (RFC 9293 3.7.1), 0 when absent.</summary>
    public ushort MaximumSegmentSize;
    /// <summary>Window scale shift (RFC 7323 2), -1 when absent.</summary>
    public sbyte WindowScale;
    /// <summary>SACK permitted (RFC 2018).</summary>
    public bool SackPermitted;
    /// <summary>True when a timestamps option is present (RFC 7323 3).</summary>
    public bool HasTimestamps;
    /// <summary>TSval.</summary>
    public uint TimestampValue;
    /// <summary>TSecr.</summary>
    public uint TimestampEcho;
    /// <summary>Number of SACK blocks present (0..4).</summary>
    public int SackBlockCount;
    /// <summary>SACK blocks (the first <see cref="SackBlockCount"/> are valid).</summary>
    public SackBlocks Sack;

    /// <summary>Options with nothing set.</summary>
    public static TcpOptions None => new() { WindowScale = -1 };

    /// <summary>Room for up to four SACK blocks without allocation.</summary>
    [System.Runtime.CompilerServices.InlineArray(4)]
    public struct SackBlocks
    {
        SackBlock _element;
    }

    /// <summary>Bytes these options take on the wire, padded to a multiple of 4.</summary>
    public readonly int WireLength
    {
        get
        {
            int length = 0;
            if (MaximumSegmentSize != 0)
                length += 4;
            if (WindowScale >= 0)
                length += 3;
            if (SackPermitted)
                length += 2;
            if (HasTimestamps)
                length += 10;
            if (SackBlockCount > 0)
                length += 2 + 8 * SackBlockCount;
            return (length + 3) & ~3;
        }
    }
}

/// <summary>A TCP segment (RFC 9293 3.1) viewed over a caller's buffer.</summary>
internal readonly ref struct TcpSegment
{
    /// <summary>Length of a header without options.</summary>
    public const int MinimumHeaderLength = 20;

    /// <summary>Longest header (data offset 15).</summary>
    public const int MaximumHeaderLength = 60;

    const byte OptionEnd = 0, OptionNop = 1, OptionMss = 2, OptionWindowScale = 3, OptionSackPermitted = 4, OptionSack = 5, OptionTimestamps = 8;

    readonly Span<byte> _bytes;

    TcpSegment(Span<byte> bytes) => _bytes = bytes;

    /// <summary>False when the buffer is shorter than the header or the data offset is below 5 or past the buffer.</summary>
    public static bool TryParse(Span<byte> bytes, out TcpSegment segment)
    {
        segment = default;
        if (bytes.Length < MinimumHeaderLength)
            return false;
        int headerLength = (bytes[12] >> 4) * 4;
        if (headerLength < MinimumHeaderLength || headerLength > bytes.Length)
            return false;
        segment = new TcpSegment(bytes);
        return true;
    }

    /// <summary>Source port.</summary>
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes);
    /// <summary>Destination port.</summary>
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);
    /// <summary>Sequence number.</summary>
    public uint SequenceNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]);
    /// <summary>Acknowledgment number.</summary>
    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[8..]);
    /// <summary>Header length including options.</summary>
    public int HeaderLength => (_bytes[12] >> 4) * 4;
    /// <summary>Flags.</summary>
    public TcpFlags Flags => (TcpFlags)_bytes[13];
    /// <summary>Window field (before scaling).</summary>
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_bytes[14..]);

    /// <summary>The fixed fields, to write again.</summary>
    public TcpHeader Header => new(SourcePort, DestinationPort, SequenceNumber, AcknowledgmentNumber, Flags, Window);
    /// <summary>Stored checksum.</summary>
    public ushort StoredChecksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[16..]);
    /// <summary>Urgent pointer.</summary>
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_bytes[18..]);
    /// <summary>The raw option bytes.</summary>
    public ReadOnlySpan<byte> OptionBytes => _bytes[MinimumHeaderLength..HeaderLength];

    /// <summary>The header with its options, as it arrived (what an ICMP error about the segment quotes).</summary>
    public ReadOnlySpan<byte> HeaderBytes => _bytes[..HeaderLength];
    /// <summary>The payload.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];
    /// <summary>Length of the whole segment.</summary>
    public int Length => _bytes.Length;

    /// <summary>True when the checksum verifies against the pseudo-header of the addresses' family.</summary>
    internal bool IsChecksumValid(IpAddress source, IpAddress destination) =>
        Checksum.Compute(_bytes, Checksum.PseudoHeaderSum(source, destination, IpProtocol.Tcp, _bytes.Length)) == 0;

    /// <summary>
    /// Parses the options. Unknown options are skipped by their length; false when an option's length runs past the
    /// header or is impossible (the segment should then be dropped). Known options with a wrong length are ignored.
    /// </summary>
    public bool TryParseOptions(out TcpOptions options)
    {
        options = TcpOptions.None;
        var bytes = OptionBytes;
        int i = 0;
        while (i < bytes.Length)
        {
            byte kind = bytes[i];
            if (kind == OptionEnd)
                break;
            if (kind == OptionNop)
            {
                i++;
                continue;
            }
            if (i + 1 >= bytes.Length)
                return false;
            int length = bytes[i + 1];
            if (length < 2 || i + length > bytes.Length)
                return false;
            var value = bytes.Slice(i + 2, length - 2);
            switch (kind)
            {
                case OptionMss when length == 4:
                    options.MaximumSegmentSize = BinaryPrimitives.ReadUInt16BigEndian(value);
                    break;
                case OptionWindowScale when length == 3:
                    options.WindowScale = (sbyte)Math.Min(value[0], (byte)14);
                    break;
                case OptionSackPermitted when length == 2:
                    options.SackPermitted = true;
                    break;
                case OptionTimestamps when length == 10:
                    options.HasTimestamps = true;
                    options.TimestampValue = BinaryPrimitives.ReadUInt32BigEndian(value);
                    options.TimestampEcho = BinaryPrimitives.ReadUInt32BigEndian(value[4..]);
                    break;
                case OptionSack when (length - 2) % 8 == 0:
                    int blocks = Math.Min((length - 2) / 8, 4);
                    for (int b = 0; b < blocks; b++)
                        options.Sack[b] = new SackBlock(BinaryPrimitives.ReadUInt32BigEndian(value[(8 * b)..]), BinaryPrimitives.ReadUInt32BigEndian(value[(8 * b + 4)..]));
                    options.SackBlockCount = blocks;
                    break;
            }
            i += length;
        }
        return true;
    }

    /// <summary>Where the checksum field sits in the header.</summary>
    internal const int ChecksumOffset = 16;

    /// <summary>The header length a segment's data offset field gives.</summary>
    internal static int HeaderLengthOf(ReadOnlySpan<byte> segment) => (segment[12] >> 4) * 4;

    /// <summary>
    /// The ports and sequence number of a segment of which only the first 8 bytes may be at hand (as an ICMP error
    /// quotes it, RFC 792 and RFC 4443 2.4 c); false when fewer are.
    /// </summary>
    internal static bool TryReadQuoted(ReadOnlySpan<byte> quoted, out ushort sourcePort, out ushort destinationPort, out uint sequenceNumber)
    {
        if (quoted.Length < 8)
        {
            (sourcePort, destinationPort, sequenceNumber) = (0, 0, 0);
            return false;
        }
        sourcePort = BinaryPrimitives.ReadUInt16BigEndian(quoted);
        destinationPort = BinaryPrimitives.ReadUInt16BigEndian(quoted[2..]);
        sequenceNumber = BinaryPrimitives.ReadUInt32BigEndian(quoted[4..]);
        return true;
    }

    internal static void WriteOptions(Span<byte> destination, in TcpOptions options)
    {
        int i = 0;
        if (options.MaximumSegmentSize != 0)
        {
            destination[i] = OptionMss;
            destination[i + 1] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(destination[(i + 2)..], options.MaximumSegmentSize);
            i += 4;
        }
        if (options.SackPermitted)
        {
            destination[i] = OptionSackPermitted;
            destination[i + 1] = 2;
            i += 2;
        }
        if (options.HasTimestamps)
        {
            destination[i] = OptionTimestamps;
            destination[i + 1] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(destination[(i + 2)..], options.TimestampValue);
            BinaryPrimitives.WriteUInt32BigEndian(destination[(i + 6)..], options.TimestampEcho);
            i += 10;
        }
        if (options.WindowScale >= 0)
        {
            destination[i] = OptionWindowScale;
            destination[i + 1] = 3;
            destination[i + 2] = (byte)options.WindowScale;
            i += 3;
        }
        if (options.SackBlockCount > 0)
        {
            destination[i] = OptionSack;
            destination[i + 1] = (byte)(2 + 8 * options.SackBlockCount);
            i += 2;
            for (int b = 0; b < options.SackBlockCount; b++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(destination[i..], options.Sack[b].Left);
                BinaryPrimitives.WriteUInt32BigEndian(destination[(i + 4)..], options.Sack[b].Right);
                i += 8;
            }
        }
        destination[i..].Fill(OptionNop);
        if (i < destination.Length)
            destination[^1] = OptionEnd;
    }
}

/// <summary>
/// A TCP header's fixed fields (RFC 9293 3.1) as the stack writes them; the options are given, the data offset and
/// checksum worked out when it is written.
/// </summary>
internal readonly record struct TcpHeader(ushort SourcePort, ushort DestinationPort, uint SequenceNumber, uint AcknowledgmentNumber, TcpFlags Flags, ushort Window)
{
    /// <summary>
    /// Writes the header with <paramref name="options"/> in front of <paramref name="payloadLength"/> bytes already in
    /// place after it, and the checksum over the pseudo-header of <paramref name="source"/> and
    /// <paramref name="destination"/> (only that sum, left for the device, when <paramref name="partialChecksum"/>).
    /// Returns the segment's length.
    /// </summary>
    public int Write(Span<byte> segment, in TcpOptions options, int payloadLength, IpAddress source, IpAddress destination, bool partialChecksum = false)
    {
        int headerLength = TcpSegment.MinimumHeaderLength + options.WireLength;
        BinaryPrimitives.WriteUInt16BigEndian(segment, SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(segment[2..], DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(segment[4..], SequenceNumber);
        BinaryPrimitives.WriteUInt32BigEndian(segment[8..], AcknowledgmentNumber);
        segment[12] = (byte)(headerLength / 4 << 4);
        segment[13] = (byte)Flags;
        BinaryPrimitives.WriteUInt16BigEndian(segment[14..], Window);
        segment[16] = 0;
        segment[17] = 0;
        segment[18] = 0;
        segment[19] = 0;
        TcpSegment.WriteOptions(segment[TcpSegment.MinimumHeaderLength..headerLength], options);
        int length = headerLength + payloadLength;
        uint pseudoHeader = Checksum.PseudoHeaderSum(source, destination, IpProtocol.Tcp, length);
        // Partial: the field holds the pseudo-header sum, uncomplemented, for the device to add the rest to.
        ushort checksum = partialChecksum ? (ushort)pseudoHeader : Checksum.Compute(segment[..length], pseudoHeader);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.ChecksumOffset..], checksum);
        return length;
    }
}
