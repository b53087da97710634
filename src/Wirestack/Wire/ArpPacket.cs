using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>ARP operation codes (RFC 826).</summary>
internal enum ArpOperation : ushort
{
    /// <summary>Who has the target protocol address?</summary>
    Request = 1,
    /// <summary>The target protocol address is at the sender hardware address.</summary>
    Reply = 2,
}

/// <summary>An ARP packet for Ethernet and IPv4 (RFC 826) viewed over a caller's buffer.</summary>
internal readonly ref struct ArpPacket
{
    /// <summary>Length of an Ethernet/IPv4 ARP packet.</summary>
    public const int Length = 28;

    const ushort HardwareTypeEthernet = 1;

    readonly ReadOnlySpan<byte> _bytes;

    ArpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>False when the buffer is short or the packet is not Ethernet/IPv4 with 6- and 4-byte addresses.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out ArpPacket packet)
    {
        packet = default;
        if (bytes.Length < Length)
            return false;
        if (BinaryPrimitives.ReadUInt16BigEndian(bytes) != HardwareTypeEthernet
            || BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]) != EtherType.Ipv4
            || bytes[4] != MacAddress.Length || bytes[5] != 4)
            return false;
        packet = new ArpPacket(bytes[..Length]);
        return true;
    }

    /// <summary>The operation; values other than request and reply are possible on the wire.</summary>
    public ArpOperation Operation => (ArpOperation)BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

    /// <summary>Sender hardware address.</summary>
    public MacAddress SenderHardwareAddress => MacAddress.Read(_bytes[8..]);

    /// <summary>Sender protocol address.</summary>
    public Ipv4Address SenderProtocolAddress => Ipv4Address.Read(_bytes[14..]);

    /// <summary>Target hardware address.</summary>
    public MacAddress TargetHardwareAddress => MacAddress.Read(_bytes[18..]);

    /// <summary>Target protocol address.</summary>
    public Ipv4Address TargetProtocolAddress => Ipv4Address.Read(_bytes[24..]);

    /// <summary>Writes an Ethernet/IPv4 ARP packet and returns its length.</summary>
    public static int Write(Span<byte> destination, ArpOperation operation, MacAddress senderHardware, Ipv4Address senderProtocol,
        MacAddress targetHardware, Ipv4Address targetProtocol)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, HardwareTypeEthernet);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], EtherType.Ipv4);
        destination[4] = MacAddress.Length;
        destination[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)operation);
        senderHardware.WriteTo(destination[8..]);
        senderProtocol.WriteTo(destination[14..]);
        targetHardware.WriteTo(destination[18..]);
        targetProtocol.WriteTo(destination[24..]);
        return Length;
    }
}
