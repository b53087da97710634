using Wirestack.Devices;
using Wirestack.Engine;
using Wirestack.Network;
using Wirestack.Wire;
using static Wirestack.Tests.Ipv6Frames;

namespace Wirestack.Tests;

public sealed class SlaacTests
{
    static Ipv6InterfaceAddress Global(EngineHarness h) => h.Engine.Ipv6!.Addresses.Single(a => a.Origin == Ipv6AddressOrigin.Slaac);

    static EngineHarness WithPrefix(uint valid = 86400, uint preferred = 14400, Ipv6Settings? settings = null)
    {
        var h = Started(settings);
        h.Inject(RouterAdvertisement(1800, [PrefixOption(Prefix, 64, valid, preferred)]));
        h.Step(TimeSpan.FromSeconds(3));
        h.Drain();
        return h;
    }

    [Fact(DisplayName = "RFC 4861 6.3.7: router solicitations after a random delay, from the link-local address with our link address, at most 3, 4 s apart")]
    public void RouterSolicitations()
    {
        using var h = new EngineHarness(Options());
        var sent = new List<Ipv6Frames.Sent>();
        for (int i = 0; i < 150; i++)
        {
            h.Advance(TimeSpan.FromMilliseconds(100));
            sent.AddRange(h.Ipv6Sent());
        }
        var solicitations = sent.OfType(Icmpv6Type.RouterSolicitation);
        Assert.Equal(3, solicitations.Count);
        Assert.All(solicitations, s => Assert.Equal(IpAddress.AllRouters, s.Destination));
        Assert.All(solicitations, s => Assert.Equal(255, s.HopLimit));
        var last = solicitations[^1];
        Assert.True(last.Source.IsLinkLocal);
        Assert.Equal(NdpOptionType.SourceLinkLayerAddress, last.IcmpBody[4]);
    }

    [Fact(DisplayName = "RFC 4861 6.3.7: a Router Advertisement stops the solicitations")]
    public void AdvertisementStopsSolicitations()
    {
        using var h = Started();
        h.Inject(RouterAdvertisement(1800, []));
        h.Step(TimeSpan.FromSeconds(15));
        Assert.Empty(h.Ipv6Sent().OfType(Icmpv6Type.RouterSolicitation));
    }

    [Fact(DisplayName = "RFC 4862 5.5.3: an autonomous /64 prefix forms a tentative address that passes DAD; RFC 4861 6.3.4: router, on-link prefix, hop limit, MTU")]
    public void AdvertisementConfigures()
    {
        using var h = Started();
        h.Inject(RouterAdvertisement(1800, [PrefixOption(Prefix, 64, 86400, 14400), MtuOption(1400)], curHopLimit: 77, reachableTime: 20000, retransTimer: 500));
        var ipv6 = h.Engine.Ipv6!;
        var global = Global(h);
        Assert.Equal(Ipv6AddressState.Tentative, global.State);
        Assert.True(global.Address.HasPrefix(Prefix, 64));
        Assert.Equal(RouterLinkLocal, Assert.Single(ipv6.Routers).Address);
        Assert.True(ipv6.IsOnLink(PeerGlobal));
        Assert.Equal(77, ipv6.HopLimit);
        Assert.Equal(1400, ipv6.Mtu);
        Assert.Equal(500_000, h.Engine.Ipv6Neighbors!.RetryIntervalMicroseconds);
        Assert.InRange(h.Engine.Ipv6Neighbors.ReachableMicroseconds, 10_000_000, 30_000_000);
        h.Step(TimeSpan.FromSeconds(3));
        Assert.Equal(Ipv6AddressState.Preferred, global.State);
        Assert.Equal(NeighborState.Stale, h.Engine.Ipv6Neighbors.StateOf(RouterLinkLocal));
    }

