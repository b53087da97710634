using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>Next Header values of the IPv6 extension headers (RFC 8200 4) and their neighbours.</summary>
internal static class Ipv6NextHeader
{
    public const byte HopByHop = 0;
    public const byte Routing = 43;
    public const byte Fragment = 44;
    public const byte EncapsulatingSecurityPayload = 50;
    public const byte Authentication = 51;
    public const byte NoNextHeader = 59;
    public const byte DestinationOptions = 60;
}

/// <summary>An IPv6 packet (RFC 8200 3) viewed over a caller's buffer, trimmed to its payload length.</summary>
internal readonly ref struct Ipv6Packet
{
    /// <summary>The fixed header.</summary>
    public const int HeaderLength = 40;

    /// <summary>The smallest MTU every IPv6 link has (RFC 8200 5).</summary>
    public const int MinimumMtu = 1280;

    /// <summary>The largest payload the 16-bit Payload Length field can state (RFC 8200 3; jumbograms are not supported).</summary>
    public const int MaximumPayloadLength = 65535;

    readonly Span<byte> _bytes;

    Ipv6Packet(Span<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// False when the buffer is shorter than the header, the version is not 6, or the payload length runs past the
    /// buffer. A payload length of zero (a jumbogram, RFC 2675) is refused: no link this stack runs on carries one.
    /// Bytes past the payload (Ethernet padding) are excluded from the view.
    /// </summary>
    public static bool TryParse(Span<byte> bytes, out Ipv6Packet packet)
    {
        packet = default;
        if (bytes.Length < HeaderLength || bytes[0] >> 4 != 6)
            return false;
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        if (payloadLength == 0 && bytes[6] == Ipv6NextHeader.HopByHop)
            return false;
        if (HeaderLength + payloadLength > bytes.Length)
            return false;
        packet = new Ipv6Packet(bytes[..(HeaderLength + payloadLength)]);
        return true;
    }

    /// <summary>The whole packet.</summary>
    public Span<byte> Bytes => _bytes;

    /// <summary>Traffic class (DSCP and ECN).</summary>
    public byte TrafficClass => (byte)(BinaryPrimitives.ReadUInt16BigEndian(_bytes) >> 4);

    /// <summary>Bytes after the fixed header.</summary>
    public int PayloadLength => _bytes.Length - HeaderLength;

    /// <summary>The first Next Header.</summary>
    public byte NextHeader => _bytes[6];

    /// <summary>Hop limit.</summary>
    public byte HopLimit => _bytes[7];

    public IpAddress Source => IpAddress.Read(_bytes[8..]);

    public IpAddress Destination => IpAddress.Read(_bytes[24..]);

    /// <summary>Everything after the fixed header.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>Writes a fixed header (traffic class and flow label zero) in front of <paramref name="payloadLength"/> bytes.</summary>
    public static void WriteHeader(Span<byte> packet, int payloadLength, byte nextHeader, byte hopLimit, IpAddress source, IpAddress destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(packet, 0x6000_0000);
        BinaryPrimitives.WriteUInt16BigEndian(packet[4..], (ushort)payloadLength);
        packet[6] = nextHeader;
        packet[7] = hopLimit;
        source.WriteTo(packet[8..]);
        destination.WriteTo(packet[24..]);
    }
}
