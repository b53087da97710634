using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>DHCPv6 message types (RFC 8415 7.3).</summary>
internal enum Dhcpv6MessageType : byte
{
    Solicit = 1,
    Advertise = 2,
    Request = 3,
    Renew = 5,
    Rebind = 6,
    Reply = 7,
    Release = 8,
    Decline = 9,
    InformationRequest = 11,
}

/// <summary>DHCPv6 option codes the client uses (RFC 8415 21, RFC 3646, RFC 4075).</summary>
internal static class Dhcpv6Option
{
    public const ushort ClientId = 1;
    public const ushort ServerId = 2;
    public const ushort IaNa = 3;
    public const ushort IaAddress = 5;
    public const ushort OptionRequest = 6;
    public const ushort Preference = 7;
    public const ushort ElapsedTime = 8;
    public const ushort StatusCode = 13;
    public const ushort DnsServers = 23;
    public const ushort DomainList = 24;
    public const ushort SntpServers = 31;
    public const ushort InformationRefreshTime = 32;
}

/// <summary>
/// A DHCPv6 message (RFC 8415 8) viewed over a caller's buffer: type, 24-bit transaction ID, then options of
/// code, length and data. <see cref="TryParse"/> checks that every top-level option lies inside the message;
/// nested options (IA_NA's) are read with the same bounded reader.
/// </summary>
internal readonly ref struct Dhcpv6Message
{
    public const int HeaderLength = 4;

    /// <summary>Most options read from one message or one option's contents: more is a hostile message.</summary>
    public const int MaxOptions = 64;

    readonly ReadOnlySpan<byte> _bytes;

    Dhcpv6Message(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public static bool TryParse(ReadOnlySpan<byte> bytes, out Dhcpv6Message message)
    {
        message = default;
        if (bytes.Length < HeaderLength || !OptionsValid(bytes[HeaderLength..]))
            return false;
        message = new Dhcpv6Message(bytes);
        return true;
    }

    /// <summary>True when a run of options is well formed: each header and its data inside, at most <see cref="MaxOptions"/> of them.</summary>
    public static bool OptionsValid(ReadOnlySpan<byte> options)
    {
        for (int count = 0; options.Length > 0; count++)
        {
            if (count == MaxOptions || options.Length < 4)
                return false;
            int length = BinaryPrimitives.ReadUInt16BigEndian(options[2..]);
            if (options.Length < 4 + length)
                return false;
            options = options[(4 + length)..];
        }
        return true;
    }

    public Dhcpv6MessageType Type => (Dhcpv6MessageType)_bytes[0];

    public uint TransactionId => (uint)(_bytes[1] << 16 | _bytes[2] << 8 | _bytes[3]);

    public ReadOnlySpan<byte> Options => _bytes[HeaderLength..];

    /// <summary>The data of the first option <paramref name="code"/> in <paramref name="options"/> (already validated).</summary>
    public static bool TryFind(ReadOnlySpan<byte> options, ushort code, out ReadOnlySpan<byte> data)
    {
        for (int count = 0; options.Length >= 4 && count < MaxOptions; count++)
        {
            int length = BinaryPrimitives.ReadUInt16BigEndian(options[2..]);
            if (options.Length < 4 + length)
                break;
            if (BinaryPrimitives.ReadUInt16BigEndian(options) == code)
            {
                data = options.Slice(4, length);
                return true;
            }
            options = options[(4 + length)..];
        }
        data = default;
        return false;
    }

    public bool TryGetOption(ushort code, out ReadOnlySpan<byte> data) => TryFind(Options, code, out data);

    /// <summary>Reads the IPv6 addresses of an address-list option (DNS, SNTP servers): a multiple of 16 bytes.</summary>
    public static List<IpAddress> ReadAddresses(ReadOnlySpan<byte> data, int max)
    {
        var addresses = new List<IpAddress>();
        for (int at = 0; at + 16 <= data.Length && addresses.Count < max; at += 16)
        {
            var address = IpAddress.Read(data[at..]);
            if (!address.IsMulticast && !address.IsUnspecified && !address.IsIpv4)
                addresses.Add(address);
        }
        return addresses;
    }

    /// <summary>The status code of a Status Code option (0 Success when absent, RFC 8415 21.13).</summary>
    public static ushort StatusOf(ReadOnlySpan<byte> options) =>
        TryFind(options, Dhcpv6Option.StatusCode, out var status) && status.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(status) : (ushort)0;
}

/// <summary>Builds a DHCPv6 message into a caller's buffer.</summary>
internal ref struct Dhcpv6Writer
{
    readonly Span<byte> _buffer;
    int _length;

    public Dhcpv6Writer(Span<byte> buffer, Dhcpv6MessageType type, uint transactionId)
    {
        _buffer = buffer;
        buffer[0] = (byte)type;
        buffer[1] = (byte)(transactionId >> 16);
        buffer[2] = (byte)(transactionId >> 8);
        buffer[3] = (byte)transactionId;
        _length = Dhcpv6Message.HeaderLength;
    }

    public readonly int Length => _length;

    public void Add(ushort code, scoped ReadOnlySpan<byte> data)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_length..], code);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[(_length + 2)..], (ushort)data.Length);
        data.CopyTo(_buffer[(_length + 4)..]);
        _length += 4 + data.Length;
    }

    public void AddUInt16(ushort code, ushort value)
    {
        Span<byte> data = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(data, value);
        Add(code, data);
    }

    /// <summary>Starts an option whose contents are more options; <see cref="End"/> fills in its length.</summary>
    public int Begin(ushort code)
    {
        int start = _length;
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_length..], code);
        _length += 4;
        return start;
    }

    public void Write(scoped ReadOnlySpan<byte> raw)
    {
        raw.CopyTo(_buffer[_length..]);
        _length += raw.Length;
    }

    public readonly void End(int start) => BinaryPrimitives.WriteUInt16BigEndian(_buffer[(start + 2)..], (ushort)(_length - start - 4));
}
