using System.Buffers.Binary;
using System.Text;

namespace Wirestack.Wire;

/// <summary>DNS record types the resolver uses (RFC 1035 3.2.2, RFC 3596).</summary>
internal static class DnsType
{
    /// <summary>IPv4 address.</summary>
    public const ushort A = 1;
    /// <summary>Canonical name.</summary>
    public const ushort Cname = 5;
    /// <summary>IPv6 address.</summary>
    public const ushort Aaaa = 28;
}

/// <summary>One resource record from an answer section, with its data as a slice of the message.</summary>
internal readonly record struct DnsRecord(string Name, ushort Type, ushort Class, uint TimeToLive, int DataOffset, int DataLength);

/// <summary>
/// A DNS message (RFC 1035 4) viewed over a caller's buffer. Names are decoded with compression pointers followed
/// only backwards and at most 64 times, so pointer loops and names past the end are rejected, never followed.
/// </summary>
internal readonly ref struct DnsMessage
{
    /// <summary>Header length.</summary>
    public const int HeaderLength = 12;

    readonly ReadOnlySpan<byte> _bytes;

    DnsMessage(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>False when shorter than the header.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out DnsMessage message)
    {
        message = default;
        if (bytes.Length < HeaderLength)
            return false;
        message = new DnsMessage(bytes);
        return true;
    }

    /// <summary>Message ID.</summary>
    public ushort Id => BinaryPrimitives.ReadUInt16BigEndian(_bytes);
    /// <summary>True for a response.</summary>
    public bool IsResponse => (_bytes[2] & 0x80) != 0;
    /// <summary>Truncated: the answer did not fit (retry over TCP).</summary>
    public bool IsTruncated => (_bytes[2] & 0x02) != 0;
    /// <summary>Response code (0 no error, 2 server failure, 3 name error, 5 refused).</summary>
    public int ResponseCode => _bytes[3] & 0x0F;
    /// <summary>Question count.</summary>
    public int QuestionCount => BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..]);
    /// <summary>Answer count.</summary>
    public int AnswerCount => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);

    /// <summary>The whole message.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>Reads the question and answer sections; false when anything in them is malformed.</summary>
    public bool TryReadAnswers(out string question, out ushort questionType, List<DnsRecord> answers)
    {
        question = "";
        questionType = 0;
        int offset = HeaderLength;
        if (QuestionCount != 1)
            return false;
        if (!TryReadName(_bytes, ref offset, out question) || offset + 4 > _bytes.Length)
            return false;
        questionType = BinaryPrimitives.ReadUInt16BigEndian(_bytes[offset..]);
        offset += 4;
        for (int i = 0; i < AnswerCount; i++)
        {
            if (!TryReadName(_bytes, ref offset, out var name) || offset + 10 > _bytes.Length)
                return false;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(_bytes[offset..]);
            ushort @class = BinaryPrimitives.ReadUInt16BigEndian(_bytes[(offset + 2)..]);
            uint ttl = BinaryPrimitives.ReadUInt32BigEndian(_bytes[(offset + 4)..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(_bytes[(offset + 8)..]);
            offset += 10;
            if (offset + length > _bytes.Length)
                return false;
            answers.Add(new DnsRecord(name, type, @class, ttl > int.MaxValue ? 0 : ttl, offset, length));
            offset += length;
        }
        return true;
    }

    /// <summary>Decodes a name that is a record's data (CNAME target).</summary>
    public bool TryReadName(int offset, out string name) => TryReadName(_bytes, ref offset, out name);

    /// <summary>
    /// Decodes a possibly compressed name at <paramref name="offset"/>, advancing past it: pointers only backwards
    /// (so no loop), at most 255 bytes, anything outside printable ASCII read as '?'.
    /// </summary>
    public static bool TryReadName(ReadOnlySpan<byte> message, ref int offset, out string name) =>
        DnsName.TryRead(message, ref offset, out name, printableAscii: true);

    /// <summary>Writes a recursive query for <paramref name="name"/> and returns its length; false when the name is invalid.</summary>
    public static bool TryWriteQuery(Span<byte> destination, ushort id, string name, ushort type, out int length)
    {
        length = 0;
        name = name.TrimEnd('.');
        if (name.Length is 0 or > 253)
            return false;
        BinaryPrimitives.WriteUInt16BigEndian(destination, id);
        destination[2] = 0x01; // RD
        destination[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], 1);
        destination[6..12].Clear();
        int offset = HeaderLength;
        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label.Any(c => c > 127 || char.IsWhiteSpace(c)))
                return false;
            destination[offset++] = (byte)label.Length;
            offset += Encoding.ASCII.GetBytes(label, destination[offset..]);
        }
        destination[offset++] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination[offset..], type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(offset + 2)..], 1);
        length = offset + 4;
        return true;
    }
}
