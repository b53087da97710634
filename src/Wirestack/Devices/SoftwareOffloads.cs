using System.Buffers.Binary;
using Wirestack.Wire;

namespace Wirestack.Devices;

/// <summary>Takes one finished frame; false when it could not be sent.</summary>
internal delegate bool FrameSink(ReadOnlySpan<byte> frame);

/// <summary>
/// A device's software fallback: finishes offloaded frames (see <see cref="SoftwareOffloads"/>) and hands the plain
/// results to <paramref name="sendPlain"/>. Its scratch buffer is taken at the first frame that needs it.
/// </summary>
internal sealed class SoftwareOffloader(LinkMedium medium, FrameSink sendPlain)
{
    byte[]? _scratch;

    /// <summary>True when at least one finished frame was sent.</summary>
    public bool Send(ReadOnlySpan<byte> frame, in VirtioNetHeader header)
    {
        _scratch ??= new byte[VirtioNetHeader.FrameBufferLength];
        return SoftwareOffloads.Finish(frame, header, medium == LinkMedium.Ethernet ? EthernetFrame.HeaderLength : 0, _scratch, sendPlain) > 0;
    }
}

/// <summary>
/// What a NIC does for a frame the stack left unfinished, done in software: for a device or peer that cannot take
/// it whole (a kernel that refuses the header, an in-memory peer without offloads). Completes a partial checksum,
/// and cuts a long TCP segment into pieces of the segment size as the kernel's TCP segmentation does: each piece
/// behind a copy of the headers, its sequence number advanced, IPv4's identification counting up, FIN and PSH on
/// the last piece only, CWR on the first only, and every length and checksum computed for the piece.
/// </summary>
internal static class SoftwareOffloads
{
    const byte Fin = 0x01, Psh = 0x08, Cwr = 0x80;

    /// <summary>
    /// Finishes <paramref name="frame"/> (its IP packet at <paramref name="networkStart"/>) as
    /// <paramref name="header"/> asks and hands each resulting frame to <paramref name="sink"/>, built in
    /// <paramref name="scratch"/> (room for the headers and one segment). Returns how many frames the sink took, or
    /// -1 when the frame does not match its header (nothing is sent).
    /// </summary>
    public static int Finish(ReadOnlySpan<byte> frame, in VirtioNetHeader header, int networkStart, Span<byte> scratch, FrameSink sink)
    {
        if (!header.IsOffloaded)
            return sink(frame) ? 1 : 0;
        if (header.Check(frame.Length) != VirtioNetHeaderCheck.Valid || (header.Flags & VirtioNetHeader.NeedsChecksum) == 0
            || scratch.Length < frame.Length && header.Gso == GsoType.None)
            return -1;
        if (header.Gso == GsoType.None)
        {
            var copy = scratch[..frame.Length];
            frame.CopyTo(copy);
            CompleteChecksum(copy, header.ChecksumStart, header.ChecksumOffset);
            return sink(copy) ? 1 : 0;
        }
        return Segment(frame, header, networkStart, scratch, sink);
    }

    /// <summary>Adds the sum of everything from <paramref name="start"/> on to the pseudo-header sum held in the field, as a NIC does.</summary>
    public static void CompleteChecksum(Span<byte> frame, int start, int offset)
    {
        ushort checksum = Checksum.Compute(frame[start..]);
        // Zero is "no checksum" to UDP; one's complement has a second zero to send instead (RFC 768).
        BinaryPrimitives.WriteUInt16BigEndian(frame[(start + offset)..], checksum == 0 ? (ushort)0xFFFF : checksum);
    }

    static int Segment(ReadOnlySpan<byte> frame, in VirtioNetHeader header, int networkStart, Span<byte> scratch, FrameSink sink)
    {
        int transportStart = header.ChecksumStart;
        if (networkStart + Ipv4Packet.MinimumHeaderLength > transportStart || header.ChecksumOffset != TcpSegment.ChecksumOffset
            || transportStart + TcpSegment.MinimumHeaderLength > frame.Length)
            return -1;
        bool ipv6 = frame[networkStart] >> 4 == 6;
        if (ipv6 != (header.Gso == GsoType.TcpV6) || ipv6 && networkStart + Ipv6Packet.HeaderLength > transportStart)
            return -1;
        int tcpHeader = TcpSegment.HeaderLengthOf(frame[transportStart..]);
        int headers = transportStart + tcpHeader;
        int size = header.GsoSize;
        if (tcpHeader < TcpSegment.MinimumHeaderLength || headers > frame.Length || scratch.Length < headers + size)
            return -1;
        var network = frame[networkStart..];
        IpAddress source = ipv6 ? IpAddress.Read(network[8..]) : Ipv4Address.Read(network[12..]);
        IpAddress destination = ipv6 ? IpAddress.Read(network[24..]) : Ipv4Address.Read(network[16..]);
        ushort identification = BinaryPrimitives.ReadUInt16BigEndian(network[4..]);
        uint sequence = BinaryPrimitives.ReadUInt32BigEndian(frame[(transportStart + 4)..]);
        byte flags = frame[transportStart + 13];
        int payload = frame.Length - headers;
        int sent = 0;
        for (int offset = 0, index = 0; ; offset += size, index++)
        {
            int piece = Math.Min(size, payload - offset);
            bool last = offset + piece >= payload;
            var output = scratch[..(headers + piece)];
            frame[..headers].CopyTo(output);
            frame.Slice(headers + offset, piece).CopyTo(output[headers..]);
            var ip = output[networkStart..];
            if (ipv6)
            {
                BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(output.Length - networkStart - Ipv6Packet.HeaderLength));
            }
            else
            {
                int ipHeader = (ip[0] & 0x0F) * 4;
                BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(output.Length - networkStart));
                BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)(identification + index));
                ip[10] = 0;
                ip[11] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.Compute(ip[..ipHeader]));
            }
            var tcp = output[transportStart..];
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence + (uint)offset);
            tcp[13] = (byte)(flags & ~(last ? 0 : Fin | Psh) & ~(index == 0 ? 0 : Cwr));
            tcp[TcpSegment.ChecksumOffset] = 0;
            tcp[TcpSegment.ChecksumOffset + 1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(tcp[TcpSegment.ChecksumOffset..], Checksum.Compute(tcp, Checksum.PseudoHeaderSum(source, destination, IpProtocol.Tcp, tcp.Length)));
            if (sink(output))
                sent++;
            if (last)
                break;
        }
        return sent;
    }
}
