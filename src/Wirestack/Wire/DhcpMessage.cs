using System.Buffers.Binary;
using System.Text;

namespace Wirestack.Wire;

/// <summary>DHCP message types (RFC 2132 9.6).</summary>
internal enum DhcpMessageType : byte
{
    /// <summary>Not a DHCP message (plain BOOTP) or the option is missing.</summary>
    None = 0,
    /// <summary>Client broadcast to locate servers.</summary>
    Discover = 1,
    /// <summary>Server offer of parameters.</summary>
    Offer = 2,
    /// <summary>Client request for offered parameters, or renewal.</summary>
    Request = 3,
    /// <summary>Client: the address is already in use.</summary>
    Decline = 4,
    /// <summary>Server: parameters committed.</summary>
    Ack = 5,
    /// <summary>Server: the client's notion of its address is wrong.</summary>
    Nak = 6,
    /// <summary>Client gives up its lease.</summary>
    Release = 7,
    /// <summary>Client asks for local parameters only.</summary>
    Inform = 8,
}

/// <summary>DHCP option codes the stack uses (RFC 2132).</summary>
internal static class DhcpOption
{
    /// <summary>Padding.</summary>
    public const byte Pad = 0;
    /// <summary>Subnet mask.</summary>
    public const byte SubnetMask = 1;
    /// <summary>Routers.</summary>
    public const byte Router = 3;
    /// <summary>DNS servers.</summary>
    public const byte DomainNameServer = 6;
    /// <summary>Host name.</summary>
    public const byte HostName = 12;
    /// <summary>Domain name.</summary>
    public const byte DomainName = 15;
    /// <summary>NTP servers (RFC 2132 8.3).</summary>
    public const byte NtpServers = 42;
    /// <summary>Requested IP address.</summary>
    public const byte RequestedAddress = 50;
    /// <summary>Lease time, seconds.</summary>
    public const byte LeaseTime = 51;
    /// <summary>DHCP message type.</summary>
    public const byte MessageType = 53;
    /// <summary>Server identifier.</summary>
    public const byte ServerIdentifier = 54;
    /// <summary>Parameter request list.</summary>
    public const byte ParameterRequestList = 55;
    /// <summary>Message (error text).</summary>
    public const byte Message = 56;
    /// <summary>Maximum DHCP message size.</summary>
    public const byte MaximumMessageSize = 57;
    /// <summary>Renewal (T1) time, seconds.</summary>
    public const byte RenewalTime = 58;
    /// <summary>Rebinding (T2) time, seconds.</summary>
    public const byte RebindingTime = 59;
    /// <summary>Client identifier.</summary>
    public const byte ClientIdentifier = 61;
    /// <summary>End of options.</summary>
    public const byte End = 255;
}

/// <summary>
/// A DHCP message (RFC 2131 2, RFC 2132) viewed over a caller's buffer: the fixed BOOTP header, the magic cookie,
/// and options found by code. Overloaded options (sname/file) are not used by the stack and are ignored.
/// </summary>
internal readonly ref struct DhcpMessage
{
    /// <summary>Length of the fixed BOOTP part.</summary>
    public const int FixedLength = 236;
    /// <summary>The magic cookie that starts the options (99.130.83.99).</summary>
    public const uint MagicCookie = 0x63825363;
    /// <summary>BOOTREQUEST.</summary>
    public const byte BootRequest = 1;
    /// <summary>BOOTREPLY.</summary>
    public const byte BootReply = 2;
    /// <summary>The broadcast bit of the flags field.</summary>
    public const ushort BroadcastFlag = 0x8000;

    readonly ReadOnlySpan<byte> _bytes;

    DhcpMessage(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>False when shorter than the fixed part plus cookie, not Ethernet (htype 1, hlen 6), or without the cookie.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out DhcpMessage message)
    {
        message = default;
        if (bytes.Length < FixedLength + 4 || bytes[1] != 1 || bytes[2] != 6)
            return false;
        if (BinaryPrimitives.ReadUInt32BigEndian(bytes[FixedLength..]) != MagicCookie)
            return false;
        message = new DhcpMessage(bytes);
        return true;
    }

    /// <summary>BOOTREQUEST (1) or BOOTREPLY (2).</summary>
    public byte Operation => _bytes[0];
    /// <summary>Transaction ID.</summary>
    public uint TransactionId => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]);
    /// <summary>Seconds since the client began.</summary>
    public ushort Seconds => BinaryPrimitives.ReadUInt16BigEndian(_bytes[8..]);
    /// <summary>Flags (broadcast bit).</summary>
    public ushort Flags => BinaryPrimitives.ReadUInt16BigEndian(_bytes[10..]);
    /// <summary>Client's current address (ciaddr).</summary>
    public Ipv4Address ClientAddress => Ipv4Address.Read(_bytes[12..]);
    /// <summary>"Your" address: the one offered or assigned (yiaddr).</summary>
    public Ipv4Address YourAddress => Ipv4Address.Read(_bytes[16..]);
    /// <summary>Next server (siaddr).</summary>
    public Ipv4Address ServerAddress => Ipv4Address.Read(_bytes[20..]);
    /// <summary>Relay agent (giaddr).</summary>
    public Ipv4Address RelayAddress => Ipv4Address.Read(_bytes[24..]);
    /// <summary>Client hardware address.</summary>
    public MacAddress ClientHardwareAddress => MacAddress.Read(_bytes[28..]);

    /// <summary>The message type option, or None.</summary>
    public DhcpMessageType MessageType => TryGetOption(DhcpOption.MessageType, out var value) && value.Length == 1 ? (DhcpMessageType)value[0] : DhcpMessageType.None;

    /// <summary>Finds an option; false when absent or when the options are malformed before it.</summary>
    public bool TryGetOption(byte code, out ReadOnlySpan<byte> value)
    {
        value = default;
        var options = _bytes[(FixedLength + 4)..];
        int i = 0;
        while (i < options.Length)
        {
            byte kind = options[i];
            if (kind == DhcpOption.End)
                return false;
            if (kind == DhcpOption.Pad)
            {
                i++;
                continue;
            }
            if (i + 1 >= options.Length)
                return false;
            int length = options[i + 1];
            if (i + 2 + length > options.Length)
                return false;
            if (kind == code)
            {
                value = options.Slice(i + 2, length);
                return true;
            }
            i += 2 + length;
        }
        return false;
    }

    /// <summary>An option holding one IPv4 address.</summary>
    public bool TryGetAddress(byte code, out Ipv4Address address)
    {
        address = default;
        if (!TryGetOption(code, out var value) || value.Length < 4)
            return false;
        address = Ipv4Address.Read(value);
        return true;
    }

    /// <summary>An option holding a list of IPv4 addresses (at most <paramref name="max"/>).</summary>
    public List<Ipv4Address> GetAddresses(byte code, int max = 8)
    {
        var list = new List<Ipv4Address>();
        if (TryGetOption(code, out var value))
        {
            for (int i = 0; i + 4 <= value.Length && list.Count < max; i += 4)
                list.Add(Ipv4Address.Read(value[i..]));
        }
        return list;
    }

    /// <summary>An option holding a 32-bit number of seconds.</summary>
    public bool TryGetSeconds(byte code, out uint seconds)
    {
        seconds = 0;
        if (!TryGetOption(code, out var value) || value.Length != 4)
            return false;
        seconds = BinaryPrimitives.ReadUInt32BigEndian(value);
        return true;
    }

    /// <summary>An option holding text (non-printable bytes replaced).</summary>
    public string? GetText(byte code)
    {
        if (!TryGetOption(code, out var value))
            return null;
        var text = Encoding.ASCII.GetString(value).TrimEnd('\0');
        return new string(text.Select(c => c is >= ' ' and < (char)127 ? c : '?').ToArray());
    }
}

