using Wirestack.Device;

namespace Wirestack.Tests;

public sealed class DeviceCommandLineTests
{
    static (IReadOnlyList<string> Errors, DeviceSettings? Settings) Parse(params string[] args) => CommandLineParse.Run<DeviceSettings>(DeviceCommandLine.Create, args);

    [Theory(DisplayName = "wirestack-device: each invalid value gets an error naming its option")]
    [InlineData("--mac", "zz:00:01:02:03:77", "--mac")]
    [InlineData("--mac", "01:00:5e:00:00:01", "--mac")]
    [InlineData("--ip", "192.168.0.2/33", "--ip")]
    [InlineData("--ip", "192.168.0", "--ip")]
    [InlineData("--gateway", "10.0.0.1", "--gateway")]
    [InlineData("--gateway", "nonsense", "--gateway")]
    [InlineData("--dns", "1.2.3", "--dns")]
    [InlineData("--host-address", "300.1.1.1/24", "--host-address")]
    [InlineData("--ip6", "192.168.0.2/24", "--ip6")]
    [InlineData("--ip6", "2001:db8::2/129", "--ip6")]
    [InlineData("--gateway6", "10.0.0.1", "--gateway6")]
    [InlineData("--host-address6", "10.0.0.1/24", "--host-address6")]
    [InlineData("--verbosity", "9", "--verbosity")]
    [InlineData("--interface", "an-interface-name-too-long", "--interface")]
    [InlineData("--pcap", "/no/such/dir/x.pcap", "--pcap")]
    [InlineData("--dhcp-server", "192.168.0.99-192.168.0.50", "--dhcp-server")]
    [InlineData("--dhcp-server", "nonsense", "--dhcp-server")]
    [InlineData("--session-idle", "0s", "--session-idle")]
    [InlineData("--session-idle", "10x", "--session-idle")]
    [InlineData("--session-lifetime", "31d", "--session-lifetime")]
    [InlineData("--run-as", "two words", "--run-as")]
    [InlineData("--busy-poll", "-1", "--busy-poll")]
    [InlineData("--busy-poll", "2000000", "--busy-poll")]
    public void InvalidValues(string option, string value, string named)
    {
        string[] args = option == "--ip" ? [option, value] : ["--ip", "192.168.0.2/24", option, value];
        var (errors, _) = Parse(args);
        Assert.NotEmpty(errors);
        Assert.StartsWith(named, errors[0]);
    }

    [Fact(DisplayName = "wirestack-device: DHCP without --ip; --dhcp with --ip, --gateway without --ip and unknown options are errors")]
    public void DhcpAndUnknown()
    {
        var (errors, settings) = Parse();
        Assert.Empty(errors);
        Assert.Null(settings!.Address);
        Assert.Empty(Parse("--dhcp", "--hostname", "device-1").Errors);
        Assert.NotEmpty(Parse("--dhcp", "--ip", "192.168.0.2/24").Errors);
        Assert.NotEmpty(Parse("--gateway", "192.168.0.1").Errors);
        Assert.NotEmpty(Parse("--hostname", "bad name").Errors);
        Assert.NotEmpty(Parse("--ip", "192.168.0.2/24", "--bogus").Errors);
        Assert.NotEmpty(Parse("--no-ipv6", "--ip6", "2001:db8::2/64").Errors);
        var (ipv6Errors, ipv6) = Parse("--ip6", "2001:db8::2/64", "--ip6", "2001:db8:1::2", "--gateway6", "fe80::1");
        Assert.Empty(ipv6Errors);
        Assert.Equal([(System.Net.IPAddress.Parse("2001:db8::2"), 64), (System.Net.IPAddress.Parse("2001:db8:1::2"), 64)], ipv6!.Ipv6Addresses);
        Assert.True(ipv6.Ipv6);
        Assert.False(Parse("--no-ipv6").Settings!.Ipv6);
    }

    [Fact(DisplayName = "wirestack-device: valid options become settings, with the seed's defaults")]
    public void ValidSettings()
    {
        var (errors, settings) = Parse("--ip", "192.168.0.2/24", "--gateway", "192.168.0.1", "--dns", "1.1.1.1", "--dns", "8.8.8.8", "-v", "4");
        Assert.Empty(errors);
        Assert.NotNull(settings);
        Assert.Equal("tap0", settings.InterfaceName);
        Assert.Equal("02:00:01:02:03:77", settings.MacAddress.ToString());
        Assert.Equal(24, settings.Address!.Value.PrefixLength);
        Assert.Equal(2, settings.DnsServers.Count);
        Assert.Equal(4, settings.Verbosity);
        Assert.Equal(TimeSpan.FromMilliseconds(2), settings.BusyPoll);
        Assert.Equal(TimeSpan.FromMicroseconds(2000), Parse("--ip", "192.168.0.2/24", "--busy-poll", "2000").Settings!.BusyPoll);
    }

    [Fact(DisplayName = "wirestack-device: session times take s/m/h/d units; --https-only needs HTTPS; the data directory is made absolute before the device changes into it")]
    public void SecurityOptions()
    {
        var (errors, settings) = Parse("--session-idle", "90s", "--session-lifetime", "2h", "--https-only", "--data-dir", "relative/data", "--run-as", "nobody");
        Assert.Empty(errors);
        Assert.Equal(TimeSpan.FromSeconds(90), settings!.SessionIdle);
        Assert.Equal(TimeSpan.FromHours(2), settings.SessionLifetime);
        Assert.True(settings.HttpsOnly);
        Assert.Equal(Path.GetFullPath("relative/data"), settings.DataDirectory);
        Assert.Equal("nobody", settings.RunAs);
        var (defaultErrors, defaults) = Parse();
        Assert.Empty(defaultErrors);
        Assert.Equal(TimeSpan.FromMinutes(30), defaults!.SessionIdle);
        Assert.Null(defaults.DataDirectory);
        Assert.StartsWith("--https-only", Parse("--https-only", "--https-port", "0").Errors.Single());
        Assert.Empty(Parse("--https-only", "--https-port", "8443").Errors);
        Assert.True(defaults.Mdns);
        Assert.False(Parse("--no-mdns").Settings!.Mdns);
        Assert.StartsWith("--hostname", Parse("--hostname", "-leading").Errors.Single());
    }
}
