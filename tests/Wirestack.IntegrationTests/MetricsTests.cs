using System.Globalization;
using System.Text.RegularExpressions;

namespace Wirestack.IntegrationTests;

/// <summary>wirestack-device's /metrics (OpenTelemetry's Prometheus exporter) over TAP.</summary>
[Trait("Category", "Device")]
public sealed partial class MetricsTests
{
    const string Device = "192.168.0.2";

    [GeneratedRegex(@"^wirestack_link_packets_total\{[^}]*network_io_direction=""receive""[^}]*\} (\d+)", RegexOptions.Multiline)]
    private static partial Regex FramesReceived();

    [Fact(DisplayName = "Metrics over TAP: /metrics needs a user, lists the stack's instruments and drop reasons in Prometheus text format, and the frame counter moves when traffic flows")]
    public async Task PrometheusScrape()
    {
        Prerequisites.Require("curl", "ping");
        string data = Directory.CreateTempSubdirectory("wirestack-metrics").FullName;
        try
        {
            await using var ns = await TestNamespace.CreateAsync();
            await using var device = ProgramProcess.Start(ns, "--ip", $"{Device}/24", "--host-address", "192.168.0.1/24", "--user", "admin:secretsecret",
                "--data-dir", data, "--https-port", "0");
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            Assert.Equal("403", (await ns.ExecAsync($"curl -s -m 10 --retry 5 --retry-connrefused -o /dev/null -w '%{{http_code}}' http://{Device}/metrics")).Output.Trim());
            async Task<long> ScrapeAsync()
            {
                var metrics = await ns.CheckAsync($"curl -s -f -m 10 -u admin:secretsecret http://{Device}/metrics");
                // OpenTelemetry's names, units and attributes (docs/metrics.md), in Prometheus' spelling.
                Assert.Matches(@"(?m)^wirestack_packets_dropped_total\{[^}]*error_type=""link_not_for_us""", metrics.Output);
                Assert.Matches(@"(?m)^wirestack_link_io_bytes_total\{[^}]*network_interface_name=""tap0""", metrics.Output);
                return long.Parse(FramesReceived().Match(metrics.Output).Groups[1].Value, CultureInfo.InvariantCulture);
            }
            long before = await ScrapeAsync();
            await ns.CheckAsync($"ping -c 20 -i 0.05 -W 2 {Device}");
            long after = await ScrapeAsync();
            Assert.True(after >= before + 20, $"frames received {before} -> {after}");
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }
}
