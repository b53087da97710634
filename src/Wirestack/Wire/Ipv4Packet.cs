using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>IP protocol numbers the stack understands.</summary>
internal static class IpProtocol
{
    /// <summary>ICMP (1).</summary>
    public const byte Icmp = 1;
    /// <summary>IGMP (2).</summary>
    public const byte Igmp = 2;
    /// <summary>TCP (6).</summary>
    public const byte Tcp = 6;
    /// <summary>UDP (17).</summary>
    public const byte Udp = 17;
    /// <summary>ICMPv6 (58).</summary>
    public const byte Icmpv6 = 58;
}

/// <summary>An IPv4 packet (RFC 791) viewed over a caller's buffer, trimmed to its total length.</summary>
internal readonly ref struct Ipv4Packet
{
    /// <summary>Length of a header without options.</summary>
    public const int MinimumHeaderLength = 20;

    /// <summary>Largest total length a datagram can have.</summary>
    public const int MaximumLength = 65535;

    /// <summary>Don't Fragment flag in the flags/offset word.</summary>
    public const ushort DontFragmentFlag = 0x4000;

    /// <summary>More Fragments flag in the flags/offset word.</summary>
    public const ushort MoreFragmentsFlag = 0x2000;

    readonly Span<byte> _bytes;

    Ipv4Packet(Span<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// False when the buffer is shorter than the header, the version is not 4, the header length is below 20 or past
    /// the buffer, or the total length is below the header length or past the buffer. Bytes past the total length
    /// (Ethernet padding) are excluded from the view. The checksum is not checked here: see <see cref="IsHeaderChecksumValid"/>.
    /// </summary>
    public static bool TryParse(Span<byte> bytes, out Ipv4Packet packet)
    {
        packet = default;
        if (bytes.Length < MinimumHeaderLength)
            return false;
        if (bytes[0] >> 4 != 4)
            return false;
        int headerLength = (bytes[0] & 0x0F) * 4;
        if (headerLength < MinimumHeaderLength || headerLength > bytes.Length)
            return false;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
        if (totalLength < headerLength || totalLength > bytes.Length)
            return false;
        packet = new Ipv4Packet(bytes[..totalLength]);
        return true;
    }

    /// <summary>The whole packet, header and payload.</summary>
    public Span<byte> Bytes => _bytes;

    /// <summary>Header length in bytes, options included.</summary>
    public int HeaderLength => (_bytes[0] & 0x0F) * 4;

    /// <summary>Type of service / DSCP+ECN byte.</summary>
    public byte TypeOfService => _bytes[1];

    /// <summary>Total length of the datagram (or of this fragment).</summary>
    public int TotalLength => _bytes.Length;

    /// <summary>Identification field, shared by all fragments of one datagram.</summary>
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..]);

    /// <summary>True when the sender forbids fragmentation.</summary>
    public bool DontFragment => (FlagsAndOffset & DontFragmentFlag) != 0;

    /// <summary>True when more fragments of the datagram follow this one.</summary>
    public bool MoreFragments => (FlagsAndOffset & MoreFragmentsFlag) != 0;

    /// <summary>Offset of this fragment's payload in the datagram, in bytes.</summary>
    public int FragmentOffset => (FlagsAndOffset & 0x1FFF) * 8;

    /// <summary>True when this packet is a fragment rather than a whole datagram.</summary>
    public bool IsFragment => MoreFragments || FragmentOffset != 0;

    ushort FlagsAndOffset => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

    /// <summary>Time to live.</summary>
    public byte TimeToLive => _bytes[8];

    /// <summary>The protocol of the payload (see <see cref="IpProtocol"/>).</summary>
    public byte Protocol => _bytes[9];

    /// <summary>The header checksum as stored.</summary>
    public ushort HeaderChecksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[10..]);

    /// <summary>True when the header checksum verifies.</summary>
    public bool IsHeaderChecksumValid => Checksum.Compute(_bytes[..HeaderLength]) == 0;

    /// <summary>Source address.</summary>
    public Ipv4Address Source => Ipv4Address.Read(_bytes[12..]);

    /// <summary>Destination address.</summary>
    public Ipv4Address Destination => Ipv4Address.Read(_bytes[16..]);

    /// <summary>The options (possibly empty); the stack skips them.</summary>
    public Span<byte> Options => _bytes[MinimumHeaderLength..HeaderLength];

    /// <summary>The payload: the datagram's data or this fragment's share of it.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>The header's fields, to write again (fragments keep the original's, reassembly writes the whole datagram's).</summary>
    public Ipv4Header Header => new(Source, Destination, Protocol, TimeToLive, Identification)
    {
        TypeOfService = TypeOfService,
        DontFragment = DontFragment,
        MoreFragments = MoreFragments,
        FragmentOffset = FragmentOffset,
    };
}

/// <summary>
/// An IPv4 header's fields (RFC 791 3.1) as the stack writes them; lengths and the checksum are worked out when it is
/// written. <see cref="FragmentOffset"/> is in bytes and must be a multiple of 8.
/// </summary>
internal readonly record struct Ipv4Header(Ipv4Address Source, Ipv4Address Destination, byte Protocol, byte TimeToLive, ushort Identification)
{
    public byte TypeOfService { get; init; }
    public bool DontFragment { get; init; }
    public bool MoreFragments { get; init; }
    public int FragmentOffset { get; init; }

    /// <summary>
    /// Writes the header with a correct checksum into <paramref name="destination"/>: 20 bytes, and
    /// <paramref name="options"/> behind them (a multiple of 4 bytes, at most 40), for a packet of
    /// <paramref name="totalLength"/> bytes. Returns the header's length.
    /// </summary>
    public int Write(Span<byte> destination, int totalLength, ReadOnlySpan<byte> options = default)
    {
        if (options.Length % 4 != 0 || options.Length > 40)
            throw new ArgumentException("IPv4 options take a multiple of 4 bytes, at most 40.", nameof(options));
        int headerLength = Ipv4Packet.MinimumHeaderLength + options.Length;
        var header = destination[..headerLength];
        header[0] = (byte)(0x40 | headerLength / 4);
        header[1] = TypeOfService;
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], Identification);
        ushort flags = (ushort)((DontFragment ? Ipv4Packet.DontFragmentFlag : 0) | (MoreFragments ? Ipv4Packet.MoreFragmentsFlag : 0) | ((FragmentOffset / 8) & 0x1FFF));
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], flags);
        header[8] = TimeToLive;
        header[9] = Protocol;
        header[10] = 0;
        header[11] = 0;
        Source.WriteTo(header[12..]);
        Destination.WriteTo(header[16..]);
        options.CopyTo(header[Ipv4Packet.MinimumHeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], Checksum.Compute(header));
        return headerLength;
    }
}
