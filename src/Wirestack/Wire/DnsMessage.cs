using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Wirestack.Wire;

/// <summary>Record types the resolver, Multicast DNS and DNS-SD use (RFC 1035, RFC 3596, RFC 2782).</summary>
internal static class DnsType
{
    public const ushort A = 1;
    public const ushort Cname = 5;
    public const ushort Ptr = 12;
    public const ushort Txt = 16;
    public const ushort Aaaa = 28;
    public const ushort Srv = 33;
    public const ushort Any = 255;
}

/// <summary>A question: in mDNS the top bit of the class asks for a unicast response (RFC 6762 5.4).</summary>
internal readonly record struct DnsQuestion(string Name, ushort Type, bool UnicastResponse);

/// <summary>
/// A resource record with its data in uncompressed wire form (names inside PTR and SRV data expanded), so records
/// compare byte for byte; in mDNS the top bit of the class is cache-flush (RFC 6762 10.2).
/// </summary>
internal sealed record DnsResourceRecord(string Name, ushort Type, bool CacheFlush, uint TimeToLive, byte[] Data)
{
    public bool SameData(DnsResourceRecord other) => Type == other.Type && Data.AsSpan().SequenceEqual(other.Data);
}

/// <summary>
/// How much of a message the reader takes: entries per section and data bytes per record (a hostile message costs a
/// bounded amount of work), and whether names read as printable ASCII only (so they cannot carry control characters
/// into logs).
/// </summary>
internal readonly record struct DnsReadLimits(int MaxEntries, int MaxDataLength, bool PrintableNames)
{
    /// <summary>mDNS (RFC 6762 17: a message fits 9,000 bytes): 64 entries a section, 1,300 bytes of data a record.</summary>
    public static DnsReadLimits Multicast => new(64, 1300, PrintableNames: false);

    /// <summary>A unicast response (up to 64 KiB over TCP): 512 entries a section, any record length, printable names.</summary>
    public static DnsReadLimits Unicast => new(512, ushort.MaxValue, PrintableNames: true);
}

/// <summary>
/// A DNS message read whole (RFC 1035 4.1, RFC 6762 18), for the unicast resolver and mDNS alike: bounded by its
/// <see cref="DnsReadLimits"/>, with names inside CNAME, PTR and SRV data expanded; anything malformed (truncated
/// records, names past the end, forward or looping compression pointers) rejects the whole message.
/// </summary>
internal sealed class DnsMessage
{
    public const int HeaderLength = 12;

    public ushort Id { get; private init; }
    public ushort Flags { get; private init; }
    public bool IsResponse => (Flags & 0x8000) != 0;

    /// <summary>TC: the answer did not fit (RFC 1035 4.1.1); ask again over TCP.</summary>
    public bool IsTruncated => (Flags & 0x0200) != 0;

    /// <summary>RCODE (RFC 1035 4.1.1): 0 no error, 3 no such name.</summary>
    public int ResponseCode => Flags & 0x0F;

    /// <summary>RFC 6762 18.3: Opcode must be 0 (standard query) for mDNS.</summary>
    public int Opcode => (Flags >> 11) & 0x0F;

    public List<DnsQuestion> Questions { get; } = [];
    public List<DnsResourceRecord> Answers { get; } = [];
    public List<DnsResourceRecord> Authorities { get; } = [];
    public List<DnsResourceRecord> Additionals { get; } = [];

    /// <summary>Reads an mDNS message (<see cref="DnsReadLimits.Multicast"/>).</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, [NotNullWhen(true)] out DnsMessage? packet) =>
        TryParse(bytes, DnsReadLimits.Multicast, out packet);

