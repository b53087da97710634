using Wirestack.Wire;

namespace Wirestack.Tests;

public sealed class WireFormatTests
{
    [Fact(DisplayName = "MAC addresses parse, format and classify")]
    public void MacAddressRoundTrip()
    {
        var mac = MacAddress.Parse("02:00:01:02:03:77");
        Assert.Equal("02:00:01:02:03:77", mac.ToString());
        Assert.Equal(mac, MacAddress.Parse("02-00-01-02-03-77"));
        Span<byte> bytes = stackalloc byte[6];
        mac.WriteTo(bytes);
        Assert.Equal(mac, MacAddress.Read(bytes));
        Assert.False(mac.IsMulticast);
        Assert.True(MacAddress.Broadcast.IsBroadcast && MacAddress.Broadcast.IsMulticast);
        Assert.True(MacAddress.Parse("01:00:5e:00:00:01").IsMulticast);
        foreach (var bad in new[] { "", "02:00:01:02:03", "02:00:01:02:03:7g", "02:00-01:02:03:77", "020001020377xxxxx", "02:00:01:02:03:777" })
            Assert.False(MacAddress.TryParse(bad, out _));
        Assert.Throws<FormatException>(() => MacAddress.Parse("nonsense"));
    }

    [Fact(DisplayName = "Ethernet II: header round trip; an 802.1Q tag is parsed and skipped")]
    public void EthernetRoundTripAndVlan()
    {
        var frame = Frames.Ethernet(Frames.StackMac, Frames.PeerMac, EtherType.Ipv4, [1, 2, 3]);
        Assert.True(EthernetFrame.TryParse(frame, out var parsed));
        Assert.Equal(Frames.StackMac, parsed.Destination);
        Assert.Equal(Frames.PeerMac, parsed.Source);
        Assert.Equal(EtherType.Ipv4, parsed.EtherType);
        Assert.Equal([1, 2, 3], parsed.Payload.ToArray());

        byte[] tagged = [.. frame[..12], 0x81, 0x00, 0x20, 0x2A, 0x08, 0x00, 9, 9];
        Assert.True(EthernetFrame.TryParse(tagged, out var vlan));
        Assert.True(vlan.HasVlanTag);
        Assert.Equal(42, vlan.VlanId);
        Assert.Equal(EtherType.Ipv4, vlan.EtherType);
        Assert.Equal([9, 9], vlan.Payload.ToArray());

        Assert.False(EthernetFrame.TryParse(frame.AsSpan(0, 13), out _));
        Assert.False(EthernetFrame.TryParse(tagged.AsSpan(0, 17), out _));
    }

    [Fact(DisplayName = "RFC 826: ARP packets round trip; other hardware or protocol types are rejected")]
    public void ArpRoundTrip()
    {
        var bytes = new byte[ArpPacket.Length];
        ArpPacket.Write(bytes, ArpOperation.Request, Frames.PeerMac, Frames.PeerIp, MacAddress.Zero, Frames.StackIp);
        Assert.True(ArpPacket.TryParse(bytes, out var arp));
        Assert.Equal(ArpOperation.Request, arp.Operation);
        Assert.Equal(Frames.PeerMac, arp.SenderHardwareAddress);
        Assert.Equal(Frames.PeerIp, arp.SenderProtocolAddress);
        Assert.Equal(Frames.StackIp, arp.TargetProtocolAddress);

        Assert.False(ArpPacket.TryParse(bytes.AsSpan(0, 27), out _));
        var wrongHardware = (byte[])bytes.Clone();
        wrongHardware[1] = 6;
        Assert.False(ArpPacket.TryParse(wrongHardware, out _));
        var wrongLength = (byte[])bytes.Clone();
        wrongLength[5] = 16;
        Assert.False(ArpPacket.TryParse(wrongLength, out _));
    }

    [Fact(DisplayName = "RFC 791 3.1: IPv4 header round trip with flags, offset and a valid checksum")]
    public void Ipv4RoundTrip()
    {
        var packet = Frames.Ipv4(Frames.PeerIp, Frames.StackIp, IpProtocol.Udp, [1, 2, 3, 4, 5, 6, 7, 8], identification: 0x1234, moreFragments: true, fragmentOffset: 1480);
        Assert.True(Ipv4Packet.TryParse(packet, out var ip));
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(28, ip.TotalLength);
        Assert.Equal(0x1234, ip.Identification);
        Assert.True(ip.MoreFragments);
        Assert.False(ip.DontFragment);
        Assert.Equal(1480, ip.FragmentOffset);
        Assert.True(ip.IsFragment);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
        Assert.Equal(Frames.PeerIp, ip.Source);
        Assert.Equal(Frames.StackIp, ip.Destination);
        Assert.Equal(8, ip.Payload.Length);
    }

