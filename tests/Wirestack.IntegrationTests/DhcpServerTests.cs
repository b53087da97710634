using System.Net;

namespace Wirestack.IntegrationTests;

public sealed class DhcpServerTests
{
    [Fact(DisplayName = "RFC 2131 4.3 over TAP: the stack's DHCP server gives a Linux client (busybox udhcpc) a lease and the configured options")]
    public async Task LinuxClientGetsLease()
    {
        Prerequisites.Require("busybox");
        string directory = Directory.CreateTempSubdirectory("wirestack-udhcpc").FullName;
        try
        {
            await using var tap = await TapStack.StartAsync(ipv4: Ipv4Settings.Static(TapStack.StackAddress + "/24"), dhcpServer: DhcpServerSettings.ParsePool("192.168.0.100-192.168.0.110") with
            {
                DnsServers = [IPAddress.Parse("192.168.0.2")],
                NtpServers = [IPAddress.Parse("192.168.0.2")],
                LeaseTime = TimeSpan.FromMinutes(30),
            });
            string script = Path.Combine(directory, "script"), output = Path.Combine(directory, "out");
            await File.WriteAllTextAsync(script, $"#!/bin/sh\necho \"$1 ip=$ip subnet=$subnet router=$router dns=$dns ntp=$ntpsrv lease=$lease serverid=$serverid\" >> {output}\n",
                TestContext.Current.CancellationToken);
            if (OperatingSystem.IsLinux())
                File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var result = await tap.Namespace.ExecAsync($"busybox udhcpc -i tap0 -n -q -f -t 5 -T 1 -O ntpsrv -s {script}", TimeSpan.FromSeconds(30));
            Assert.True(result.ExitCode == 0, result.All);
            string log = await File.ReadAllTextAsync(output, TestContext.Current.CancellationToken);
            Assert.Contains("bound ip=192.168.0.100", log);
            Assert.Contains("subnet=255.255.255.0", log);
            Assert.Contains("router=192.168.0.2", log);
            Assert.Contains("dns=192.168.0.2", log);
            Assert.Contains("ntp=192.168.0.2", log);
            Assert.Contains("lease=1800", log);
            Assert.Contains("serverid=192.168.0.2", log);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
