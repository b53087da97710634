using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Wirestack.Tunnel;

/// <summary>
/// /metrics in Prometheus's text format on a host socket (--metrics ADDRESS:PORT): the tunnel's flows, bytes and
/// failures beside the stack's own instruments (drops by reason, forwarded requests, TCP and UDP counts).
/// </summary>
internal static class MetricsServer
{
    public static async Task<WebApplication> StartAsync(IPEndPoint endPoint, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(endPoint);
            // A scrape is small and periodic: a few connections are plenty, and a stuck client cannot pile more up.
            kestrel.Limits.MaxConcurrentConnections = 16;
        });
        builder.Services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(NetworkStack.MeterName, TunnelCounters.MeterName).AddPrometheusExporter();
        });
        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        return app;
    }
}
