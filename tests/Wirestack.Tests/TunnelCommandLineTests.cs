extern alias tunnel;

using System.Net;
using tunnel::Wirestack.Tunnel;

namespace Wirestack.Tests;

public sealed class TunnelCommandLineTests
{
    static (IReadOnlyList<string> Errors, TunnelSettings? Settings) Parse(params string[] args) => CommandLineParse.Run<TunnelSettings>(TunnelCommandLine.Create, args);

    [Fact(DisplayName = "wirestack-tunnel: with no options it forwards tun0 directly, with RFC 4787's 2-minute UDP timeout")]
    public void Defaults()
    {
        var (errors, settings) = Parse();
        Assert.Empty(errors);
        Assert.Equal(("tun0", UpstreamKind.Direct, TimeSpan.FromMinutes(2)), (settings!.Device, settings.Upstream, settings.UdpTimeout));
        Assert.Null(settings.Proxy);
        Assert.Null(settings.RunAs);
    }

    [Theory(DisplayName = "wirestack-tunnel: --dns takes a resolver's address, port 53 unless given")]
    [InlineData("10.0.0.53", "10.0.0.53:53")]
    [InlineData("[2001:db8::53]:5353", "[2001:db8::53]:5353")]
    public void DnsResolver(string value, string expected)
    {
        var (errors, settings) = Parse("--dns", value);
        Assert.Empty(errors);
        Assert.Equal(IPEndPoint.Parse(expected), settings!.Dns);
    }

    [Fact(DisplayName = "wirestack-tunnel: --run-as names the user a root-started tunnel becomes")]
    public void RunAs()
    {
        var (errors, settings) = Parse("--run-as", "tunnel");
        Assert.Empty(errors);
        Assert.Equal("tunnel", settings!.RunAs);
    }

    [Theory(DisplayName = "wirestack-tunnel: proxies are read in tun2socks' URL style, credentials unescaped (RFC 1929 names and passwords)")]
    [InlineData("socks5://10.0.0.1:1080", "Socks5", "10.0.0.1:1080", null, null)]
    [InlineData("socks5://user:p%40ss@10.0.0.1:1080", "Socks5", "10.0.0.1:1080", "user", "p@ss")]
    [InlineData("http://[2001:db8::1]:3128", "HttpConnect", "[2001:db8::1]:3128", null, null)]
    [InlineData("direct://", "Direct", null, null, null)]
    public void Proxies(string proxy, string kind, string? endPoint, string? user, string? password)
    {
        var (errors, settings) = Parse("--proxy", proxy, "--device", "tun://wt0");
        Assert.Empty(errors);
        Assert.Equal((Enum.Parse<UpstreamKind>(kind), "wt0"), (settings!.Upstream, settings.Device));
        Assert.Equal(endPoint is null ? null : IPEndPoint.Parse(endPoint), settings.Proxy);
        Assert.Equal((user, password), (settings.ProxyCredential?.UserName, settings.ProxyCredential?.Password));
    }

    [Theory(DisplayName = "wirestack-tunnel: each invalid value gets an error naming its option")]
    [InlineData("--proxy", "socks5://proxy.example:1080")]
    [InlineData("--proxy", "socks4://10.0.0.1:1080")]
    [InlineData("--proxy", "socks5://10.0.0.1")]
    [InlineData("--include", "10.0.0.1/8")]
    [InlineData("--exclude", "2001:db8::/129")]
    [InlineData("--mark", "0")]
    [InlineData("--metrics", "127.0.0.1")]
    [InlineData("--host-address", "fd00::1/64")]
    [InlineData("--host-address6", "10.0.0.1/24")]
    [InlineData("--udp-timeout", "0")]
    [InlineData("--device", "a-name-longer-than-15")]
    [InlineData("--run-as", "no body")]
    [InlineData("--dns", "resolver.example")]
    public void InvalidValues(string option, string value)
    {
        var (errors, settings) = Parse(option, value);
        Assert.Null(settings);
        Assert.StartsWith(option, Assert.Single(errors));
    }

    [Fact(DisplayName = "wirestack-tunnel: --exclude wins over --include, no --include carries everything, IPv4-mapped addresses count as IPv4")]
    public void DestinationPolicies()
    {
        var (_, settings) = Parse("--include", "10.0.0.0/8", "--include", "2001:db8::/32", "--exclude", "10.1.0.0/16", "--mark", "0x77");
        var policy = new DestinationPolicy(settings!.Include, settings.Exclude);
        Assert.True(policy.Allows(IPAddress.Parse("10.2.3.4")));
        Assert.True(policy.Allows(IPAddress.Parse("::ffff:10.2.3.4")));
        Assert.False(policy.Allows(IPAddress.Parse("10.1.3.4")));
        Assert.True(policy.Allows(IPAddress.Parse("2001:db8::5")));
        Assert.False(policy.Allows(IPAddress.Parse("192.0.2.1")));
        Assert.Equal(0x77, settings.Mark);
        Assert.True(new DestinationPolicy([], []).Allows(IPAddress.Parse("192.0.2.1")));
    }
}
