using Wirestack.Devices;

namespace Wirestack.IntegrationTests;

public sealed class DeviceErrorTests
{
    [Fact(DisplayName = "TAP: a name over 15 characters is refused before any system call")]
    public void NameTooLong()
    {
        var e = Assert.Throws<ArgumentException>(() => TapDevice.Open("a-name-far-too-long"));
        Assert.Contains("at most 15", e.Message);
    }

    [Fact(DisplayName = "TAP: opening an interface another descriptor holds says it is busy")]
    public async Task Busy()
    {
        Prerequisites.Require();
        await using var ns = await TestNamespace.CreateAsync();
        using var first = TapDevice.Open("tap7", new TunTapOptions { NetworkNamespace = ns.Name });
        var e = Assert.Throws<IOException>(() => TapDevice.Open("tap7", new TunTapOptions { NetworkNamespace = ns.Name }));
        Assert.Contains("busy", e.Message);
    }

    [Fact(DisplayName = "TAP: an existing interface of another kind is reported as not a TAP")]
    public async Task WrongKind()
    {
        Prerequisites.Require();
        await using var ns = await TestNamespace.CreateAsync();
        using (TunDevice.Open("tun7", new TunTapOptions { NetworkNamespace = ns.Name }))
        {
            await ns.CheckAsync("ip tuntap add dev persist7 mode tun");
            var e = Assert.Throws<IOException>(() => TapDevice.Open("persist7", new TunTapOptions { NetworkNamespace = ns.Name }));
            Assert.Contains("not a TAP", e.Message);
        }
    }

    [Fact(DisplayName = "TAP: a created interface disappears on dispose; a pre-made one stays")]
    public async Task Lifetime()
    {
        Prerequisites.Require();
        await using var ns = await TestNamespace.CreateAsync();
        var options = new TunTapOptions { NetworkNamespace = ns.Name };
        using (var created = TapDevice.Open("tap8", options))
        {
            Assert.True(created.CreatedInterface);
            await ns.CheckAsync("ip link show tap8");
        }
        Assert.NotEqual(0, (await ns.ExecAsync("ip link show tap8")).ExitCode);

        await ns.CheckAsync("ip tuntap add dev tap9 mode tap");
        using (var existing = TapDevice.Open("tap9", options))
            Assert.False(existing.CreatedInterface);
        await ns.CheckAsync("ip link show tap9");
    }

    [Fact(DisplayName = "TAP: without CAP_NET_ADMIN the error says root or CAP_NET_ADMIN is needed")]
    [Trait("Category", "Device")]
    public async Task PermissionDenied()
    {
        Prerequisites.Require("setpriv");
        await using var ns = await TestNamespace.CreateAsync();
        var result = await ns.ExecAsync(
            $"HOME=/tmp DOTNET_CLI_HOME=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all {ProgramProcess.CommandLine} -i tapx --ip 192.168.0.2/24",
            TimeSpan.FromSeconds(60));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("root or CAP_NET_ADMIN", result.All);
    }
}
