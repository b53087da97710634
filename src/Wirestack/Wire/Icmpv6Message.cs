using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>ICMPv6 message types (RFC 4443 2.1, RFC 4861 4, RFC 3810 5).</summary>
internal enum Icmpv6Type : byte
{
    DestinationUnreachable = 1,
    PacketTooBig = 2,
    TimeExceeded = 3,
    ParameterProblem = 4,
    EchoRequest = 128,
    EchoReply = 129,
    MulticastListenerQuery = 130,
    MulticastListenerReportV1 = 131,
    MulticastListenerDone = 132,
    RouterSolicitation = 133,
    RouterAdvertisement = 134,
    NeighborSolicitation = 135,
    NeighborAdvertisement = 136,
    Redirect = 137,
    MulticastListenerReportV2 = 143,
}

/// <summary>Codes of the ICMPv6 errors the stack sends (RFC 4443 3).</summary>
internal static class Icmpv6Code
{
    public const byte NoRoute = 0;
    public const byte AdministrativelyProhibited = 1;
    public const byte AddressUnreachable = 3;
    public const byte PortUnreachable = 4;
    public const byte HopLimitExceeded = 0;
    public const byte ReassemblyTimeExceeded = 1;
    public const byte ErroneousHeaderField = 0;
    public const byte UnrecognizedNextHeader = 1;
    public const byte UnrecognizedOption = 2;
    public const byte IncompleteHeaderChain = 3;
}

/// <summary>An ICMPv6 message (RFC 4443 2.1) viewed over a caller's buffer: type, code, checksum, then the body.</summary>
internal readonly ref struct Icmpv6Message
{
    public const int HeaderLength = 4;

    readonly Span<byte> _bytes;

    Icmpv6Message(Span<byte> bytes) => _bytes = bytes;

    /// <summary>False when shorter than the 4-byte header (the checksum is checked by <see cref="IsChecksumValid"/>).</summary>
    public static bool TryParse(Span<byte> bytes, out Icmpv6Message message)
    {
        message = bytes.Length >= HeaderLength ? new Icmpv6Message(bytes) : default;
        return bytes.Length >= HeaderLength;
    }

    public Span<byte> Bytes => _bytes;
    public Icmpv6Type Type => (Icmpv6Type)_bytes[0];
    public byte Code => _bytes[1];

    /// <summary>Everything after type, code and checksum.</summary>
    public Span<byte> Body => _bytes[HeaderLength..];

    /// <summary>True when the checksum verifies over the IPv6 pseudo-header (RFC 4443 2.3).</summary>
    public bool IsChecksumValid(IpAddress source, IpAddress destination) =>
        Checksum.Compute(_bytes, Checksum.PseudoHeaderSum(source, destination, IpProtocol.Icmpv6, _bytes.Length)) == 0;

    /// <summary>
    /// An error's body (RFC 4443 3): the 32-bit parameter (MTU, pointer, or unused) and the quote of the offending
    /// packet behind it. Returns the message's length with its 4-byte header.
    /// </summary>
    public static int WriteErrorBody(Span<byte> message, uint parameter, ReadOnlySpan<byte> quote)
    {
        BinaryPrimitives.WriteUInt32BigEndian(message[HeaderLength..], parameter);
        quote.CopyTo(message[(HeaderLength + 4)..]);
        return HeaderLength + 4 + quote.Length;
    }

    /// <summary>The error's parameter (RFC 4443 3: MTU for Packet Too Big, the pointer for Parameter Problem).</summary>
    public uint ErrorParameter => BinaryPrimitives.ReadUInt32BigEndian(_bytes[HeaderLength..]);

    /// <summary>What an error quotes: the invoking packet, as much as fits (RFC 4443 2.4 c).</summary>
    public Span<byte> ErrorQuote => _bytes[(HeaderLength + 4)..];

    /// <summary>Writes type and code and computes the checksum over a body already in place.</summary>
    public static void Finish(Span<byte> message, Icmpv6Type type, byte code, IpAddress source, IpAddress destination)
    {
        message[0] = (byte)type;
        message[1] = code;
        message[2] = 0;
        message[3] = 0;
        ushort checksum = Checksum.Compute(message, Checksum.PseudoHeaderSum(source, destination, IpProtocol.Icmpv6, message.Length));
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], checksum);
    }
}

/// <summary>NDP option types (RFC 4861 4.6, RFC 8106 5).</summary>
internal static class NdpOptionType
{
    public const byte SourceLinkLayerAddress = 1;
    public const byte TargetLinkLayerAddress = 2;
    public const byte PrefixInformation = 3;
    public const byte RedirectedHeader = 4;
    public const byte Mtu = 5;
    public const byte RecursiveDnsServer = 25;
    public const byte DnsSearchList = 31;
}

/// <summary>
/// The options of an NDP message (RFC 4861 4.6): type, length in units of 8 bytes, data. <see cref="Validate"/>
/// refuses the whole message when any option has length 0 or runs past the end, as 4.6 and 6.1/7.1 require.
/// </summary>
internal ref struct NdpOptionReader(ReadOnlySpan<byte> options)
{
    ReadOnlySpan<byte> _rest = options;

    /// <summary>True when every option has a nonzero length inside the message.</summary>
    public static bool Validate(ReadOnlySpan<byte> options)
    {
        while (options.Length > 0)
        {
            if (options.Length < 2 || options[1] == 0 || options[1] * 8 > options.Length)
                return false;
            options = options[(options[1] * 8)..];
        }
        return true;
    }

    /// <summary>The next option (type, and the whole option including its type and length bytes).</summary>
    public bool TryNext(out byte type, out ReadOnlySpan<byte> option)
    {
        if (_rest.Length < 2 || _rest[1] == 0 || _rest[1] * 8 > _rest.Length)
        {
            type = 0;
            option = default;
            return false;
        }
        type = _rest[0];
        option = _rest[..(_rest[1] * 8)];
        _rest = _rest[option.Length..];
        return true;
    }

    /// <summary>The link-layer address in a Source/Target Link-Layer Address option of an Ethernet link.</summary>
    public static bool TryReadLinkAddress(ReadOnlySpan<byte> option, out MacAddress address)
    {
        address = option.Length >= 8 ? MacAddress.Read(option[2..]) : default;
        return option.Length >= 8;
    }

    /// <summary>Writes a link-layer address option (8 bytes on Ethernet).</summary>
    public static int WriteLinkAddress(Span<byte> destination, byte type, MacAddress address)
    {
        destination[0] = type;
        destination[1] = 1;
        address.WriteTo(destination[2..]);
        return 8;
    }
}

/// <summary>A Prefix Information option (RFC 4861 4.6.2), 32 bytes.</summary>
internal readonly ref struct NdpPrefixInformation
{
    readonly ReadOnlySpan<byte> _bytes;

    NdpPrefixInformation(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryParse(ReadOnlySpan<byte> option, out NdpPrefixInformation prefix)
    {
        prefix = option.Length == 32 && option[2] <= 128 ? new NdpPrefixInformation(option) : default;
        return option.Length == 32 && option[2] <= 128;
    }

    public int PrefixLength => _bytes[2];
    public bool OnLink => (_bytes[3] & 0x80) != 0;
    public bool Autonomous => (_bytes[3] & 0x40) != 0;

    /// <summary>Seconds; 0xFFFFFFFF is infinity.</summary>
    public uint ValidLifetime => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]);

    public uint PreferredLifetime => BinaryPrimitives.ReadUInt32BigEndian(_bytes[8..]);
    public IpAddress Prefix => IpAddress.Read(_bytes[16..]);
}
