using System.Buffers.Binary;
using System.Security.Cryptography;
using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

/// <summary>
/// Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, secret), M a 4-microsecond clock, F a keyed hash
/// (HMAC-SHA256 truncated), so ISNs are unpredictable off-path yet increase for a given tuple.
/// Also the keyed hash behind SYN cookies.
/// </summary>
internal sealed class InitialSequenceNumbers
{
    readonly byte[] _secret = RandomNumberGenerator.GetBytes(32);

    public uint Next(in TcpConnectionKey key, long nowMicroseconds) => (uint)(nowMicroseconds / 4) + Hash(key, 0);

    /// <summary>A keyed 32-bit hash of the tuple and an extra value.</summary>
    public uint Hash(in TcpConnectionKey key, uint extra)
    {
        Span<byte> input = stackalloc byte[40];
        key.LocalAddress.WriteTo(input);
        key.RemoteAddress.WriteTo(input[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(input[32..], key.LocalPort);
        BinaryPrimitives.WriteUInt16BigEndian(input[34..], key.RemotePort);
        BinaryPrimitives.WriteUInt32BigEndian(input[36..], extra);
        Span<byte> digest = stackalloc byte[32];
        HMACSHA256.HashData(_secret, input, digest);
        return BinaryPrimitives.ReadUInt32BigEndian(digest);
    }
}

/// <summary>
/// SYN cookies (RFC 4987 3.6): when a listener's queue is full, the SYN-ACK's sequence number encodes the state a
/// connection needs (a coarse time, an MSS index) under a keyed hash, so no state is kept until the final ACK.
/// Layout: 5 bits of time (64 s units), 3 bits of MSS index, 24 bits of hash.
/// </summary>
internal sealed class SynCookies(InitialSequenceNumbers hash)
{
    const long TimeUnit = 64_000_000;
    static readonly ushort[] MssTable = [536, 1220, 1360, 1400, 1440, 1452, 1460, 8960];

    public uint Create(in TcpConnectionKey key, uint clientSequence, int peerMss, long now)
    {
        uint time = (uint)(now / TimeUnit) & 0x1F;
        int index = 0;
        for (int i = MssTable.Length - 1; i >= 0; i--)
        {
            if (MssTable[i] <= peerMss)
            {
                index = i;
                break;
            }
        }
        uint mac = hash.Hash(key, clientSequence ^ (time << 3 | (uint)index)) & 0xFFFFFF;
        return time << 27 | (uint)index << 24 | mac;
    }

    /// <summary>Checks a cookie returned as ACK - 1; valid for two time units. Gives the MSS it encoded.</summary>
    public bool TryValidate(in TcpConnectionKey key, uint clientSequence, uint cookie, long now, out int mss)
    {
        mss = 0;
        uint time = cookie >> 27;
        int index = (int)(cookie >> 24) & 0x7;
        uint current = (uint)(now / TimeUnit) & 0x1F;
        uint age = (current - time) & 0x1F;
        if (age > 1)
            return false;
        uint mac = hash.Hash(key, clientSequence ^ (time << 3 | (uint)index)) & 0xFFFFFF;
        if (mac != (cookie & 0xFFFFFF))
            return false;
        mss = MssTable[index];
        return true;
    }
}
