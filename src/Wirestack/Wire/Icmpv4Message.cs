using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>ICMPv4 message types (RFC 792) the stack handles.</summary>
internal enum Icmpv4Type : byte
{
    /// <summary>Echo reply.</summary>
    EchoReply = 0,
    /// <summary>Destination unreachable.</summary>
    DestinationUnreachable = 3,
    /// <summary>Source quench (deprecated, RFC 6633).</summary>
    SourceQuench = 4,
    /// <summary>Redirect.</summary>
    Redirect = 5,
    /// <summary>Echo request.</summary>
    EchoRequest = 8,
    /// <summary>Time exceeded.</summary>
    TimeExceeded = 11,
    /// <summary>Parameter problem.</summary>
    ParameterProblem = 12,
}

/// <summary>Codes of <see cref="Icmpv4Type.DestinationUnreachable"/> (RFC 792, RFC 1122 3.2.2.1).</summary>
internal static class UnreachableCode
{
    /// <summary>Network unreachable.</summary>
    public const byte Network = 0;
    /// <summary>Host unreachable.</summary>
    public const byte Host = 1;
    /// <summary>Protocol unreachable.</summary>
    public const byte Protocol = 2;
    /// <summary>Port unreachable.</summary>
    public const byte Port = 3;
    /// <summary>Fragmentation needed and DF set.</summary>
    public const byte FragmentationNeeded = 4;
    /// <summary>Communication administratively prohibited (RFC 1812 5.2.7.1).</summary>
    public const byte AdministrativelyProhibited = 13;
}

/// <summary>An ICMPv4 message (RFC 792) viewed over a caller's buffer.</summary>
internal readonly ref struct Icmpv4Message
{
    /// <summary>Length of the fixed header: type, code, checksum and four bytes of rest-of-header.</summary>
    public const int HeaderLength = 8;

    readonly Span<byte> _bytes;

    Icmpv4Message(Span<byte> bytes) => _bytes = bytes;

    /// <summary>False when the buffer is shorter than the 8-byte header. The checksum is checked by <see cref="IsChecksumValid"/>.</summary>
    public static bool TryParse(Span<byte> bytes, out Icmpv4Message message)
    {
        message = default;
        if (bytes.Length < HeaderLength)
            return false;
        message = new Icmpv4Message(bytes);
        return true;
    }

    /// <summary>The whole message.</summary>
    public Span<byte> Bytes => _bytes;

    /// <summary>Message type.</summary>
    public Icmpv4Type Type => (Icmpv4Type)_bytes[0];

    /// <summary>Message code.</summary>
    public byte Code => _bytes[1];

    /// <summary>True when the checksum over the whole message verifies.</summary>
    public bool IsChecksumValid => Checksum.Compute(_bytes) == 0;

    /// <summary>Echo identifier (echo messages).</summary>
    public ushort Identifier => BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..]);

    /// <summary>Echo sequence number (echo messages).</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

    /// <summary>Next-hop MTU (destination unreachable, fragmentation needed; RFC 1191).</summary>
    public ushort NextHopMtu => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

    /// <summary>Echo data, or for error messages the leading bytes of the datagram that caused the error.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>True for the error messages that quote an offending datagram.</summary>
    public bool IsError => Type is Icmpv4Type.DestinationUnreachable or Icmpv4Type.SourceQuench or Icmpv4Type.Redirect
        or Icmpv4Type.TimeExceeded or Icmpv4Type.ParameterProblem;

    /// <summary>
    /// Turns an echo request into its reply where it lies (RFC 792: type 0, the same identifier, sequence and data),
    /// updating the checksum incrementally (RFC 1624) instead of summing the data again.
    /// </summary>
    public static void TurnIntoEchoReply(Span<byte> message)
    {
        ushort storedChecksum = BinaryPrimitives.ReadUInt16BigEndian(message[2..]);
        ushort oldTypeCode = BinaryPrimitives.ReadUInt16BigEndian(message);
        message[0] = (byte)Icmpv4Type.EchoReply;
        message[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], Checksum.Update(storedChecksum, oldTypeCode, (ushort)Icmpv4Type.EchoReply << 8));
    }

    /// <summary>Writes type, code and rest-of-header and computes the checksum over header and the payload already in place after it.</summary>
    public static void WriteHeader(Span<byte> message, Icmpv4Type type, byte code, uint restOfHeader)
    {
        message[0] = (byte)type;
        message[1] = code;
        message[2] = 0;
        message[3] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(message[4..], restOfHeader);
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], Checksum.Compute(message));
    }
}
