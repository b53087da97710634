using Wirestack.Wire;

namespace Wirestack.Fuzz;

/// <summary>
/// Seeds every target's corpus from real traffic: the frames our two stacks exchange in each configuration of
/// <see cref="FuzzedLan"/> (ARP, NDP and SLAAC, DHCP and DHCPv6, MLD and IGMP, mDNS, TCP with options), and the
/// records inside them for the parser targets.
/// </summary>
internal static class CorpusSeeds
{
    public static void Write(string root)
    {
        var frames = new List<byte[]>();
        for (byte configuration = 0; configuration < 4; configuration++)
        {
            var captured = new List<byte[]>();
            using (var lan = new FuzzedLan(configuration) { Observe = f => captured.Add(f.ToArray()) })
                lan.Run(TimeSpan.FromSeconds(20));
            frames.AddRange(captured);
            // The frame target: the configuration, then a run of captured frames replayed as if from a third host.
            for (int start = 0, n = 0; start < captured.Count && n < 12; start += Math.Max(1, captured.Count / 12), n++)
            {
                using var seed = new MemoryStream();
                seed.WriteByte(configuration);
                foreach (var frame in captured.Skip(start).Take(4))
                {
                    seed.WriteByte(1);
                    seed.WriteByte((byte)(frame.Length >> 8));
                    seed.WriteByte((byte)frame.Length);
                    seed.Write(frame);
                }
                Save(root, "frames", seed.ToArray());
            }
        }
        foreach (var frame in frames)
            SeedRecords(root, frame);
        // What our two stacks never send each other: a router's advertisement (prefix, MTU, DNS, M and O flags: SLAAC
        // and DHCPv6 start) and a DHCPv6 server's answer.
        var advertisement = RouterAdvertisement();
        foreach (byte configuration in (byte[])[0, 1, 2])
            Save(root, "frames", [configuration, 1, (byte)(advertisement.Length >> 8), (byte)advertisement.Length, .. advertisement]);
        SeedRecords(root, advertisement);
        Save(root, "dhcpv6", Dhcpv6Advertise());
    }

    static readonly MacAddress RouterMac = MacAddress.Parse("02:00:00:00:00:fe");

    /// <summary>An RA (RFC 4861 4.2) from fe80::fe: M and O set, a /64 prefix, the MTU and RDNSS options.</summary>
    static byte[] RouterAdvertisement()
    {
        byte[] body =
        [
            64, 0xC0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0,
            NdpOptionType.SourceLinkLayerAddress, 1, 0x02, 0, 0, 0, 0, 0xfe,
            NdpOptionType.PrefixInformation, 4, 64, 0xC0, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0,
            0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            NdpOptionType.Mtu, 1, 0, 0, 0, 0, 0x05, 0xDC,
            25, 3, 0, 0, 0, 0, 0x0E, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
        ];
        var source = IpAddress.LinkLocal(0xfe);
        var frame = new byte[EthernetFrame.HeaderLength + Ipv6Packet.HeaderLength + Icmpv6Message.HeaderLength + body.Length];
        int at = EthernetFrame.WriteHeader(frame, MacAddress.Parse("33:33:00:00:00:01"), RouterMac, EtherType.Ipv6);
        Ipv6Packet.WriteHeader(frame.AsSpan(at), Icmpv6Message.HeaderLength + body.Length, IpProtocol.Icmpv6, 255, source, IpAddress.AllNodes);
        var message = frame.AsSpan(at + Ipv6Packet.HeaderLength);
        body.CopyTo(message[Icmpv6Message.HeaderLength..]);
        Icmpv6Message.Finish(message, Icmpv6Type.RouterAdvertisement, 0, source, IpAddress.AllNodes);
        return frame;
    }

    /// <summary>A DHCPv6 Advertise (RFC 8415 18.2.9): client and server IDs, an IA_NA with one address, DNS servers and a domain list.</summary>
    static byte[] Dhcpv6Advertise() =>
    [
        2, 0x12, 0x34, 0x56,
        0, 1, 0, 10, 0, 3, 0, 1, 0x02, 0, 1, 2, 3, 0x77,
        0, 2, 0, 10, 0, 3, 0, 1, 0x02, 0, 0, 0, 0, 0xfe,
        0, 3, 0, 40, 0, 0, 0, 1, 0, 0, 0x0E, 0x10, 0, 0, 0x15, 0x18,
        0, 5, 0, 24, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0x1C, 0x20, 0, 0, 0x2A, 0x30,
        0, 23, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
        0, 24, 0, 9, 7, (byte)'e', (byte)'x', (byte)'a', (byte)'m', (byte)'p', (byte)'l', (byte)'e', 0,
    ];

    static void SeedRecords(string root, byte[] frame)
    {
        if (!EthernetFrame.TryParse(frame, out var eth))
            return;
        if (eth.EtherType == EtherType.Ipv4 && Ipv4Packet.TryParse(eth.Payload, out var ipv4))
        {
            if (ipv4.Protocol == IpProtocol.Tcp)
                Save(root, "tcp-options", ipv4.Payload.ToArray());
            else if (ipv4.Protocol == IpProtocol.Igmp)
                Save(root, "igmp-mld", ipv4.Payload.ToArray());
            else if (ipv4.Protocol == IpProtocol.Udp && UdpDatagram.TryParse(ipv4.Payload, out var udp))
                SeedUdp(root, udp.DestinationPort, udp.Payload.ToArray());
        }
        else if (eth.EtherType == EtherType.Ipv6 && Ipv6Packet.TryParse(eth.Payload, out var ipv6))
        {
            Save(root, "ipv6-chain", eth.Payload.ToArray());
            if (Ipv6HeaderChain.Walk(ipv6.Bytes, ipv6.Destination.IsMulticast, out var chain) != HeaderChainVerdict.Deliver)
                return;
            var upper = ipv6.Bytes[chain.UpperOffset..];
            if (chain.UpperProtocol == IpProtocol.Tcp)
                Save(root, "tcp-options", upper.ToArray());
            else if (chain.UpperProtocol == IpProtocol.Udp && UdpDatagram.TryParse(upper, out var udp))
                SeedUdp(root, udp.DestinationPort, udp.Payload.ToArray());
            else if (chain.UpperProtocol == IpProtocol.Icmpv6 && upper.Length > Icmpv6Message.HeaderLength)
                Save(root, (Icmpv6Type)upper[0] is Icmpv6Type.MulticastListenerQuery or (Icmpv6Type)143 ? "igmp-mld" : "ndp",
                    upper[Icmpv6Message.HeaderLength..].ToArray());
        }
    }

    static void SeedUdp(string root, ushort port, byte[] payload)
    {
        switch (port)
        {
            case 53 or 5353:
                Save(root, "dns", payload);
                break;
            case 67 or 68:
                Save(root, "dhcp", payload);
                break;
            case 546 or 547:
                Save(root, "dhcpv6", payload);
                break;
        }
    }

    /// <summary>Saves one input under its content hash (so the same record seen twice is one file), up to 40 a target.</summary>
    static void Save(string root, string target, byte[] input)
    {
        string directory = Path.Combine(root, target);
        Directory.CreateDirectory(directory);
        if (Directory.GetFiles(directory).Length >= 40)
            return;
        string name = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(input))[..16].ToLowerInvariant();
        File.WriteAllBytes(Path.Combine(directory, name), input);
    }
}
