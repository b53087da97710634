using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>
/// The network header of a packet that may be cut short: as an ICMP error quotes it (RFC 792, RFC 4443 2.4 c), as a
/// reassembler holds a first fragment, or as the engine holds one of its own. Unlike <see cref="Ipv4Packet"/> and
/// <see cref="Ipv6Packet"/> it does not ask the length fields to match the bytes at hand: only the header is read.
/// </summary>
internal readonly ref struct QuotedPacket
{
    readonly ReadOnlySpan<byte> _bytes;

    QuotedPacket(ReadOnlySpan<byte> bytes, int headerLength)
    {
        _bytes = bytes;
        HeaderLength = headerLength;
    }

    /// <summary>The IP version in a packet's first byte (4 or 6), or 0 when there is no byte.</summary>
    public static int VersionOf(ReadOnlySpan<byte> packet) => packet.IsEmpty ? 0 : packet[0] >> 4;

    /// <summary>
    /// False unless the bytes hold a whole IPv4 header (its IHL at least 5) or the 40-byte IPv6 header. For IPv6 the
    /// header is the fixed one; extension headers behind it are the caller's to walk.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out QuotedPacket packet)
    {
        packet = default;
        switch (VersionOf(bytes))
        {
            case 4 when bytes.Length >= Ipv4Packet.MinimumHeaderLength:
                int headerLength = (bytes[0] & 0x0F) * 4;
                if (headerLength < Ipv4Packet.MinimumHeaderLength || bytes.Length < headerLength)
                    return false;
                packet = new QuotedPacket(bytes, headerLength);
                return true;
            case 6 when bytes.Length >= Ipv6Packet.HeaderLength:
                packet = new QuotedPacket(bytes, Ipv6Packet.HeaderLength);
                return true;
            default:
                return false;
        }
    }

    public bool IsIpv4 => _bytes[0] >> 4 == 4;

    /// <summary>The IPv4 header with its options, or IPv6's fixed 40 bytes.</summary>
    public int HeaderLength { get; }

    public IpAddress Source => IsIpv4 ? Ipv4Address.Read(_bytes[12..]) : IpAddress.Read(_bytes[8..]);

    public IpAddress Destination => IsIpv4 ? Ipv4Address.Read(_bytes[16..]) : IpAddress.Read(_bytes[24..]);

    /// <summary>IPv4's Time to Live or IPv6's Hop Limit.</summary>
    public byte HopLimit => _bytes[IsIpv4 ? 8 : 7];

    /// <summary>IPv4's Protocol, or IPv6's Next Header (the first extension header, if any).</summary>
    public byte Protocol => _bytes[IsIpv4 ? 9 : 6];

    /// <summary>IPv4: a fragment other than the first (its offset is not 0).</summary>
    public bool IsLaterFragment => IsIpv4 && (BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]) & 0x1FFF) != 0;

    /// <summary>What follows the header (for IPv4, after its options), as far as the bytes go.</summary>
    public ReadOnlySpan<byte> Payload => _bytes[HeaderLength..];
}

/// <summary>The ports of a UDP or TCP header (the same first four bytes, RFC 768 and RFC 9293 3.1).</summary>
internal static class TransportPorts
{
    /// <summary>False when fewer than 4 bytes are at hand.</summary>
    public static bool TryRead(ReadOnlySpan<byte> header, out ushort sourcePort, out ushort destinationPort)
    {
        if (header.Length < 4)
        {
            (sourcePort, destinationPort) = (0, 0);
            return false;
        }
        sourcePort = BinaryPrimitives.ReadUInt16BigEndian(header);
        destinationPort = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        return true;
    }
}
