using System.Buffers.Binary;
using Wirestack.Dhcp;
using Wirestack.Wire;
using static Wirestack.Tests.Ipv6Frames;

namespace Wirestack.Tests;

public sealed class Dhcpv6Tests
{
    static readonly byte[] ServerDuid = [0, 3, 0, 1, 2, 0, 0, 0, 0, 0xfe];
    static readonly IpAddress Leased = IpAddress.Parse("2001:db8:1::77");
    static readonly IpAddress DnsServer = IpAddress.Parse("2001:db8:1::53");
    static readonly IpAddress SntpServer = IpAddress.Parse("2001:db8:1::123");

    /// <summary>A DHCPv6 message the stack sent (UDP to port 547), with the fields the tests check.</summary>
    sealed record Sent(Dhcpv6MessageType Type, uint TransactionId, byte[] ClientId, byte[]? ServerId, IpAddress? Address, IpAddress Destination);

    static List<Sent> Dhcpv6Sent(EngineHarness h)
    {
        var result = new List<Sent>();
        foreach (var packet in h.Ipv6Sent().Where(s => s.NextHeader == IpProtocol.Udp))
        {
            var udp = packet.Payload;
            if (BinaryPrimitives.ReadUInt16BigEndian(udp.AsSpan(2)) != Dhcpv6Client.ServerPort)
                continue;
            Assert.True(Dhcpv6Message.TryParse(udp.AsSpan(8), out var message));
            Assert.True(message.TryGetOption(Dhcpv6Option.ClientId, out var clientId));
            byte[]? serverId = message.TryGetOption(Dhcpv6Option.ServerId, out var s) ? s.ToArray() : null;
            IpAddress? address = null;
            if (message.TryGetOption(Dhcpv6Option.IaNa, out var ia) && Dhcpv6Message.TryFind(ia[12..], Dhcpv6Option.IaAddress, out var entry))
                address = IpAddress.Read(entry);
            result.Add(new Sent(message.Type, message.TransactionId, clientId.ToArray(), serverId, address, packet.Destination));
        }
        return result;
    }