    [Fact(DisplayName = "RFC 4861 5.2: an off-link destination goes to the default router's link address")]
    public void OffLinkGoesToRouter()
    {
        using var h = WithPrefix();
        var receiver = new RecordingReceiver();
        var binding = h.Engine.Udp.Bind(5000, receiver);
        var remote = IpAddress.Parse("2001:db8:99::7");
        Assert.Equal(System.Net.Sockets.SocketError.Success, h.Engine.Udp.Send(binding, remote, 53, [1, 2, 3]));
        var datagram = Assert.Single(h.Ipv6Sent(), s => s.NextHeader == IpProtocol.Udp);
        Assert.Equal(RouterMac, datagram.To);
        Assert.Equal(remote, datagram.Destination);
        Assert.Equal(Global(h).Address, datagram.Source); // RFC 6724 rule 2: global scope for a global destination
    }

    [Theory(DisplayName = "RFC 4861 6.1.2: an invalid Router Advertisement is ignored")]
    [InlineData("hop limit 64")]
    [InlineData("global source")]
    public void InvalidAdvertisementIgnored(string defect)
    {
        using var h = Started();
        h.Inject(defect == "global source"
            ? RouterAdvertisement(1800, [PrefixOption(Prefix, 64, 86400, 14400)], source: PeerGlobal)
            : RouterAdvertisement(1800, [PrefixOption(Prefix, 64, 86400, 14400)], hopLimit: 64));
        Assert.Equal(1, h.Count(StackCounter.DropNdpInvalid));
        Assert.Empty(h.Engine.Ipv6!.Routers);
        Assert.DoesNotContain(h.Engine.Ipv6.Addresses, a => a.Origin == Ipv6AddressOrigin.Slaac);
    }

    [Fact(DisplayName = "RFC 4862 5.5.3 (c, d): prefixes that are not /64 or whose preferred lifetime exceeds the valid one form no address")]
    public void UnusablePrefixes()
    {
        using var h = Started();
        h.Inject(RouterAdvertisement(1800, [PrefixOption(IpAddress.Parse("2001:db8:2::"), 48, 86400, 14400), PrefixOption(Prefix, 64, 100, 200)]));
        Assert.DoesNotContain(h.Engine.Ipv6!.Addresses, a => a.Origin == Ipv6AddressOrigin.Slaac);
    }

    [Fact(DisplayName = "RFC 4862 5.5.3 (e): the two-hour rule: a short valid lifetime cannot cut an address below two hours")]
    public void TwoHourRule()
    {
        using var h = WithPrefix();
        var global = Global(h);
        h.Inject(RouterAdvertisement(1800, [PrefixOption(Prefix, 64, 60, 30)]));
        Assert.Equal(h.Now + 7_200_000_000, global.ValidUntil);
        // A lifetime above two hours is taken as is.
        h.Inject(RouterAdvertisement(1800, [PrefixOption(Prefix, 64, 10800, 30)]));
        Assert.Equal(h.Now + 10_800_000_000, global.ValidUntil);
    }

