using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>How a frame carried behind a <see cref="VirtioNetHeader"/> is segmented (virtio 1.x, 5.1.6).</summary>
internal enum GsoType : byte
{
    /// <summary>An ordinary frame.</summary>
    None = 0,
    /// <summary>A TCP segment over IPv4 longer than the MSS, cut into MSS-sized ones by whoever must.</summary>
    TcpV4 = 1,
    /// <summary>UDP fragmentation offload (legacy); never asked for, so refused.</summary>
    Udp = 3,
    /// <summary>A TCP segment over IPv6 longer than the MSS.</summary>
    TcpV6 = 4,
    /// <summary>UDP segmentation offload; never asked for, so refused.</summary>
    UdpL4 = 5,
}

/// <summary>The outcome of checking a received header against its frame.</summary>
internal enum VirtioNetHeaderCheck
{
    Valid,
    /// <summary>A segmentation type the stack did not ask for, or one with a segment size of 0.</summary>
    BadGso,
    /// <summary>The checksum start and offset point past the frame.</summary>
    BadChecksumPlace,
    /// <summary>The header length is past the frame.</summary>
    BadHeaderLength,
}

/// <summary>
/// The virtio-net header (struct virtio_net_hdr, 10 bytes, host byte order) that a TAP or TUN opened with
/// IFF_VNET_HDR puts before every frame: whether the transport checksum is still to be computed (and where), or
/// already checked, and whether the frame is one long TCP segment to be cut into <see cref="GsoSize"/>-byte pieces.
/// </summary>
internal readonly record struct VirtioNetHeader(byte Flags, GsoType Gso, bool Ecn, ushort HeaderLength, ushort GsoSize, ushort ChecksumStart, ushort ChecksumOffset)
{
    /// <summary>The header's size on the wire.</summary>
    public const int Length = 10;

    /// <summary>
    /// The buffer an offloaded frame needs: the largest segment a kernel hands over (its GSO limit, 64 KiB of IP
    /// packet), an Ethernet header with a VLAN tag, and one byte more: a frame that fills it was longer than any
    /// the stack takes.
    /// </summary>
    public const int FrameBufferLength = 65536 + 18 + 1;

    /// <summary>The transport checksum field holds only the pseudo-header sum: the rest is still to be added.</summary>
    public const byte NeedsChecksum = 1;

    /// <summary>The transport checksum was checked already.</summary>
    public const byte DataValid = 2;

    const byte GsoEcn = 0x80;

    /// <summary>True when the sender vouches for the transport checksum: computed later (partial) or already checked.</summary>
    public bool ChecksumVouched => (Flags & (NeedsChecksum | DataValid)) != 0;

    /// <summary>True when the frame behind this header is not ready for the wire: a checksum or a segmentation is left to do.</summary>
    public bool IsOffloaded => (Flags & NeedsChecksum) != 0 || Gso != GsoType.None;

    /// <summary>
    /// The header of a transport segment whose checksum field holds only the pseudo-header sum: whoever puts it on
    /// the wire adds the sum of everything from <paramref name="checksumStart"/> on and stores the result
    /// <paramref name="checksumOffset"/> bytes further (16 for TCP, 6 for UDP).
    /// </summary>
    public static VirtioNetHeader PartialChecksum(int checksumStart, int checksumOffset) =>
        new(NeedsChecksum, GsoType.None, false, 0, 0, (ushort)checksumStart, (ushort)checksumOffset);

    /// <summary>
    /// The header of one long TCP segment (partial checksum at <paramref name="transportStart"/>) to be cut into
    /// pieces of <paramref name="segmentSize"/> payload bytes, each behind a copy of the first
    /// <paramref name="headerLength"/> bytes (link, network and TCP headers).
    /// </summary>
    public static VirtioNetHeader TcpSegmentation(bool ipv6, int transportStart, int headerLength, int segmentSize) =>
        new(NeedsChecksum, ipv6 ? GsoType.TcpV6 : GsoType.TcpV4, false, (ushort)headerLength, (ushort)segmentSize, (ushort)transportStart, TcpSegment.ChecksumOffset);

    /// <summary>This header for the same packet behind a link header of <paramref name="length"/> bytes.</summary>
    public VirtioNetHeader BehindLinkHeader(int length) => !IsOffloaded ? this : this with
    {
        ChecksumStart = (ushort)(ChecksumStart + length),
        HeaderLength = HeaderLength == 0 ? (ushort)0 : (ushort)(HeaderLength + length),
    };

    /// <summary>Reads a header; <paramref name="bytes"/> holds at least <see cref="Length"/> bytes.</summary>
    public static VirtioNetHeader Read(ReadOnlySpan<byte> bytes) => new(
        bytes[0],
        (GsoType)(bytes[1] & ~GsoEcn),
        (bytes[1] & GsoEcn) != 0,
        BinaryPrimitives.ReadUInt16LittleEndian(bytes[2..]),
        BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]),
        BinaryPrimitives.ReadUInt16LittleEndian(bytes[6..]),
        BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]));

    /// <summary>Writes this header into the first <see cref="Length"/> bytes of <paramref name="bytes"/>.</summary>
    public void Write(Span<byte> bytes)
    {
        bytes[0] = Flags;
        bytes[1] = (byte)((byte)Gso | (Ecn ? GsoEcn : 0));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[2..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[6..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[8..], ChecksumOffset);
    }

    /// <summary>
    /// Checks a received header against the <paramref name="frameLength"/> bytes that followed it. A frame the
    /// stack takes whole needs nothing segmented but TCP (the only kind it offered to take), a segment size when it
    /// is a super-frame, and checksum and header positions inside the frame.
    /// </summary>
    public VirtioNetHeaderCheck Check(int frameLength)
    {
        if (Gso is not (GsoType.None or GsoType.TcpV4 or GsoType.TcpV6) || (Gso != GsoType.None && GsoSize == 0))
            return VirtioNetHeaderCheck.BadGso;
        if ((Flags & NeedsChecksum) != 0 && ChecksumStart + ChecksumOffset + 2 > frameLength)
            return VirtioNetHeaderCheck.BadChecksumPlace;
        if (HeaderLength > frameLength)
            return VirtioNetHeaderCheck.BadHeaderLength;
        return VirtioNetHeaderCheck.Valid;
    }
}
