using System.Buffers.Binary;
using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class ChecksumTests
{
    static ushort Reference(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
            sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length)
            sum += (uint)(data[i] << 8);
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    [Fact(DisplayName = "RFC 1071 3: the vectorized checksum equals a scalar reference for every length 0..2000")]
    public void MatchesScalarReferenceForEveryLength()
    {
        var random = new Random(1071);
        var buffer = new byte[2000 + 64];
        for (int length = 0; length <= 2000; length++)
        {
            random.NextBytes(buffer);
            // Misalign the start on odd lengths too, so vector loads cross every alignment.
            int start = length % 7;
            var data = buffer.AsSpan(start, length);
            Assert.Equal(Reference(data), Checksum.Compute(data));
        }
    }

    [Fact(DisplayName = "RFC 1071 3: all-0xFF buffers (maximum carries) match the reference")]
    public void MaximumCarries()
    {
        for (int length = 0; length < 4096; length += 61)
        {
            var data = Enumerable.Repeat((byte)0xFF, length).ToArray();
            Assert.Equal(Reference(data), Checksum.Compute(data));
        }
    }

    [Fact(DisplayName = "RFC 1071 3: the worked example sums to 0xddf2")]
    public void WorkedExample()
    {
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(0xddf2u, Checksum.Sum(data));
        Assert.Equal((ushort)0x220d, Checksum.Compute(data));
    }

    [Fact(DisplayName = "RFC 1071 2(B): partial sums over even-length chunks chain to the whole sum")]
    public void PartialSumsChain()
    {
        var random = new Random(2);
        var data = new byte[1501];
        random.NextBytes(data);
        uint partial = Checksum.Sum(data.AsSpan(0, 600));
        partial = Checksum.Sum(data.AsSpan(600, 400), partial);
        Assert.Equal(Checksum.Compute(data), Checksum.Finish(Checksum.Sum(data.AsSpan(1000), partial)));
    }

    [Fact(DisplayName = "RFC 1624 3: incremental update equals recomputation")]
    public void IncrementalUpdateMatchesRecompute()
    {
        var random = new Random(1624);
        for (int trial = 0; trial < 2000; trial++)
        {
            var data = new byte[2 * random.Next(2, 40)];
            random.NextBytes(data);
            ushort before = Checksum.Compute(data);
            int word = 2 * random.Next(data.Length / 2);
            ushort oldValue = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(word));
            ushort newValue = (ushort)random.Next(65536);
            BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(word), newValue);
            ushort updated = Checksum.Update(before, oldValue, newValue);
            // One's complement has two zeros; the verification of the whole must hold either way.
            var withChecksum = data.Concat(new byte[] { (byte)(updated >> 8), (byte)updated }).ToArray();
            Assert.Equal(0, Checksum.Compute(withChecksum));
        }
    }

    [Fact(DisplayName = "RFC 768: the pseudo-header sum covers addresses, protocol and length")]
    public void PseudoHeader()
    {
        var source = Ipv4Address.Parse("192.168.0.1");
        var destination = Ipv4Address.Parse("192.168.0.2");
        byte[] pseudo = [192, 168, 0, 1, 192, 168, 0, 2, 0, 17, 0, 12];
        Assert.Equal(Checksum.Sum(pseudo), Checksum.PseudoHeaderSum(source, destination, 17, 12));
    }
}
