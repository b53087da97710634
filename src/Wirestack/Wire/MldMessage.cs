using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>
/// Multicast Listener Discovery bodies behind the 4-byte ICMPv6 header: a query as MLDv1 (RFC 2710 3) or MLDv2
/// (RFC 3810 5.1) sends it, and the reports a host sends.
/// </summary>
internal readonly ref struct MldMessage
{
    /// <summary>An MLDv1 message body: maximum response delay, reserved, multicast address.</summary>
    public const int Version1BodyLength = 20;

    /// <summary>The least an MLDv2 query body holds (RFC 3810 5.1: 24 bytes and the sources).</summary>
    public const int Version2QueryBodyLength = 24;

    /// <summary>One MLDv2 multicast address record without sources (RFC 3810 5.2.4).</summary>
    public const int RecordLength = 20;

    /// <summary>The MLDv2 report body before its records: reserved and the record count.</summary>
    public const int Version2ReportHeaderLength = 4;

    /// <summary>The Hop-by-Hop header every MLD message travels behind: Router Alert, value 0 (RFC 2711, RFC 3810 5).</summary>
    public const int HopByHopLength = 8;

    readonly ReadOnlySpan<byte> _body;

    MldMessage(ReadOnlySpan<byte> body) => _body = body;

    /// <summary>A query: 20 bytes for MLDv1, at least 24 for MLDv2; false otherwise.</summary>
    public static bool TryParseQuery(ReadOnlySpan<byte> body, out MldMessage query)
    {
        bool valid = body.Length == Version1BodyLength || body.Length >= Version2QueryBodyLength;
        query = valid ? new MldMessage(body) : default;
        return valid;
    }

    /// <summary>True for an MLDv1 query (RFC 3810 8.1: told apart by its length).</summary>
    public bool IsVersion1 => _body.Length == Version1BodyLength;

    /// <summary>The longest a host may wait before answering, in microseconds (RFC 3810 5.1.3 for the MLDv2 exponent form).</summary>
    public long MaxResponseMicroseconds
    {
        get
        {
            int code = BinaryPrimitives.ReadUInt16BigEndian(_body);
            long milliseconds = IsVersion1 || code < 32768 ? code : (long)((code & 0x0FFF) | 0x1000) << (((code >> 12) & 0x7) + 3);
            return milliseconds * 1000;
        }
    }

    /// <summary>The group asked about; :: for a general query.</summary>
    public IpAddress Group => IpAddress.Read(_body[4..]);

    /// <summary>An MLDv1 Report or Done body (RFC 2710 3) about <paramref name="group"/>; returns its length.</summary>
    public static int WriteVersion1(Span<byte> body, IpAddress group)
    {
        body[..4].Clear();
        group.WriteTo(body[4..]);
        return Version1BodyLength;
    }

    /// <summary>One record of an MLDv2 report (RFC 3810 5.2.4), with no auxiliary data and no sources.</summary>
    public static void WriteRecord(Span<byte> record, byte recordType, IpAddress group)
    {
        record[0] = recordType;
        record[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(record[2..], 0);
        group.WriteTo(record[4..]);
    }

    /// <summary>The MLDv2 report body's header in front of <paramref name="records"/> records already written; returns the body's length.</summary>
    public static int WriteVersion2ReportHeader(Span<byte> body, int records)
    {
        BinaryPrimitives.WriteUInt16BigEndian(body, 0);
        BinaryPrimitives.WriteUInt16BigEndian(body[2..], (ushort)records);
        return Version2ReportHeaderLength + records * RecordLength;
    }

    /// <summary>The Hop-by-Hop header with Router Alert (value 0: MLD) and two bytes of PadN (RFC 2711 2.1).</summary>
    public static void WriteHopByHop(Span<byte> header, byte nextHeader)
    {
        header[0] = nextHeader;
        header[1] = 0;   // 8 bytes long
        header[2] = 5;   // Router Alert
        header[3] = 2;
        header[4] = 0;   // MLD
        header[5] = 0;
        header[6] = 1;   // PadN of 0 bytes
        header[7] = 0;
    }
}