/// <summary>Builds a DHCP message into a caller's buffer.</summary>
internal ref struct DhcpMessageWriter
{
    readonly Span<byte> _buffer;
    int _length;

    /// <summary>Writes the fixed part and the cookie; options follow with <see cref="Add(byte, ReadOnlySpan{byte})"/>.</summary>
    public DhcpMessageWriter(Span<byte> buffer, byte operation, uint transactionId, MacAddress clientHardwareAddress, ushort flags = 0,
        Ipv4Address clientAddress = default, Ipv4Address yourAddress = default, Ipv4Address serverAddress = default, ushort seconds = 0)
    {
        _buffer = buffer;
        buffer[..(DhcpMessage.FixedLength + 4)].Clear();
        buffer[0] = operation;
        buffer[1] = 1;
        buffer[2] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(buffer[4..], transactionId);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[8..], seconds);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[10..], flags);
        clientAddress.WriteTo(buffer[12..]);
        yourAddress.WriteTo(buffer[16..]);
        serverAddress.WriteTo(buffer[20..]);
        clientHardwareAddress.WriteTo(buffer[28..]);
        BinaryPrimitives.WriteUInt32BigEndian(buffer[DhcpMessage.FixedLength..], DhcpMessage.MagicCookie);
        _length = DhcpMessage.FixedLength + 4;
    }

    /// <summary>Appends an option.</summary>
    public void Add(byte code, scoped ReadOnlySpan<byte> value)
    {
        _buffer[_length] = code;
        _buffer[_length + 1] = (byte)value.Length;
        value.CopyTo(_buffer[(_length + 2)..]);
        _length += 2 + value.Length;
    }

    /// <summary>Appends a one-byte option.</summary>
    public void Add(byte code, byte value) => Add(code, [value]);

    /// <summary>Appends an address option.</summary>
    public void Add(byte code, Ipv4Address address)
    {
        Span<byte> bytes = stackalloc byte[4];
        address.WriteTo(bytes);
        Add(code, bytes);
    }

    /// <summary>Appends an address-list option.</summary>
    public void Add(byte code, IReadOnlyList<Ipv4Address> addresses)
    {
        if (addresses.Count == 0)
            return;
        Span<byte> bytes = stackalloc byte[4 * Math.Min(addresses.Count, 63)];
        for (int i = 0; i < bytes.Length / 4; i++)
            addresses[i].WriteTo(bytes[(4 * i)..]);
        Add(code, bytes);
    }

    /// <summary>Appends a 32-bit seconds option.</summary>
    public void AddSeconds(byte code, uint seconds)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, seconds);
        Add(code, bytes);
    }

    /// <summary>Writes End, pads to the 300-byte BOOTP minimum, and returns the message length.</summary>
    public int Finish()
    {
        _buffer[_length++] = DhcpOption.End;
        while (_length < 300)
            _buffer[_length++] = 0;
        return _length;
    }
}