    [Fact(DisplayName = "RFC 791 3.1: options are skipped and Ethernet padding is trimmed by the total length")]
    public void Ipv4OptionsAndPadding()
    {
        var plain = Frames.Ipv4(Frames.PeerIp, Frames.StackIp, IpProtocol.Udp, [7, 7]);
        // Insert 4 bytes of options (NOP NOP NOP EOL) and pad the buffer.
        byte[] withOptions = [.. plain[..20], 1, 1, 1, 0, .. plain[20..], 0, 0, 0, 0, 0];
        withOptions[0] = 0x46;
        withOptions[3] = 26;
        withOptions[10] = withOptions[11] = 0;
        ushort checksum = Checksum.Compute(withOptions.AsSpan(0, 24));
        withOptions[10] = (byte)(checksum >> 8);
        withOptions[11] = (byte)checksum;
        Assert.True(Ipv4Packet.TryParse(withOptions, out var ip));
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.Equal(24, ip.HeaderLength);
        Assert.Equal(4, ip.Options.Length);
        Assert.Equal([7, 7], ip.Payload.ToArray());
    }

    [Theory(DisplayName = "RFC 791 3.1: IPv4 headers whose fields lie are rejected")]
    [InlineData("version 6")]
    [InlineData("header length 16")]
    [InlineData("header length past buffer")]
    [InlineData("total length below header")]
    [InlineData("total length past buffer")]
    [InlineData("truncated")]
    public void Ipv4LyingFieldsRejected(string defect)
    {
        var packet = Frames.Ipv4(Frames.PeerIp, Frames.StackIp, IpProtocol.Udp, new byte[8]);
        switch (defect)
        {
            case "version 6": packet[0] = 0x65; break;
            case "header length 16": packet[0] = 0x44; break;
            case "header length past buffer": packet[0] = 0x4F; break;
            case "total length below header": packet[2] = 0; packet[3] = 19; break;
            case "total length past buffer": packet[2] = 0; packet[3] = 29; break;
            case "truncated": packet = packet[..19]; break;
        }
        Assert.False(Ipv4Packet.TryParse(packet, out _));
    }

    [Fact(DisplayName = "RFC 792: echo request round trip and checksum")]
    public void IcmpEcho()
    {
        var message = Frames.EchoRequestMessage(0xBEEF, 7, [1, 2, 3]);
        Assert.True(Icmpv4Message.TryParse(message, out var icmp));
        Assert.True(icmp.IsChecksumValid);
        Assert.Equal(Icmpv4Type.EchoRequest, icmp.Type);
        Assert.Equal(0xBEEF, icmp.Identifier);
        Assert.Equal(7, icmp.SequenceNumber);
        Assert.Equal([1, 2, 3], icmp.Payload.ToArray());
        Assert.False(icmp.IsError);
        message[9] ^= 1;
        Assert.True(Icmpv4Message.TryParse(message, out var corrupted));
        Assert.False(corrupted.IsChecksumValid);
        Assert.False(Icmpv4Message.TryParse(message.AsSpan(0, 7), out _));
    }

    [Fact(DisplayName = "RFC 768: UDP round trip, pseudo-header checksum, zero checksum means none")]
    public void UdpRoundTrip()
    {
        var datagram = Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 5000, 7, [9, 8, 7]);
        Assert.True(UdpDatagram.TryParse(datagram, out var udp));
        Assert.Equal(5000, udp.SourcePort);
        Assert.Equal(7, udp.DestinationPort);
        Assert.Equal(11, udp.Length);
        Assert.True(udp.IsChecksumValid(Frames.PeerIp, Frames.StackIp));
        Assert.False(udp.IsChecksumValid(Frames.PeerIp, Ipv4Address.Parse("192.168.0.3")));
        datagram[6] = datagram[7] = 0;
        Assert.True(UdpDatagram.TryParse(datagram, out var unchecked_));
        Assert.True(unchecked_.IsChecksumValid(Frames.PeerIp, Ipv4Address.Parse("10.0.0.1")));

