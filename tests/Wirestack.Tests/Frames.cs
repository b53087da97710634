using System.Buffers.Binary;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>Builds frames a test peer sends, independent of the engine's own output path.</summary>
internal static class Frames
{
    public static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:01");
    public static readonly MacAddress StackMac = MacAddress.Parse("02:00:01:02:03:77");
    public static readonly Ipv4Address PeerIp = Ipv4Address.Parse("192.168.0.1");
    public static readonly Ipv4Address StackIp = Ipv4Address.Parse("192.168.0.2");

    public static byte[] Ethernet(MacAddress to, MacAddress from, ushort etherType, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[EthernetFrame.HeaderLength + payload.Length];
        EthernetFrame.WriteHeader(frame, to, from, etherType);
        payload.CopyTo(frame.AsSpan(EthernetFrame.HeaderLength));
        return frame;
    }

    public static byte[] Arp(ArpOperation operation, MacAddress senderMac, Ipv4Address senderIp, MacAddress targetMac, Ipv4Address targetIp,
        MacAddress? to = null)
    {
        var arp = new byte[ArpPacket.Length];
        ArpPacket.Write(arp, operation, senderMac, senderIp, targetMac, targetIp);
        return Ethernet(to ?? MacAddress.Broadcast, senderMac, EtherType.Arp, arp);
    }

    public static byte[] Ipv4(Ipv4Address source, Ipv4Address destination, byte protocol, ReadOnlySpan<byte> payload,
        ushort identification = 1, bool moreFragments = false, int fragmentOffset = 0, bool dontFragment = false, byte ttl = 64)
    {
        var packet = new byte[Ipv4Packet.MinimumHeaderLength + payload.Length];
        new Ipv4Header(source, destination, protocol, ttl, identification) { DontFragment = dontFragment, MoreFragments = moreFragments, FragmentOffset = fragmentOffset }
            .Write(packet, packet.Length);
        payload.CopyTo(packet.AsSpan(Ipv4Packet.MinimumHeaderLength));
        return packet;
    }

    public static byte[] EchoRequestMessage(ushort identifier, ushort sequence, ReadOnlySpan<byte> data)
    {
        var message = new byte[Icmpv4Message.HeaderLength + data.Length];
        data.CopyTo(message.AsSpan(Icmpv4Message.HeaderLength));
        Icmpv4Message.WriteHeader(message, Icmpv4Type.EchoRequest, 0, (uint)(identifier << 16 | sequence));
        return message;
    }

    public static byte[] UdpMessage(Ipv4Address source, Ipv4Address destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        var datagram = new byte[UdpDatagram.HeaderLength + payload.Length];
        payload.CopyTo(datagram.AsSpan(UdpDatagram.HeaderLength));
        UdpDatagram.WriteHeader(datagram, sourcePort, destinationPort, payload.Length, source, destination);
        return datagram;
    }

    public static byte[] ToStack(byte protocol, ReadOnlySpan<byte> payload, ushort identification = 1) =>
        Ethernet(StackMac, PeerMac, EtherType.Ipv4, Ipv4(PeerIp, StackIp, protocol, payload, identification));

    /// <summary>Splits an IP payload into fragments of at most <paramref name="chunk"/> bytes (a multiple of 8), as frames.</summary>
    public static List<byte[]> Fragments(byte protocol, byte[] payload, int chunk, ushort identification)
    {
        var frames = new List<byte[]>();
        for (int offset = 0; offset < payload.Length; offset += chunk)
        {
            int length = Math.Min(chunk, payload.Length - offset);
            bool more = offset + length < payload.Length;
            frames.Add(Fragment(protocol, payload.AsSpan(offset, length), offset, more, identification));
        }
        return frames;
    }

    public static byte[] Fragment(byte protocol, ReadOnlySpan<byte> data, int offset, bool more, ushort identification) =>
        Ethernet(StackMac, PeerMac, EtherType.Ipv4, Ipv4(PeerIp, StackIp, protocol, data, identification, more, offset));

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static ushort ReadUInt16(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt16BigEndian(bytes[offset..]);
}
