using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>EtherType values the stack understands.</summary>
internal static class EtherType
{
    /// <summary>IPv4 (0x0800).</summary>
    public const ushort Ipv4 = 0x0800;
    /// <summary>ARP (0x0806).</summary>
    public const ushort Arp = 0x0806;
    /// <summary>IEEE 802.1Q VLAN tag (0x8100).</summary>
    public const ushort Vlan = 0x8100;
    /// <summary>IPv6 (0x86DD).</summary>
    public const ushort Ipv6 = 0x86DD;
}

/// <summary>An Ethernet II frame viewed over a caller's buffer; an 802.1Q tag, when present, is parsed and skipped.</summary>
internal readonly ref struct EthernetFrame
{
    /// <summary>Length of an untagged Ethernet II header.</summary>
    public const int HeaderLength = 14;

    /// <summary>Length of an 802.1Q tag.</summary>
    public const int VlanTagLength = 4;

    readonly Span<byte> _bytes;
    readonly int _headerLength;

    EthernetFrame(Span<byte> bytes, int headerLength)
    {
        _bytes = bytes;
        _headerLength = headerLength;
    }

    /// <summary>False when the buffer is shorter than the header (including a VLAN tag when one is announced).</summary>
    public static bool TryParse(Span<byte> bytes, out EthernetFrame frame)
    {
        frame = default;
        if (bytes.Length < HeaderLength)
            return false;
        int headerLength = HeaderLength;
        if (BinaryPrimitives.ReadUInt16BigEndian(bytes[12..]) == Wire.EtherType.Vlan)
        {
            headerLength += VlanTagLength;
            if (bytes.Length < headerLength)
                return false;
        }
        frame = new EthernetFrame(bytes, headerLength);
        return true;
    }

    /// <summary>The destination MAC address.</summary>
    public MacAddress Destination => MacAddress.Read(_bytes);

    /// <summary>The source MAC address.</summary>
    public MacAddress Source => MacAddress.Read(_bytes[6..]);

    /// <summary>The EtherType of the payload (after any VLAN tag).</summary>
    public ushort EtherType => BinaryPrimitives.ReadUInt16BigEndian(_bytes[(_headerLength - 2)..]);

    /// <summary>True when an 802.1Q tag was present.</summary>
    public bool HasVlanTag => _headerLength != HeaderLength;

    /// <summary>The 12-bit VLAN identifier, 0 when untagged.</summary>
    public int VlanId => HasVlanTag ? BinaryPrimitives.ReadUInt16BigEndian(_bytes[14..]) & 0x0FFF : 0;

    /// <summary>Length of the header including any VLAN tag.</summary>
    public int HeaderLengthWithTag => _headerLength;

    /// <summary>The bytes after the header (may include trailing padding up to the 60-byte minimum frame).</summary>
    public Span<byte> Payload => _bytes[_headerLength..];

    /// <summary>Writes an untagged header and returns its length.</summary>
    public static int WriteHeader(Span<byte> destination, MacAddress to, MacAddress from, ushort etherType)
    {
        to.WriteTo(destination);
        from.WriteTo(destination[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[12..], etherType);
        return HeaderLength;
    }
}
