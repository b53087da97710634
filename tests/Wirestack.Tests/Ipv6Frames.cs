using System.Buffers.Binary;
using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Wire;

namespace Wirestack.Tests;

/// <summary>IPv6 frames a peer, a router or an attacker sends, and readers for what the stack sends.</summary>
internal static class Ipv6Frames
{
    public static readonly IpAddress PeerLinkLocal = IpAddress.Parse("fe80::1");
    public static readonly IpAddress RouterLinkLocal = IpAddress.Parse("fe80::fe");
    public static readonly MacAddress RouterMac = MacAddress.Parse("02:00:00:00:00:fe");
    public static readonly IpAddress Prefix = IpAddress.Parse("2001:db8:1::");
    public static readonly IpAddress PeerGlobal = IpAddress.Parse("2001:db8:1::1");
    public static readonly byte[] Secret = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    public static StackOptions Options(Ipv6Settings? ipv6 = null) => new()
    {
        Ipv4 = Ipv4Settings.Static("192.168.0.2/24"),
        Ipv6 = ipv6 ?? new Ipv6Settings { StableSecret = Secret },
        RandomSeed = 7,
    };

    /// <summary>An engine whose link-local address has passed DAD, with the startup frames drained.</summary>
    public static EngineHarness Started(Ipv6Settings? ipv6 = null, int mtu = 1500)
    {
        var h = new EngineHarness(Options(ipv6), mtu);
        h.Step(TimeSpan.FromSeconds(3));
        h.Drain();
        return h;
    }

    public static IpAddress LinkLocal(EngineHarness h) =>
        h.Engine.Ipv6!.Addresses.Single(a => a.Origin == Ipv6AddressOrigin.LinkLocal && a.IsAssigned).Address;

    public static MacAddress MulticastMac(IpAddress group)
    {
        Span<byte> mac = [0x33, 0x33, 0, 0, 0, 0];
        BinaryPrimitives.WriteUInt32BigEndian(mac[2..], (uint)group.Low);
        return MacAddress.Read(mac);
    }

    /// <summary>An IPv6 packet in an Ethernet frame to the stack (or to the group's MAC for multicast).</summary>
    public static byte[] Packet(IpAddress source, IpAddress destination, byte nextHeader, ReadOnlySpan<byte> payload, byte hopLimit = 64,
        MacAddress? from = null)
    {
        var packet = new byte[Ipv6Packet.HeaderLength + payload.Length];
        Ipv6Packet.WriteHeader(packet, payload.Length, nextHeader, hopLimit, source, destination);
        payload.CopyTo(packet.AsSpan(Ipv6Packet.HeaderLength));
        var to = destination.IsMulticast ? MulticastMac(destination) : Frames.StackMac;
        return Frames.Ethernet(to, from ?? Frames.PeerMac, EtherType.Ipv6, packet);
    }

    /// <summary>An ICMPv6 message (type, code, body) with its checksum.</summary>
    public static byte[] Icmp(Icmpv6Type type, byte code, ReadOnlySpan<byte> body, IpAddress source, IpAddress destination)
    {
        var message = new byte[Icmpv6Message.HeaderLength + body.Length];
        body.CopyTo(message.AsSpan(Icmpv6Message.HeaderLength));
        Icmpv6Message.Finish(message, type, code, source, destination);
        return message;
    }

    public static byte[] IcmpPacket(Icmpv6Type type, byte code, ReadOnlySpan<byte> body, IpAddress source, IpAddress destination, byte hopLimit = 255,
        MacAddress? from = null) =>
        Packet(source, destination, IpProtocol.Icmpv6, Icmp(type, code, body, source, destination), hopLimit, from);

    static byte[] LinkOption(byte type, MacAddress mac)
    {
        var option = new byte[8];
        NdpOptionReader.WriteLinkAddress(option, type, mac);
        return option;
    }

    public static byte[] NeighborSolicitation(IpAddress target, IpAddress source, IpAddress destination, MacAddress? sourceLinkAddress, byte hopLimit = 255)
    {
        var body = new byte[20];
        target.WriteTo(body.AsSpan(4));
        byte[] all = sourceLinkAddress is { } mac ? [.. body, .. LinkOption(NdpOptionType.SourceLinkLayerAddress, mac)] : body;
        return IcmpPacket(Icmpv6Type.NeighborSolicitation, 0, all, source, destination, hopLimit, sourceLinkAddress);
    }

