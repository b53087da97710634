using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;

namespace Wirestack.Device.Dashboard;

/// <summary>Everything the dashboard serves from: the stack and the device's state stores.</summary>
internal sealed record DashboardContext(
    NetworkStack Stack,
    Users Users,
    SettingsStore Settings,
    EventLog Events,
    Firmware Firmware,
    Telemetry Telemetry,
    SntpClient Clock,
    LogLevelSwitch LogLevel,
    Action RequestReset);

/// <summary>Where the dashboard listens and what it serves besides the API.</summary>
internal sealed record DashboardOptions(int HttpPort, int HttpsPort, string? CertificatePath, string? CertificateKeyPath, string? WebRoot, string HostName,
    IPAddress? KernelListen = null);

/// <summary>The seed's device dashboard on ASP.NET Core minimal APIs, served through Wirestack only.</summary>
internal static class DashboardServer
{
    public static async Task<WebApplication> StartAsync(DashboardContext device, DashboardOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        var certificate = options.HttpsPort == 0 ? null
            : options.CertificatePath is { } path ? Certificates.Load(path, options.CertificateKeyPath)
            : Certificates.SelfSigned(options.HostName, [
                .. device.Stack.Ipv4Address is { } ipv4 ? [ipv4] : Array.Empty<IPAddress>(),
                .. device.Stack.Options.Ipv6.StaticAddresses.Select(a => a.Address),
                .. device.Stack.Ipv6Addresses.Where(a => a.State != Ipv6AddressState.Duplicate).Select(a => a.Address)]);
        void Https(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions o)
        {
            o.Protocols = HttpProtocols.Http1AndHttp2;
            o.UseHttps(certificate!);
        }
        if (options.KernelListen is { } kernel)
        {
            // The same app on Kestrel's socket transport: the baseline the benchmarks compare Wirestack with.
            builder.WebHost.ConfigureKestrel(k =>
            {
                if (options.HttpPort != 0)
                    k.Listen(kernel, options.HttpPort);
                if (options.HttpsPort != 0)
                    k.Listen(kernel, options.HttpsPort, Https);
            });
        }
        else
        {
            builder.WebHost.UseWirestack(device.Stack, listen =>
            {
                if (options.HttpPort != 0)
                    listen.Listen(options.HttpPort);
                if (options.HttpsPort != 0)
                    listen.Listen(options.HttpsPort, Https);
            });
        }
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 16L << 20;
            // Kestrel times writes against this rate (a write on Wirestack waits while the send buffer is full), but
            // averaged since the response began, so it ends only slow trickles; a client that stops reading outright
            // is cut off by the stack's 60 s user timeout (DeviceRunner), as nginx's send_timeout would.
            k.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 1024, gracePeriod: TimeSpan.FromSeconds(10));
        });
        var app = builder.Build();

        IFileProvider files = new ManifestEmbeddedFileProvider(typeof(DashboardServer).Assembly, "wwwroot");
        if (options.WebRoot is { } webRoot)
            files = new CompositeFileProvider(new PhysicalFileProvider(Path.GetFullPath(webRoot)), files);
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = files, ServeUnknownFileTypes = true });

        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/api") && device.Users.Authenticate(context) is null)
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync("Unauthorized");
                return;
            }
            await next(context);
        });
        DashboardApi.Map(app, device);
        await app.StartAsync(cancellationToken);
        return app;
    }
}
