using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>A UDP datagram (RFC 768) viewed over a caller's buffer, trimmed to its length field.</summary>
internal readonly ref struct UdpDatagram
{
    /// <summary>Length of the UDP header.</summary>
    public const int HeaderLength = 8;

    readonly Span<byte> _bytes;

    UdpDatagram(Span<byte> bytes) => _bytes = bytes;

    /// <summary>False when the buffer is shorter than the header or the length field is below 8 or past the buffer.</summary>
    public static bool TryParse(Span<byte> bytes, out UdpDatagram datagram)
    {
        datagram = default;
        if (bytes.Length < HeaderLength)
            return false;
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        if (length < HeaderLength || length > bytes.Length)
            return false;
        datagram = new UdpDatagram(bytes[..length]);
        return true;
    }

    /// <summary>Source port.</summary>
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes);

    /// <summary>Destination port.</summary>
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);

    /// <summary>Length of header and payload.</summary>
    public int Length => _bytes.Length;

    /// <summary>The checksum as stored; zero means the sender computed none.</summary>
    public ushort StoredChecksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

    /// <summary>The payload.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>
    /// True when the checksum verifies against the pseudo-header of the addresses' family, or is absent (zero) over
    /// IPv4. Over IPv6 the checksum is mandatory and a zero one fails (RFC 8200 8.1).
    /// </summary>
    internal bool IsChecksumValid(IpAddress source, IpAddress destination) =>
        StoredChecksum == 0 ? source.IsIpv4 : Checksum.Compute(_bytes, Checksum.PseudoHeaderSum(source, destination, IpProtocol.Udp, _bytes.Length)) == 0;

    /// <summary>Where the checksum sits in the header (what a device finishing it needs to know).</summary>
    internal const int ChecksumOffset = 6;

    /// <summary>
    /// Writes the header for a payload already in place after it and computes the checksum (a computed zero is sent
    /// as 0xFFFF, RFC 768); with <paramref name="partialChecksum"/> the checksum field holds only the pseudo-header's
    /// sum, for the device to finish. Returns the datagram length.
    /// </summary>
    internal static int WriteHeader(Span<byte> datagram, ushort sourcePort, ushort destinationPort, int payloadLength, IpAddress source, IpAddress destination,
        bool partialChecksum = false)
    {
        int length = HeaderLength + payloadLength;
        BinaryPrimitives.WriteUInt16BigEndian(datagram, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[4..], (ushort)length);
        datagram[6] = 0;
        datagram[7] = 0;
        uint pseudoHeader = Checksum.PseudoHeaderSum(source, destination, IpProtocol.Udp, length);
        if (partialChecksum)
        {
            BinaryPrimitives.WriteUInt16BigEndian(datagram[ChecksumOffset..], (ushort)pseudoHeader);
            return length;
        }
        ushort checksum = Checksum.Compute(datagram[..length], pseudoHeader);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[ChecksumOffset..], checksum == 0 ? (ushort)0xFFFF : checksum);
        return length;
    }
}