    public static byte[] NeighborAdvertisement(IpAddress target, IpAddress destination, bool solicited, bool overrideFlag, MacAddress? targetLinkAddress,
        MacAddress? from = null, IpAddress? source = null)
    {
        var body = new byte[20];
        BinaryPrimitives.WriteUInt32BigEndian(body, (solicited ? 0x4000_0000u : 0) | (overrideFlag ? 0x2000_0000u : 0));
        target.WriteTo(body.AsSpan(4));
        var all = targetLinkAddress is { } mac ? [.. body, .. LinkOption(NdpOptionType.TargetLinkLayerAddress, mac)] : body;
        return IcmpPacket(Icmpv6Type.NeighborAdvertisement, 0, all, source ?? target, destination, 255, from ?? targetLinkAddress ?? Frames.PeerMac);
    }

    /// <summary>A Prefix Information option (RFC 4861 4.6.2).</summary>
    public static byte[] PrefixOption(IpAddress prefix, int length, uint valid, uint preferred, bool onLink = true, bool autonomous = true)
    {
        var option = new byte[32];
        option[0] = NdpOptionType.PrefixInformation;
        option[1] = 4;
        option[2] = (byte)length;
        option[3] = (byte)((onLink ? 0x80 : 0) | (autonomous ? 0x40 : 0));
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(4), valid);
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(8), preferred);
        prefix.WriteTo(option.AsSpan(16));
        return option;
    }

    public static byte[] MtuOption(uint mtu)
    {
        var option = new byte[8];
        option[0] = NdpOptionType.Mtu;
        option[1] = 1;
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(4), mtu);
        return option;
    }

    public static byte[] RouterAdvertisement(ushort routerLifetime, IEnumerable<byte[]> options, byte curHopLimit = 64, uint reachableTime = 0,
        uint retransTimer = 0, IpAddress? source = null, MacAddress? mac = null, byte hopLimit = 255, byte flags = 0)
    {
        var body = new byte[12];
        body[0] = curHopLimit;
        body[1] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(2), routerLifetime);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(4), reachableTime);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(8), retransTimer);
        var routerMac = mac ?? RouterMac;
        byte[] all = [.. body, .. LinkOption(NdpOptionType.SourceLinkLayerAddress, routerMac), .. options.SelectMany(o => o)];
        return IcmpPacket(Icmpv6Type.RouterAdvertisement, 0, all, source ?? RouterLinkLocal, IpAddress.AllNodes, hopLimit, routerMac);
    }

    /// <summary>What the stack sent, parsed: the IPv6 header fields and, for ICMPv6, type, code and body.</summary>
    public sealed record Sent(MacAddress To, IpAddress Source, IpAddress Destination, byte HopLimit, byte NextHeader, byte[] Payload)
    {
        public Icmpv6Type IcmpType => (Icmpv6Type)Payload[0];
        public byte IcmpCode => Payload[1];
        public byte[] IcmpBody => Payload[4..];

        /// <summary>The ICMPv6 message, past a Hop-by-Hop header when there is one.</summary>
        public byte[] Icmp => NextHeader == Ipv6NextHeader.HopByHop ? Payload[((Payload[1] + 1) * 8)..] : Payload;
    }

    public static Sent? Parse(byte[] frame)
    {
        if (!EthernetFrame.TryParse(frame, out var eth) || eth.EtherType != EtherType.Ipv6 || !Ipv6Packet.TryParse(eth.Payload, out var packet))
            return null;
        return new Sent(eth.Destination, packet.Source, packet.Destination, packet.HopLimit, packet.NextHeader, packet.Payload.ToArray());
    }

    public static List<Sent> Ipv6Sent(this EngineHarness h) => [.. h.Drain().Select(Parse).OfType<Sent>()];

    public static List<Sent> OfType(this IEnumerable<Sent> sent, Icmpv6Type type) =>
        [.. sent.Where(s => s.NextHeader == IpProtocol.Icmpv6 && s.IcmpType == type)];

    public static List<StackEventArgs> TakeEvents(this EngineHarness h)
    {
        var events = new List<StackEventArgs>();
        while (h.Engine.TryTakeEvent(out var e))
            events.Add(e);
        return events;
    }

    /// <summary>Advances the clock in 100 ms steps, as a running stack would poll.</summary>
    public static void Step(this EngineHarness h, TimeSpan total)
    {
        for (var done = TimeSpan.Zero; done < total; done += TimeSpan.FromMilliseconds(100))
            h.Advance(TimeSpan.FromMilliseconds(100));
    }
}