    public static bool TryParse(ReadOnlySpan<byte> bytes, DnsReadLimits limits, [NotNullWhen(true)] out DnsMessage? packet)
    {
        packet = null;
        if (bytes.Length < HeaderLength)
            return false;
        int questions = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        int answers = BinaryPrimitives.ReadUInt16BigEndian(bytes[6..]);
        int authorities = BinaryPrimitives.ReadUInt16BigEndian(bytes[8..]);
        int additionals = BinaryPrimitives.ReadUInt16BigEndian(bytes[10..]);
        int max = limits.MaxEntries;
        if (questions > max || answers > max || authorities > max || additionals > max)
            return false;
        var parsed = new DnsMessage { Id = BinaryPrimitives.ReadUInt16BigEndian(bytes), Flags = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]) };
        int offset = HeaderLength;
        for (int i = 0; i < questions; i++)
        {
            if (!DnsName.TryRead(bytes, ref offset, out var name, printableAscii: limits.PrintableNames) || offset + 4 > bytes.Length)
                return false;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(bytes[offset..]);
            ushort @class = BinaryPrimitives.ReadUInt16BigEndian(bytes[(offset + 2)..]);
            offset += 4;
            parsed.Questions.Add(new DnsQuestion(name, type, (@class & 0x8000) != 0));
        }
        if (!ReadRecords(bytes, ref offset, answers, parsed.Answers, limits) || !ReadRecords(bytes, ref offset, authorities, parsed.Authorities, limits)
            || !ReadRecords(bytes, ref offset, additionals, parsed.Additionals, limits))
            return false;
        packet = parsed;
        return true;
    }

    static bool ReadRecords(ReadOnlySpan<byte> bytes, ref int offset, int count, List<DnsResourceRecord> into, DnsReadLimits limits)
    {
        for (int i = 0; i < count; i++)
        {
            if (!DnsName.TryRead(bytes, ref offset, out var name, printableAscii: limits.PrintableNames) || offset + 10 > bytes.Length)
                return false;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(bytes[offset..]);
            ushort @class = BinaryPrimitives.ReadUInt16BigEndian(bytes[(offset + 2)..]);
            uint ttl = BinaryPrimitives.ReadUInt32BigEndian(bytes[(offset + 4)..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[(offset + 8)..]);
            offset += 10;
            if (length > limits.MaxDataLength || offset + length > bytes.Length)
                return false;
            if (!TryExpandData(bytes, offset, length, type, out var data))
                return false;
            into.Add(new DnsResourceRecord(name, type, (@class & 0x8000) != 0, ttl, data));
            offset += length;
        }
        return true;
    }

    /// <summary>Copies a record's data, expanding the compressed name in PTR and SRV data so it compares as bytes.</summary>
    static bool TryExpandData(ReadOnlySpan<byte> bytes, int offset, int length, ushort type, out byte[] data)
    {
        data = [];
        int end = offset + length;
        if (type is DnsType.Ptr or DnsType.Srv or DnsType.Cname)
        {
            var expanded = new List<byte>();
            int nameAt = offset;
            if (type == DnsType.Srv)
            {
                if (length < 7)
                    return false;
                expanded.AddRange(bytes.Slice(offset, 6));
                nameAt += 6;
            }
            if (!DnsName.TryRead(bytes, ref nameAt, out _, expanded) || nameAt != end)
                return false;
            data = [.. expanded];
            return true;
        }
        data = bytes.Slice(offset, length).ToArray();
        return true;
    }
}

/// <summary>Builds an mDNS message in a caller's buffer, uncompressed; every write says false when it does not fit.</summary>
internal ref struct DnsWriter(Span<byte> buffer)
{
    readonly Span<byte> _buffer = buffer;
    int _length = 12;
    ushort _questions, _answers, _authorities, _additionals;

    public readonly int Length => _length;

    /// <summary>Which section records go to next.</summary>
    public enum Section { Answer, Authority, Additional }

    public Section Current { get; set; }

    public bool Question(byte[] name, ushort type, bool unicastResponse)
    {
        if (_length + name.Length + 4 > _buffer.Length)
            return false;
        name.CopyTo(_buffer[_length..]);
        _length += name.Length;
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_length..], type);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[(_length + 2)..], (ushort)(unicastResponse ? 0x8001 : 1));
        _length += 4;
        _questions++;
        return true;
    }

    public bool Record(byte[] name, ushort type, bool cacheFlush, uint timeToLive, ReadOnlySpan<byte> data)
    {
        if (_length + name.Length + 10 + data.Length > _buffer.Length)
            return false;
        name.CopyTo(_buffer[_length..]);
        _length += name.Length;
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_length..], type);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[(_length + 2)..], (ushort)(cacheFlush ? 0x8001 : 1));
        BinaryPrimitives.WriteUInt32BigEndian(_buffer[(_length + 4)..], timeToLive);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[(_length + 8)..], (ushort)data.Length);
        _length += 10;
        data.CopyTo(_buffer[_length..]);
        _length += data.Length;
        switch (Current)
        {
            case Section.Answer:
                _answers++;
                break;
            case Section.Authority:
                _authorities++;
                break;
            default:
                _additionals++;
                break;
        }
        return true;
    }

    /// <summary>Writes the header; returns the message.</summary>
    public readonly Span<byte> Finish(ushort id, ushort flags)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer, id);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[2..], flags);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[4..], _questions);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[6..], _answers);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[8..], _authorities);
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[10..], _additionals);
        return _buffer[.._length];
    }
}

/// <summary>A standard query (RFC 1035 4.1.1): one question, recursion desired.</summary>
internal static class DnsQuery
{
    /// <summary>False when <paramref name="name"/> is not a host name the wire can carry (empty, a label over 63 bytes, not ASCII).</summary>
    public static bool TryWrite(Span<byte> destination, ushort id, string name, ushort type, out int length)
    {
        length = 0;
        name = name.TrimEnd('.');
        if (name.Length is 0 or > 253)
            return false;
        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label.Any(c => c > 127 || char.IsWhiteSpace(c)))
                return false;
        }
        var writer = new DnsWriter(destination);
        if (!writer.Question(DnsName.Encode(name), type, unicastResponse: false))
            return false;
        length = writer.Finish(id, flags: 0x0100).Length;   // RD
        return true;
    }
}
