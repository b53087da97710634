using System.Text.Json;

namespace Wirestack.IntegrationTests;

/// <summary>The Wirestack meter as .NET's own diagnostics tools see it.</summary>
public sealed class DotnetCountersTests
{
    [Fact(DisplayName = "dotnet-counters collects the Wirestack meter from a running program: UDP datagrams and link bytes, with their attributes, counted while traffic flows")]
    public async Task CollectsTheMeter()
    {
        Prerequisites.Require("nc");
        string root = Wirestack.Testing.RepositoryRoot.Path;
        string output = Path.Combine(Directory.CreateTempSubdirectory("wirestack-counters").FullName, "counters.json");
        await using var ns = await SampleTests.NamespaceWithTapAsync();
        await using var echo = SampleTests.Run(ns, "Echo", "tap0 192.168.0.2/24");
        await echo.WaitForLogAsync("Echo on", TimeSpan.FromSeconds(30));
        // dotnet-counters is a local tool of the repository (dotnet-tools.json; test.sh restores it).
        var collect = ProcessRunner.RunAsync("bash", ["-c",
            $"cd '{root}' && dotnet dotnet-counters collect --process-id {echo.Id} --counters Wirestack --format json --output '{output}' --duration 00:00:00:08"],
            TimeSpan.FromSeconds(60));
        for (int i = 0; i < 40; i++)
        {
            await ns.CheckAsync($"echo datagram-{i} | nc -u -w 0 192.168.0.2 7");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        var result = await collect;
        Assert.True(result.ExitCode == 0, result.All);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(output, TestContext.Current.CancellationToken));
        // Counters arrive as rates per refresh interval ("wirestack.udp.datagrams ({datagram} / 1 sec)"): their sum is the count.
        double Total(string name, string attribute) => document.RootElement.GetProperty("Events").EnumerateArray()
            .Where(e => e.GetProperty("provider").GetString() == "Wirestack" && e.GetProperty("name").GetString()!.StartsWith(name + " (", StringComparison.Ordinal)
                && e.GetProperty("tags").GetString()!.Contains(attribute, StringComparison.Ordinal))
            .Sum(e => e.GetProperty("value").GetDouble());
        Assert.True(Total("wirestack.udp.datagrams", "network.io.direction=receive") >= 10, result.All);
        Assert.True(Total("wirestack.link.io", "network.io.direction=transmit") > 0);
    }
}
