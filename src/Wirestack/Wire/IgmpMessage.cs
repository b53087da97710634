using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>IGMP message types (RFC 3376 4, RFC 2236 2.1, RFC 1112 appendix I).</summary>
internal static class IgmpType
{
    public const byte MembershipQuery = 0x11;
    public const byte Version1Report = 0x12;
    public const byte Version2Report = 0x16;
    public const byte LeaveGroup = 0x17;
    public const byte Version3Report = 0x22;
}

/// <summary>Group record types of an IGMPv3 report (RFC 3376 4.2.12).</summary>
internal static class IgmpRecordType
{
    public const byte ModeIsExclude = 2;
    public const byte ChangeToIncludeMode = 3;
    public const byte ChangeToExcludeMode = 4;
}

/// <summary>An IGMP message (any version) viewed over a caller's buffer; checksum and lengths checked by <see cref="TryParse"/>.</summary>
internal readonly ref struct IgmpMessage
{
    /// <summary>IGMPv1 and v2 messages, and the fixed part of a v3 report.</summary>
    public const int MinimumLength = 8;

    /// <summary>An IGMPv3 query without sources.</summary>
    public const int Version3QueryLength = 12;

    /// <summary>The IPv4 Router Alert option (RFC 2113) every IGMPv2 and v3 message carries.</summary>
    public static ReadOnlySpan<byte> RouterAlert => [0x94, 0x04, 0x00, 0x00];

    readonly ReadOnlySpan<byte> _bytes;

    IgmpMessage(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>False for a message shorter than 8 bytes, with a wrong checksum, or a v3 query whose sources run past it.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out IgmpMessage message)
    {
        message = default;
        if (bytes.Length < MinimumLength || Checksum.Compute(bytes) != 0)
            return false;
        if (bytes[0] == IgmpType.MembershipQuery && bytes.Length >= Version3QueryLength
            && bytes.Length < Version3QueryLength + 4 * BinaryPrimitives.ReadUInt16BigEndian(bytes[10..]))
            return false;
        message = new IgmpMessage(bytes);
        return true;
    }

    public byte Type => _bytes[0];

    public Ipv4Address Group => Ipv4Address.Read(_bytes[4..]);

    /// <summary>RFC 3376 7.1: a query of 8 bytes is IGMPv1 when its Max Resp Code is 0, else IGMPv2; 12 or more is IGMPv3.</summary>
    public int QueryVersion => _bytes.Length >= Version3QueryLength ? 3 : _bytes[1] == 0 ? 1 : 2;

    /// <summary>
    /// The longest a host may wait before answering, in microseconds: v3's code is tenths of a second below 128 and a
    /// floating-point value above (4.1.1); v2's is tenths of a second; a v1 query means 10 s (RFC 2236 4).
    /// </summary>
    public long MaxResponseMicroseconds
    {
        get
        {
            int code = _bytes[1];
            if (QueryVersion == 1)
                return 10_000_000;
            long tenths = QueryVersion == 3 && code >= 128 ? (long)((code & 0x0F) | 0x10) << (((code >> 4) & 0x07) + 3) : code;
            return tenths * 100_000;
        }
    }

    /// <summary>One IGMPv3 group record (RFC 3376 4.2.4): its type and group, with no auxiliary data and no sources.</summary>
    public const int RecordLength = 8;

    /// <summary>An IGMPv1 or v2 message (RFC 1112 appendix I, RFC 2236 2): a report or Leave Group about <paramref name="group"/>.</summary>
    public static int WriteVersion2(Span<byte> message, byte type, Ipv4Address group)
    {
        message[0] = type;
        message[1] = 0;
        group.WriteTo(message[4..]);
        return MinimumLength;
    }

    /// <summary>The <paramref name="index"/>th group record of an IGMPv3 report, written behind the report's header.</summary>
    public static void WriteRecord(Span<byte> message, int index, byte recordType, Ipv4Address group)
    {
        var record = message[(MinimumLength + RecordLength * index)..];
        record[0] = recordType;
        record[1] = 0;   // no auxiliary data
        BinaryPrimitives.WriteUInt16BigEndian(record[2..], 0);   // no sources
        group.WriteTo(record[4..]);
    }

    /// <summary>An IGMPv3 report's header (RFC 3376 4.2) in front of <paramref name="records"/> records already written; returns the message length.</summary>
    public static int WriteVersion3ReportHeader(Span<byte> message, int records)
    {
        message[0] = IgmpType.Version3Report;
        message[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(message[4..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(message[6..], (ushort)records);
        return MinimumLength + RecordLength * records;
    }

    /// <summary>Writes the checksum of a message built in <paramref name="message"/>.</summary>
    public static void Finish(Span<byte> message)
    {
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(message[2..], Checksum.Compute(message));
    }
}