        var lying = (byte[])datagram.Clone();
        lying[5] = 12;
        Assert.False(UdpDatagram.TryParse(lying, out _));
        lying[5] = 7;
        Assert.False(UdpDatagram.TryParse(lying, out _));
        Assert.False(UdpDatagram.TryParse(datagram.AsSpan(0, 7), out _));
    }

    [Fact(DisplayName = "RFC 768: a checksum that computes to zero is sent as 0xFFFF")]
    public void UdpZeroChecksumSentAsOnes()
    {
        // Search payloads until one sums to a zero checksum, then check the writer's substitution.
        for (int i = 0; i < 200_000; i++)
        {
            byte[] payload = [(byte)(i >> 8), (byte)i];
            var datagram = Frames.UdpMessage(Frames.PeerIp, Frames.StackIp, 1, 2, payload);
            UdpDatagram.TryParse(datagram, out var udp);
            if (udp.StoredChecksum == 0xFFFF)
            {
                Assert.True(udp.IsChecksumValid(Frames.PeerIp, Frames.StackIp));
                return;
            }
        }
        Assert.Fail("no payload produced a zero checksum");
    }

    [Fact(DisplayName = "Hostile input: every parser returns false or a bounded view for random and truncated bytes, never throws")]
    public void RandomBytesNeverThrow()
    {
        var random = new Random(42);
        for (int i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(0, 120)];
            random.NextBytes(bytes);
            if (bytes.Length > 0 && random.Next(2) == 0)
                bytes[0] = (byte)(0x40 | (bytes[0] & 0x0F));
            if (EthernetFrame.TryParse(bytes, out var eth))
                _ = (eth.EtherType, eth.Payload.Length, eth.VlanId);
            if (ArpPacket.TryParse(bytes, out var arp))
                _ = (arp.Operation, arp.SenderProtocolAddress, arp.TargetHardwareAddress);
            if (Ipv4Packet.TryParse(bytes, out var ip))
            {
                _ = (ip.IsHeaderChecksumValid, ip.Options.Length, ip.Payload.Length, ip.FragmentOffset);
                Assert.True(ip.HeaderLength <= ip.TotalLength && ip.TotalLength <= bytes.Length);
            }
            if (Icmpv4Message.TryParse(bytes, out var icmp))
                _ = (icmp.IsChecksumValid, icmp.Payload.Length, icmp.SequenceNumber);
            if (UdpDatagram.TryParse(bytes, out var udp))
            {
                _ = (udp.Payload.Length, udp.IsChecksumValid(Frames.PeerIp, Frames.StackIp));
                Assert.True(udp.Length <= bytes.Length);
            }
            // IPv6: the fixed header, the extension-header walk from it, ICMPv6, NDP options, DHCPv6.
            var six = (byte[])bytes.Clone();
            if (six.Length > 0 && random.Next(2) == 0)
                six[0] = (byte)(0x60 | (six[0] & 0x0F));
            if (Ipv6Packet.TryParse(six, out var ip6))
            {
                Assert.True(ip6.Bytes.Length <= six.Length);
                var verdict = Ipv6HeaderChain.Walk(ip6.Bytes, ip6.Destination.IsMulticast, out var chain);
                if (verdict == HeaderChainVerdict.Deliver)
                    Assert.InRange(chain.UpperOffset, Ipv6Packet.HeaderLength, ip6.Bytes.Length + 8);
            }
            if (Icmpv6Message.TryParse(bytes, out var icmp6))
                _ = (icmp6.Type, icmp6.Body.Length, icmp6.IsChecksumValid(Ipv6Frames.PeerLinkLocal, IpAddress.AllNodes));
            if (NdpOptionReader.Validate(bytes))
            {
                var reader = new NdpOptionReader(bytes);
                while (reader.TryNext(out _, out var option))
                    Assert.True(option.Length >= 8 && option.Length % 8 == 0);
            }
            if (Dhcpv6Message.TryParse(bytes, out var dhcp6))
                _ = (dhcp6.Type, dhcp6.TransactionId, dhcp6.TryGetOption(Dhcpv6Option.IaNa, out _), Dhcpv6Message.StatusOf(dhcp6.Options));
        }
    }
}
