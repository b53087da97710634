using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>
/// An NTP timestamp (RFC 5905 6): seconds since 1900-01-01 in the high 32 bits, fraction in the low 32. The
/// seconds wrap every 136 years (era 0 ends in 2036); differences are taken modulo 2^64 so they stay right
/// across the wrap.
/// </summary>
internal readonly record struct NtpTimestamp(ulong Value)
{
    static readonly DateTimeOffset Era0 = new(1900, 1, 1, 0, 0, 0, TimeSpan.Zero);
    const long TicksPerEra = (1L << 32) * TimeSpan.TicksPerSecond;

    /// <summary>True for the all-zero timestamp (unset).</summary>
    public bool IsZero => Value == 0;

    /// <summary>The timestamp of a time (any era).</summary>
    public static NtpTimestamp FromDateTime(DateTimeOffset time)
    {
        long ticks = (time - Era0).Ticks;
        long withinEra = ((ticks % TicksPerEra) + TicksPerEra) % TicksPerEra;
        ulong seconds = (ulong)(withinEra / TimeSpan.TicksPerSecond);
        ulong fraction = (ulong)(withinEra % TimeSpan.TicksPerSecond) * (1UL << 32) / TimeSpan.TicksPerSecond;
        return new NtpTimestamp(seconds << 32 | fraction);
    }

    /// <summary>The time this timestamp names in the era that puts it closest to <paramref name="near"/>.</summary>
    public DateTimeOffset ToDateTime(DateTimeOffset near) => near + (this - FromDateTime(near));

    /// <summary>The signed difference a - b, correct across an era boundary while |a - b| &lt; 68 years.</summary>
    public static TimeSpan operator -(NtpTimestamp a, NtpTimestamp b)
    {
        long difference = (long)(a.Value - b.Value);
        // 2^32 units per second.
        Int128 ticks = (Int128)difference * TimeSpan.TicksPerSecond >> 32;
        return TimeSpan.FromTicks((long)ticks);
    }
}

/// <summary>An NTP packet (RFC 5905 7.3, SNTP RFC 4330 4) viewed over a caller's buffer.</summary>
internal readonly ref struct NtpPacket
{
    /// <summary>Length without extensions or MAC.</summary>
    public const int Length = 48;
    /// <summary>Client mode.</summary>
    public const int ModeClient = 3;
    /// <summary>Server mode.</summary>
    public const int ModeServer = 4;

    readonly ReadOnlySpan<byte> _bytes;

    NtpPacket(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>False when shorter than 48 bytes.</summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out NtpPacket packet)
    {
        packet = default;
        if (bytes.Length < Length)
            return false;
        packet = new NtpPacket(bytes);
        return true;
    }

    /// <summary>Leap indicator; 3 means the server's clock is not synchronised.</summary>
    public int LeapIndicator => _bytes[0] >> 6;
    /// <summary>Version.</summary>
    public int Version => (_bytes[0] >> 3) & 7;
    /// <summary>Mode (4 for a server reply).</summary>
    public int Mode => _bytes[0] & 7;
    /// <summary>Stratum; 0 is a kiss-o'-death message (RFC 5905 7.4).</summary>
    public int Stratum => _bytes[1];
    /// <summary>The reference identifier; in a kiss-o'-death, the ASCII kiss code (DENY, RSTR, RATE…).</summary>
    public string ReferenceCode => System.Text.Encoding.ASCII.GetString(_bytes.Slice(12, 4)).TrimEnd('\0');
    /// <summary>T1 as echoed by the server.</summary>
    public NtpTimestamp OriginTimestamp => new(BinaryPrimitives.ReadUInt64BigEndian(_bytes[24..]));
    /// <summary>T2: when the server received the request.</summary>
    public NtpTimestamp ReceiveTimestamp => new(BinaryPrimitives.ReadUInt64BigEndian(_bytes[32..]));
    /// <summary>T3: when the server sent the reply.</summary>
    public NtpTimestamp TransmitTimestamp => new(BinaryPrimitives.ReadUInt64BigEndian(_bytes[40..]));

    /// <summary>Writes a client request (version 4, mode 3) carrying <paramref name="transmit"/>.</summary>
    public static void WriteRequest(Span<byte> destination, NtpTimestamp transmit)
    {
        destination[..Length].Clear();
        destination[0] = 4 << 3 | ModeClient;
        BinaryPrimitives.WriteUInt64BigEndian(destination[40..], transmit.Value);
    }

    /// <summary>Writes a server reply (tests and the DHCP server's companion tools).</summary>
    public static void WriteReply(Span<byte> destination, int stratum, NtpTimestamp origin, NtpTimestamp receive, NtpTimestamp transmit, string referenceCode = "LOCL", int leap = 0)
    {
        destination[..Length].Clear();
        destination[0] = (byte)(leap << 6 | 4 << 3 | ModeServer);
        destination[1] = (byte)stratum;
        System.Text.Encoding.ASCII.GetBytes(referenceCode.PadRight(4, '\0').AsSpan(0, 4), destination[12..]);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], origin.Value);
        BinaryPrimitives.WriteUInt64BigEndian(destination[32..], receive.Value);
        BinaryPrimitives.WriteUInt64BigEndian(destination[40..], transmit.Value);
    }
}
