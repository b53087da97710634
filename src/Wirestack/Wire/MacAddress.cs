using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Wirestack.Wire;

/// <summary>A 48-bit IEEE 802 MAC address.</summary>
public readonly struct MacAddress : IEquatable<MacAddress>, ISpanFormattable, ISpanParsable<MacAddress>
{
    /// <summary>Length of a MAC address in bytes.</summary>
    public const int Length = 6;

    readonly ulong _value;

    MacAddress(ulong value) => _value = value & 0xFFFF_FFFF_FFFFUL;

    /// <summary>The broadcast address ff:ff:ff:ff:ff:ff.</summary>
    public static MacAddress Broadcast { get; } = new(0xFFFF_FFFF_FFFFUL);

    /// <summary>The all-zero address.</summary>
    public static MacAddress Zero { get; } = default;

    /// <summary>Reads an address from the first six bytes of <paramref name="bytes"/>.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> bytes)
    {
        ulong high = BinaryPrimitives.ReadUInt16BigEndian(bytes);
        ulong low = BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]);
        return new MacAddress((high << 32) | low);
    }

    /// <summary>Writes the address into the first six bytes of <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(_value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)_value);
    }

    /// <summary>True for ff:ff:ff:ff:ff:ff.</summary>
    public bool IsBroadcast => _value == 0xFFFF_FFFF_FFFFUL;

    /// <summary>True when the group bit (least significant bit of the first byte) is set; includes broadcast.</summary>
    public bool IsMulticast => (_value & 0x0100_0000_0000UL) != 0;

    /// <summary>True for 33:33:xx:xx:xx:xx, where IPv6 multicast goes on Ethernet (RFC 2464 7).</summary>
    internal bool IsIpv6Multicast => (_value >> 32) == 0x3333;

    /// <summary>01:00:5e with the high bit of the fourth byte clear: an IPv4 group's MAC (RFC 1112 6.4).</summary>
    internal bool IsIpv4Multicast => (_value >> 23) == 0x01_005E << 1;

    /// <summary>The low 32 bits (for 33:33 addresses, the low 32 bits of the IPv6 group).</summary>
    internal uint Low32 => (uint)_value;

    /// <summary>The modified EUI-64 interface identifier (RFC 4291 appendix A): FF:FE in the middle, the U/L bit inverted.</summary>
    internal ulong ModifiedEui64 => ((_value & 0xFFFF_FF00_0000UL) << 16 | 0xFF_FE00_0000UL | (_value & 0xFF_FFFFUL)) ^ 0x0200_0000_0000_0000UL;

    /// <summary>
    /// The link address frames to a multicast group go to: 01:00:5e and the group's low 23 bits for IPv4 (RFC 1112
    /// 6.4), 33:33 and its low 32 bits for IPv6 (RFC 2464 7).
    /// </summary>
    internal static MacAddress ForGroup(IpAddress group) => group.IsIpv4
        ? new MacAddress(0x01_00_5E_00_00_00UL | (group.Ipv4.Value & 0x7F_FFFF))
        : new MacAddress(0x33_33_00_00_00_00UL | (uint)group.Low);

    /// <summary>True for the all-zero address.</summary>
    public bool IsZero => _value == 0;

    /// <summary>Parses "02:00:01:02:03:77" or "02-00-01-02-03-77".</summary>
    public static MacAddress Parse(string s) => Parse(s.AsSpan(), null);

    /// <inheritdoc/>
    public static MacAddress Parse(string s, IFormatProvider? provider) => Parse(s.AsSpan(), provider);

    /// <inheritdoc/>
    public static MacAddress Parse(ReadOnlySpan<char> s, IFormatProvider? provider) =>
        TryParse(s, provider, out var address) ? address : throw new FormatException($"'{s}' is not a MAC address (expected six hex pairs such as 02:00:01:02:03:77).");

    /// <summary>Tries to parse a MAC address in colon or dash notation.</summary>
    public static bool TryParse([NotNullWhen(true)] string? s, out MacAddress result) => TryParse(s.AsSpan(), null, out result);

    /// <inheritdoc/>
    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out MacAddress result) => TryParse(s.AsSpan(), provider, out result);

    /// <inheritdoc/>
    public static bool TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out MacAddress result)
    {
        result = default;
        if (s.Length != 17)
            return false;
        char separator = s[2];
        if (separator is not (':' or '-'))
            return false;
        ulong value = 0;
        for (int i = 0; i < 6; i++)
        {
            var pair = s.Slice(i * 3, 2);
            if (i < 5 && s[i * 3 + 2] != separator)
                return false;
            if (!byte.TryParse(pair, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
                return false;
            value = (value << 8) | b;
        }
        result = new MacAddress(value);
        return true;
    }

    /// <inheritdoc/>
    public bool Equals(MacAddress other) => _value == other._value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is MacAddress other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => _value.GetHashCode();

    /// <summary>Equality.</summary>
    public static bool operator ==(MacAddress left, MacAddress right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(MacAddress left, MacAddress right) => !left.Equals(right);

    /// <summary>Formats as lower-case colon-separated hex, e.g. 02:00:01:02:03:77.</summary>
    public override string ToString() => ToString(null, null);

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => string.Create(17, _value, static (span, value) =>
    {
        for (int i = 0; i < 6; i++)
        {
            byte b = (byte)(value >> (40 - 8 * i));
            span[i * 3] = HexDigit(b >> 4);
            span[i * 3 + 1] = HexDigit(b & 0xF);
            if (i < 5)
                span[i * 3 + 2] = ':';
        }
    });

    /// <inheritdoc/>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        if (destination.Length < 17)
        {
            charsWritten = 0;
            return false;
        }
        ToString().AsSpan().CopyTo(destination);
        charsWritten = 17;
        return true;
    }

    static char HexDigit(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
}
