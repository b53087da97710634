using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Wirestack.Wire;

/// <summary>
/// An address of either family, as the family-agnostic layers (TCP, UDP, the neighbour cache) see it: 128 bits in
/// host order, an IPv4 address held as its IPv4-mapped IPv6 form (::ffff:a.b.c.d, RFC 4291 2.5.5.2).
/// </summary>
/// <remarks>
/// One value type for both families keeps connection keys and tables single (no per-family copies of TCP or UDP)
/// and costs nothing per packet: two words, compared and hashed without allocation. The family-specific layers keep
/// their own types (<see cref="Ipv4Address"/> for IPv4, ARP and DHCP).
/// </remarks>
internal readonly record struct IpAddress(ulong High, ulong Low)
{
    const ulong MappedPrefix = 0xFFFF_0000_0000;

    /// <summary>:: (IPv6 unspecified).</summary>
    public static IpAddress Ipv6Any => default;

    /// <summary>ff02::1, all nodes on the link (RFC 4291 2.7.1).</summary>
    public static IpAddress AllNodes => new(0xFF02_0000_0000_0000, 1);

    /// <summary>ff02::2, all routers on the link.</summary>
    public static IpAddress AllRouters => new(0xFF02_0000_0000_0000, 2);

    /// <summary>ff02::16, where MLDv2 reports go (RFC 3810 5.2.14).</summary>
    public static IpAddress AllMldv2Routers => new(0xFF02_0000_0000_0000, 0x16);

    /// <summary>The IPv4-mapped form of <paramref name="address"/>.</summary>
    public static implicit operator IpAddress(Ipv4Address address) => new(0, MappedPrefix | address.Value);

    /// <summary>True for an IPv4 address.</summary>
    public bool IsIpv4 => High == 0 && (Low & 0xFFFF_FFFF_0000_0000) == MappedPrefix;

    /// <summary>The IPv4 address held; only meaningful when <see cref="IsIpv4"/>.</summary>
    public Ipv4Address Ipv4 => new((uint)Low);

    /// <summary>True for :: and for 0.0.0.0.</summary>
    public bool IsUnspecified => High == 0 && (Low == 0 || Low == MappedPrefix);

    /// <summary>True for IPv6 multicast (ff00::/8) and IPv4 multicast (224.0.0.0/4).</summary>
    public bool IsMulticast => IsIpv4 ? Ipv4.IsMulticast : High >> 56 == 0xFF;

    /// <summary>True for ::1 and 127.0.0.0/8.</summary>
    public bool IsLoopback => IsIpv4 ? Ipv4.IsLoopback : High == 0 && Low == 1;

    /// <summary>True for IPv6 unicast link-local addresses (fe80::/10).</summary>
    public bool IsLinkLocal => !IsIpv4 && (High >> 54) == (0xFE80 >> 6);

    /// <summary>The scope of an IPv6 multicast address (RFC 4291 2.7: 1 interface, 2 link, 5 site, 14 global).</summary>
    public int MulticastScope => (int)(High >> 48) & 0xF;

    /// <summary>The interface identifier: the low 64 bits.</summary>
    public ulong InterfaceIdentifier => Low;

    /// <summary>The solicited-node multicast group of this address (RFC 4291 2.7.1: ff02::1:ffXX:XXXX).</summary>
    public IpAddress SolicitedNode => new(0xFF02_0000_0000_0000, 0x0000_0001_FF00_0000 | (Low & 0xFF_FFFF));

    /// <summary>An address from a 64-bit prefix (the high word) and an interface identifier.</summary>
    public static IpAddress FromPrefix(ulong prefix, ulong interfaceIdentifier) => new(prefix, interfaceIdentifier);

    /// <summary>fe80::/64 with <paramref name="interfaceIdentifier"/>.</summary>
    public static IpAddress LinkLocal(ulong interfaceIdentifier) => new(0xFE80_0000_0000_0000, interfaceIdentifier);

    /// <summary>True when the first <paramref name="prefixLength"/> bits equal those of <paramref name="prefix"/>.</summary>
    public bool HasPrefix(IpAddress prefix, int prefixLength)
    {
        if (prefixLength <= 0)
            return true;
        if (prefixLength <= 64)
        {
            ulong mask = ulong.MaxValue << (64 - prefixLength);
            return (High & mask) == (prefix.High & mask);
        }
        ulong lowMask = prefixLength >= 128 ? ulong.MaxValue : ulong.MaxValue << (128 - prefixLength);
        return High == prefix.High && (Low & lowMask) == (prefix.Low & lowMask);
    }

    /// <summary>The number of leading bits two IPv6 addresses share (RFC 6724 2.2, CommonPrefixLen).</summary>
    public int CommonPrefixLength(IpAddress other)
    {
        ulong high = High ^ other.High;
        if (high != 0)
            return System.Numerics.BitOperations.LeadingZeroCount(high);
        ulong low = Low ^ other.Low;
        return 64 + (low == 0 ? 64 : System.Numerics.BitOperations.LeadingZeroCount(low));
    }

    /// <summary>Reads a 16-byte IPv6 address in network order.</summary>
    public static IpAddress Read(ReadOnlySpan<byte> bytes) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));

    /// <summary>Writes the 16-byte IPv6 form in network order.</summary>
    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    /// <summary>Converts an <see cref="IPAddress"/> of either family (an IPv4-mapped IPv6 address becomes IPv4).</summary>
    public static IpAddress FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return Ipv4Address.FromIPAddress(address);
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
            throw new ArgumentException($"{address} is not an IP address.", nameof(address));
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        return Read(bytes);
    }

    /// <summary>Converts to <see cref="IPAddress"/> (allocates): IPv4 addresses become IPv4 ones.</summary>
    public IPAddress ToIPAddress()
    {
        if (IsIpv4)
            return Ipv4.ToIPAddress();
        Span<byte> bytes = stackalloc byte[16];
        WriteTo(bytes);
        return new IPAddress(bytes);
    }

    /// <summary>Parses either family's text form.</summary>
    public static IpAddress Parse(string text) =>
        IPAddress.TryParse(text, out var parsed) ? FromIPAddress(parsed) : throw new FormatException($"'{text}' is not an IP address.");

    /// <summary>Dotted quad for IPv4, RFC 5952 text for IPv6.</summary>
    public override string ToString() => IsIpv4 ? Ipv4.ToString() : ToIPAddress().ToString();
}