    [Fact(DisplayName = "RFC 4862 5.5.4: past its preferred lifetime an address is deprecated (not chosen for new exchanges), past its valid lifetime removed")]
    public void Lifetimes()
    {
        using var h = WithPrefix(valid: 20, preferred: 10);
        var global = Global(h);
        Assert.Equal(Ipv6AddressState.Preferred, global.State);
        h.Step(TimeSpan.FromSeconds(8));
        Assert.Equal(Ipv6AddressState.Deprecated, global.State);
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.AddressDeprecated);
        // RFC 6724 rule 3 (avoid deprecated) comes before rule 8 (longest match): a preferred address in another
        // prefix wins even for a destination inside the deprecated address's prefix.
        var other = IpAddress.Parse("2001:db8:2::");
        h.Inject(RouterAdvertisement(1800, [PrefixOption(other, 64, 86400, 14400)]));
        h.Step(TimeSpan.FromSeconds(3));
        Assert.True(h.Engine.Ipv6!.TrySelectSource(IpAddress.Parse("2001:db8:1::99"), out var source));
        Assert.True(source.HasPrefix(other, 64));
        h.Step(TimeSpan.FromSeconds(9));
        Assert.DoesNotContain(h.Engine.Ipv6.Addresses, a => a.Address == global.Address);
        Assert.Contains(h.TakeEvents(), e => e.Kind == StackEventKind.AddressRemoved);
    }

    [Fact(DisplayName = "RFC 7217 5: identifiers are stable for one secret and prefix, differ per prefix and per secret, and do not embed the MAC")]
    public void StablePrivacyIdentifiers()
    {
        static IpAddress AddressFor(byte[] secret, IpAddress prefix)
        {
            using var h = WithPrefixFrom(secret, prefix);
            return Global(h).Address;
        }
        var other = IpAddress.Parse("2001:db8:2::");
        var first = AddressFor(Secret, Prefix);
        Assert.Equal(first, AddressFor(Secret, Prefix));
        Assert.NotEqual(first.InterfaceIdentifier, AddressFor(Secret, other).InterfaceIdentifier);
        Assert.NotEqual(first, AddressFor([.. Secret.Reverse()], Prefix));
        Assert.NotEqual(0xFFFEUL, (first.InterfaceIdentifier >> 24) & 0xFFFF);
    }

    static EngineHarness WithPrefixFrom(byte[] secret, IpAddress prefix)
    {
        var h = Started(new Ipv6Settings { StableSecret = secret });
        h.Inject(RouterAdvertisement(1800, [PrefixOption(prefix, 64, 86400, 14400)]));
        h.Step(TimeSpan.FromSeconds(3));
        return h;
    }

    [Fact(DisplayName = "RFC 4291 appendix A: EUI-64 identifiers come from the MAC with the universal/local bit inverted")]
    public void Eui64Identifiers()
    {
        using var h = Started(new Ipv6Settings { InterfaceIdentifiers = InterfaceIdentifierKind.Eui64 });
        // 02:00:01:02:03:77 -> 00:00:01 ff:fe 02:03:77
        Assert.Equal(IpAddress.Parse("fe80::1ff:fe02:377"), LinkLocal(h));
    }

    [Fact(DisplayName = "RA flood attack: 100 routers and prefixes hold at most the configured routers, prefixes and addresses")]
    public void AdvertisementFloodIsBounded()
    {
        using var h = Started();
        for (int i = 0; i < 100; i++)
        {
            var router = IpAddress.LinkLocal(0x100 + (ulong)i);
            var prefix = IpAddress.FromPrefix(0x2001_0db8_0000_0000 | (ulong)i << 16, 0);
            h.Inject(RouterAdvertisement(1800, [PrefixOption(prefix, 64, 86400, 14400)], source: router, mac: MacAddress.Parse($"02:00:00:00:01:{i:x2}")));
        }
        var ipv6 = h.Engine.Ipv6!;
        Assert.Equal(8, ipv6.Routers.Count);
        Assert.Equal(16, ipv6.Prefixes.Count);
        Assert.Equal(16, ipv6.Addresses.Count);
        Assert.True(h.Count(StackCounter.DropRouterAdvertisementIgnored) > 0);
    }

    [Fact(DisplayName = "RFC 4861 6.3.4: a router lifetime of 0 removes the default router")]
    public void ZeroLifetimeRemovesRouter()
    {
        using var h = WithPrefix();
        h.Inject(RouterAdvertisement(0, []));
        Assert.Empty(h.Engine.Ipv6!.Routers);
    }

    [Fact(DisplayName = "Static IPv6 addresses pass DAD too; with a static gateway off-link traffic goes through it")]
    public void StaticAddresses()
    {
        var settings = new Ipv6Settings
        {
            StableSecret = Secret,
            StaticAddresses = [Ipv6Settings.ParseAddress("2001:db8:5::2/64")],
            Gateway = System.Net.IPAddress.Parse("fe80::fe"),
            AcceptRouterAdvertisements = false,
        };
        using var h = Started(settings);
        var ipv6 = h.Engine.Ipv6!;
        Assert.True(ipv6.IsAssigned(IpAddress.Parse("2001:db8:5::2")));
        Assert.True(ipv6.IsOnLink(IpAddress.Parse("2001:db8:5::9")));
        Assert.Equal(RouterLinkLocal, Assert.Single(ipv6.Routers).Address);
    }

    [Fact(DisplayName = "RFC 8106 5.1: an RDNSS option gives DNS servers for its lifetime (at most three); lifetime 0 withdraws them")]
    public void RecursiveDnsServers()
    {
        using var h = Started();
        static byte[] Rdnss(uint lifetime, params string[] servers)
        {
            var option = new byte[8 + 16 * servers.Length];
            option[0] = NdpOptionType.RecursiveDnsServer;
            option[1] = (byte)(option.Length / 8);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(4), lifetime);
            for (int i = 0; i < servers.Length; i++)
                IpAddress.Parse(servers[i]).WriteTo(option.AsSpan(8 + 16 * i));
            return option;
        }
        h.Inject(RouterAdvertisement(1800, [Rdnss(30, "2001:db8::53", "2001:db8::54", "2001:db8::55", "2001:db8::56")]));
        var servers = h.Engine.Ipv6!.DnsServers.Items.Select(s => s.Item).ToList();
        Assert.Equal(3, servers.Count);
        Assert.Contains(IpAddress.Parse("2001:db8::56"), servers);
        h.Inject(RouterAdvertisement(1800, [Rdnss(0, "2001:db8::56")]));
        Assert.Equal(2, h.Engine.Ipv6.DnsServers.Items.Count);
        h.Step(TimeSpan.FromSeconds(31));
        Assert.Empty(h.Engine.Ipv6.DnsServers.Items);
    }

    [Fact(DisplayName = "RFC 8106 5.2: a DNSSL option gives search domains for its lifetime; names are read uncompressed up to the padding")]
    public void DnsSearchList()
    {
        using var h = Started();
        byte[] names = [3, (byte)'l', (byte)'a', (byte)'n', 0, 4, (byte)'h', (byte)'o', (byte)'m', (byte)'e', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0];
        var option = new byte[8 + 24];
        option[0] = NdpOptionType.DnsSearchList;
        option[1] = (byte)(option.Length / 8);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(4), 60);
        names.CopyTo(option, 8);
        h.Inject(RouterAdvertisement(1800, [option]));
        Assert.Equal(["lan", "home.test"], h.Engine.SearchDomains);
        h.Step(TimeSpan.FromSeconds(61));
        Assert.Empty(h.Engine.SearchDomains);
    }

    [Fact(DisplayName = "Duplicate-claim attack on ever new prefixes (RFC 7217 6 retries): the per-prefix DAD counters stay bounded")]
    public void DadCountersBounded()
    {
        using var h = Started();
        for (int i = 0; i < 200; i++)
        {
            var prefix = IpAddress.FromPrefix(0x2001_0db8_0000_0000 | (ulong)i << 16, 0);
            h.Inject(RouterAdvertisement(1800, [PrefixOption(prefix, 64, 86400, 14400), PrefixOption(prefix, 64, 0, 0)]));
            foreach (var address in h.Engine.Ipv6!.Addresses.Where(a => a.State == Ipv6AddressState.Tentative && a.Origin == Ipv6AddressOrigin.Slaac).ToList())
                h.Inject(NeighborAdvertisement(address.Address, IpAddress.AllNodes, solicited: false, overrideFlag: true, Frames.PeerMac));
            foreach (var gone in h.Engine.Ipv6.Addresses.Where(a => a.Origin == Ipv6AddressOrigin.Slaac).ToList())
                h.Engine.Ipv6.Remove(gone);
        }
        Assert.InRange(h.Engine.Ipv6Layer!.DadCounterCount, 1, 64);
    }
}
