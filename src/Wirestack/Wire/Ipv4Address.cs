using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Wirestack.Wire;

/// <summary>An IPv4 address held as a 32-bit number in host order (192.168.0.1 is 0xC0A80001).</summary>
/// <remarks>Cheaper than <see cref="IPAddress"/> on the per-packet path: no allocation, no boxing.</remarks>
internal readonly record struct Ipv4Address(uint Value) : IComparable<Ipv4Address>
{
    /// <summary>0.0.0.0</summary>
    public static Ipv4Address Any => default;

    /// <summary>255.255.255.255</summary>
    public static Ipv4Address Broadcast => new(0xFFFF_FFFF);

    /// <summary>Reads an address in network order from the first four bytes of <paramref name="bytes"/>.</summary>
    public static Ipv4Address Read(ReadOnlySpan<byte> bytes) => new(BinaryPrimitives.ReadUInt32BigEndian(bytes));

    /// <summary>Writes the address in network order.</summary>
    public void WriteTo(Span<byte> destination) => BinaryPrimitives.WriteUInt32BigEndian(destination, Value);

    /// <summary>True for 0.0.0.0.</summary>
    public bool IsAny => Value == 0;

    /// <summary>True for 255.255.255.255.</summary>
    public bool IsBroadcast => Value == 0xFFFF_FFFF;

    /// <summary>True for 224.0.0.0/4.</summary>
    public bool IsMulticast => (Value & 0xF000_0000) == 0xE000_0000;

    /// <summary>True for 127.0.0.0/8.</summary>
    public bool IsLoopback => (Value >> 24) == 127;

    /// <summary>True for 0.0.0.0/8 ("this network", RFC 1122 3.2.1.3).</summary>
    public bool IsThisNetwork => (Value >> 24) == 0;

    /// <summary>Converts an IPv4 <see cref="IPAddress"/>.</summary>
    /// <exception cref="ArgumentException">The address is not IPv4.</exception>
    public static Ipv4Address FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        if (address.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"{address} is not an IPv4 address.", nameof(address));
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return Read(bytes);
    }

    /// <summary>Parses dotted-quad notation.</summary>
    public static Ipv4Address Parse(string text) =>
        TryParse(text, out var address) ? address : throw new FormatException($"'{text}' is not an IPv4 address.");

    /// <summary>Tries to parse dotted-quad notation (exactly four decimal parts).</summary>
    public static bool TryParse(string? text, out Ipv4Address address)
    {
        address = default;
        if (text is null || text.Split('.').Length != 4 || !IPAddress.TryParse(text, out var parsed) || parsed.AddressFamily != AddressFamily.InterNetwork)
            return false;
        address = FromIPAddress(parsed);
        return true;
    }

    /// <summary>Converts to <see cref="IPAddress"/> (allocates).</summary>
    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[4];
        WriteTo(bytes);
        return new IPAddress(bytes);
    }

    /// <summary>The network mask for a prefix length 0..32.</summary>
    public static uint MaskFromPrefix(int prefixLength) => prefixLength <= 0 ? 0 : uint.MaxValue << (32 - prefixLength);

    /// <inheritdoc/>
    public int CompareTo(Ipv4Address other) => Value.CompareTo(other.Value);

    /// <summary>Dotted-quad text.</summary>
    public override string ToString() => $"{Value >> 24}.{(Value >> 16) & 0xFF}.{(Value >> 8) & 0xFF}.{Value & 0xFF}";
}