    /// <summary>A server message to the stack's link-local address, answering <paramref name="to"/>.</summary>
    static byte[] ServerMessage(EngineHarness h, Dhcpv6MessageType type, Sent to, bool withAddress, uint t1 = 1000, uint t2 = 1600,
        uint preferred = 3600, uint valid = 7200, byte preference = 0, ushort status = 0)
    {
        var buffer = new byte[512];
        var writer = new Dhcpv6Writer(buffer, type, to.TransactionId);
        writer.Add(Dhcpv6Option.ServerId, ServerDuid);
        writer.Add(Dhcpv6Option.ClientId, to.ClientId);
        if (preference != 0)
            writer.Add(Dhcpv6Option.Preference, [preference]);
        if (withAddress)
        {
            int ia = writer.Begin(Dhcpv6Option.IaNa);
            var header = new byte[12];
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), t1);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), t2);
            writer.Write(header);
            if (status != 0)
                writer.AddUInt16(Dhcpv6Option.StatusCode, status);
            else
            {
                var entry = new byte[24];
                Leased.WriteTo(entry);
                BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(16), preferred);
                BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(20), valid);
                writer.Add(Dhcpv6Option.IaAddress, entry);
            }
            writer.End(ia);
        }
        var dns = new byte[16];
        DnsServer.WriteTo(dns);
        writer.Add(Dhcpv6Option.DnsServers, dns);
        var sntp = new byte[16];
        SntpServer.WriteTo(sntp);
        writer.Add(Dhcpv6Option.SntpServers, sntp);
        var ours = LinkLocal(h);
        var datagram = new byte[8 + writer.Length];
        buffer.AsSpan(0, writer.Length).CopyTo(datagram.AsSpan(8));
        UdpDatagram.WriteHeader(datagram, Dhcpv6Client.ServerPort, Dhcpv6Client.ClientPort, writer.Length, RouterLinkLocal, ours);
        return Packet(RouterLinkLocal, ours, IpProtocol.Udp, datagram, from: RouterMac);
    }

    static List<Sent> StepUntil(EngineHarness h, Func<List<Sent>, bool> done, TimeSpan limit)
    {
        var all = new List<Sent>();
        for (var t = TimeSpan.Zero; t < limit && !done(all); t += TimeSpan.FromMilliseconds(100))
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            all.AddRange(Dhcpv6Sent(h));
        }
        return all;
    }

    static EngineHarness Bound(out Sent request)
    {
        var h = Started();
        h.Inject(RouterAdvertisement(1800, [PrefixOption(Prefix, 64, 86400, 14400, autonomous: false)], flags: 0x80));
        var solicit = Assert.Single(StepUntil(h, s => s.Count > 0, TimeSpan.FromSeconds(2)));
        Assert.Equal(Dhcpv6MessageType.Solicit, solicit.Type);
        Assert.Equal(Dhcpv6Client.AllServers, solicit.Destination);
        h.Inject(ServerMessage(h, Dhcpv6MessageType.Advertise, solicit, withAddress: true));
        request = Assert.Single(StepUntil(h, s => s.Count > 0, TimeSpan.FromSeconds(2)));
        Assert.Equal(Dhcpv6MessageType.Request, request.Type);
        Assert.Equal(ServerDuid, request.ServerId);
        h.Inject(ServerMessage(h, Dhcpv6MessageType.Reply, request, withAddress: true));
        return h;
    }

    [Fact(DisplayName = "RFC 8415 18.2.1-18.2.2, 18.2.10: with the M flag: Solicit, Advertise, Request, Reply; the address passes DAD; DNS and SNTP servers are taken")]
    public void StatefulExchange()
    {
        using var h = Bound(out _);
        var entry = h.Engine.Ipv6!.Find(Leased)!;
        Assert.Equal(Ipv6AddressState.Tentative, entry.State);
        Assert.Equal(Ipv6AddressOrigin.Dhcpv6, entry.Origin);
        h.Step(TimeSpan.FromSeconds(3));
        Assert.Equal(Ipv6AddressState.Preferred, entry.State);
        Assert.Contains(DnsServer, h.Engine.Ipv6DnsServers);
        Assert.Contains(SntpServer, h.Engine.Ipv6NtpServers);
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.LeaseAcquired);
    }

    [Fact(DisplayName = "RFC 8415 18.2.4, 18.2.5: Renew at T1 to the server that leased it; Rebind at T2 to any; the address goes when its valid lifetime ends")]
    public void RenewRebindExpire()
    {
        using var h = Bound(out _);
        h.Step(TimeSpan.FromSeconds(3));
        var renew = Assert.Single(StepUntil(h, s => s.Count > 0, TimeSpan.FromSeconds(1000)));
        Assert.Equal(Dhcpv6MessageType.Renew, renew.Type);
        Assert.Equal(ServerDuid, renew.ServerId);
        Assert.Equal(Leased, renew.Address);
        h.Inject(ServerMessage(h, Dhcpv6MessageType.Reply, renew, withAddress: true, t1: 100, t2: 200, preferred: 300, valid: 400));
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.LeaseRenewed);
        var sent = StepUntil(h, s => s.Any(m => m.Type == Dhcpv6MessageType.Rebind), TimeSpan.FromSeconds(201));
        Assert.Contains(sent, m => m.Type == Dhcpv6MessageType.Renew);
        var rebind = sent.Last();
        Assert.Equal(Dhcpv6MessageType.Rebind, rebind.Type);
        Assert.Null(rebind.ServerId);
        Assert.Equal(Leased, rebind.Address);
        h.Step(TimeSpan.FromSeconds(201));
        Assert.Null(h.Engine.Ipv6!.Find(Leased));
    }

    [Fact(DisplayName = "RFC 8415 18.2.9: an Advertise with NoAddrsAvail is ignored; a later usable one is requested")]
    public void NoAddressesAvailableIgnored()
    {
        using var h = Started();
        h.Inject(RouterAdvertisement(1800, [], flags: 0x80));
        var solicit = Assert.Single(StepUntil(h, s => s.Count > 0, TimeSpan.FromSeconds(2)));
        h.Inject(ServerMessage(h, Dhcpv6MessageType.Advertise, solicit, withAddress: true, status: 2));
        var retried = StepUntil(h, s => s.Count > 0, TimeSpan.FromSeconds(3));
        Assert.All(retried, m => Assert.Equal(Dhcpv6MessageType.Solicit, m.Type));
    }

    [Fact(DisplayName = "RFC 8415 16.10: a Reply for another transaction or another client is ignored")]
    public void ForeignRepliesIgnored()
    {
        using var h = Started();
        h.Inject(RouterAdvertisement(1800, [], flags: 0x80));
        var solicit = Assert.Single(StepUntil(h, s => s.Count > 0, TimeSpan.FromSeconds(2)));
        h.Inject(ServerMessage(h, Dhcpv6MessageType.Advertise, solicit with { TransactionId = solicit.TransactionId ^ 1 }, withAddress: true, preference: 255));
        h.Inject(ServerMessage(h, Dhcpv6MessageType.Advertise, solicit with { ClientId = [0, 3, 0, 1, 9, 9, 9, 9, 9, 9] }, withAddress: true, preference: 255));
        Assert.Empty(Dhcpv6Sent(h));
        Assert.Equal(Dhcpv6Client.ClientState.Soliciting, h.Engine.Dhcpv6!.State);
    }

    [Fact(DisplayName = "RFC 8415 18.2.8: a leased address that fails DAD is declined and a new Solicit follows")]
    public void DuplicateIsDeclined()
    {
        using var h = Bound(out _);
        h.Inject(NeighborAdvertisement(Leased, IpAddress.AllNodes, solicited: false, overrideFlag: true, Frames.PeerMac));
        var sent = StepUntil(h, s => s.Any(m => m.Type == Dhcpv6MessageType.Solicit), TimeSpan.FromSeconds(3));
        var decline = sent.First();
        Assert.Equal(Dhcpv6MessageType.Decline, decline.Type);
        Assert.Equal(Leased, decline.Address);
        Assert.Null(h.Engine.Ipv6!.Find(Leased));
    }

    [Fact(DisplayName = "RFC 8415 18.2.6: with only the O flag an Information-Request fetches DNS and SNTP servers; no address is asked for")]
    public void StatelessInformation()
    {
        using var h = Started();
        h.Inject(RouterAdvertisement(1800, [], flags: 0x40));
        var request = Assert.Single(StepUntil(h, s => s.Count > 0, TimeSpan.FromSeconds(2)));
        Assert.Equal(Dhcpv6MessageType.InformationRequest, request.Type);
        Assert.Null(request.Address);
        h.Inject(ServerMessage(h, Dhcpv6MessageType.Reply, request, withAddress: false));
        Assert.Contains(DnsServer, h.Engine.Ipv6DnsServers);
        Assert.Equal(Dhcpv6Client.ClientState.Informed, h.Engine.Dhcpv6!.State);
    }

    [Fact(DisplayName = "RFC 8415 15: retransmissions double from IRT with randomization, up to MRT")]
    public void RetransmissionBackoff()
    {
        using var h = Started();
        h.Inject(RouterAdvertisement(1800, [], flags: 0x80));
        var times = new List<long>();
        for (int i = 0; i < 200 && times.Count < 6; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            if (Dhcpv6Sent(h).Count > 0)
                times.Add(h.Now);
        }
        var gaps = times.Zip(times.Skip(1), (a, b) => (b - a) / 1e6).ToList();
        Assert.InRange(gaps[0], 0.8, 1.2);
        for (int i = 1; i < gaps.Count; i++)
            Assert.InRange(gaps[i] / gaps[i - 1], 1.6, 2.4);
    }

    [Fact(DisplayName = "Hostile DHCPv6: 5,000 random and truncated messages to the client port never throw")]
    public void HostileMessages()
    {
        using var h = Started();
        h.Inject(RouterAdvertisement(1800, [], flags: 0x80));
        var random = new Random(9);
        var ours = LinkLocal(h);
        for (int i = 0; i < 5000; i++)
        {
            var payload = new byte[random.Next(0, 200)];
            random.NextBytes(payload);
            if (payload.Length > 0)
                payload[0] = (byte)random.Next(1, 12);
            var datagram = new byte[8 + payload.Length];
            payload.CopyTo(datagram.AsSpan(8));
            UdpDatagram.WriteHeader(datagram, Dhcpv6Client.ServerPort, Dhcpv6Client.ClientPort, payload.Length, RouterLinkLocal, ours);
            h.Inject(Packet(RouterLinkLocal, ours, IpProtocol.Udp, datagram, from: RouterMac));
        }
        Assert.Equal(Dhcpv6Client.ClientState.Soliciting, h.Engine.Dhcpv6!.State);
    }
}
