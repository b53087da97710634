using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

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
    Action RequestReset)
{
    /// <summary>The dashboard's connections per source.</summary>
    public ConnectionShares ConnectionShares { get; } = new();
}

/// <summary>Where the dashboard listens and what it serves besides the API.</summary>
/// <param name="HttpsOnly">Plain HTTP only redirects to HTTPS, and HTTPS responses carry HSTS.</param>
internal sealed record DashboardOptions(int HttpPort, int HttpsPort, ServerCertificate? Certificate, string? WebRoot, string HostName,
    IPAddress? KernelListen = null, IReadOnlyCollection<string>? AllowedHosts = null, bool HttpsOnly = false);

/// <summary>Services and routes a test adds to the dashboard's app.</summary>
internal sealed record DashboardExtension(Action<WebApplicationBuilder> Build, Action<WebApplication> Map);

/// <summary>The seed's device dashboard on ASP.NET Core minimal APIs, served through Wirestack only.</summary>
internal static class DashboardServer
{
    /// <summary>Where the authentication middleware leaves the request's user for the routes.</summary>
    public const string UserKey = "wirestack.user";

    /// <param name="extend">What a test adds to the app (services, routes); null in the device.</param>
    public static async Task<WebApplication> StartAsync(DashboardContext device, DashboardOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken,
        DashboardExtension? extend = null)
    {
        // The content root serves nothing (the page is embedded; --web-root is its own provider), but it must be a
        // directory the run-as user can reach, which the program's own may not be.
        // The application's name is the device's wherever the app is built (a test host too): the API's document tags
        // its operations with it.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = Platform.DataDirectory.Here, ApplicationName = "wirestack-device" });
        builder.Logging.ClearProviders();
        Listen(builder, device, options);
        LimitRequests(builder);
        AddMetrics(builder.Services);
        ApiProblems.AddServices(builder.Services);
        extend?.Build(builder);
        var app = builder.Build();
        ApiProblems.UseErrorHandling(app, loggerFactory.CreateLogger("Wirestack.Device.Dashboard"));

        IFileProvider files = new ManifestEmbeddedFileProvider(typeof(DashboardServer).Assembly, "wwwroot");
        if (options.WebRoot is { } webRoot)
            files = new CompositeFileProvider(new PhysicalFileProvider(Path.GetFullPath(webRoot)), files);
        app.Use((context, next) => GuardSurfaceAsync(context, next, device, options));
        // Routing picks the endpoint by the request's content type too, so it comes after TakeAsJson.
        app.UseRouting();
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        // Only files of known types: a web root with a stray file must not serve it as something a browser guesses at.
        app.UseStaticFiles(new StaticFileOptions { FileProvider = files, ServeUnknownFileTypes = false });
        var securityLog = loggerFactory.CreateLogger("Wirestack.Device.Security");
        app.Use((context, next) => RequireUserAsync(context, next, device, securityLog));
        DashboardApi.Map(app, device);
        app.MapPrometheusScrapingEndpoint("/metrics");
        DashboardApi.MapDocument(app);
        extend?.Map(app);
        // Made (or loaded) now, so its fingerprint is in the log before anyone connects.
        _ = options.HttpsPort != 0 ? options.Certificate?.For(Addresses(device, options), device.Stack.MdnsHostName) : null;
        await app.StartAsync(cancellationToken);
        return app;
    }

    /// <summary>The addresses the device answers on now (a certificate and the Host check follow them).</summary>
    static IEnumerable<IPAddress> Addresses(DashboardContext device, DashboardOptions options) =>
        [.. device.Stack.Ipv4Address is { } v4 ? [v4] : Array.Empty<IPAddress>(),
            .. device.Stack.Ipv6Addresses.Where(a => a.State != Ipv6AddressState.Duplicate).Select(a => a.Address),
            .. options.KernelListen is { } k ? [k] : Array.Empty<IPAddress>()];

    /// <summary>HTTP and HTTPS on the stack (or on the kernel's sockets for the benchmarks' baseline), each connection under its source's share.</summary>
    static void Listen(WebApplicationBuilder builder, DashboardContext device, DashboardOptions options)
    {
        var shares = device.ConnectionShares;
        void Http(ListenOptions o) => o.Use(shares.Guard);
        void Https(ListenOptions o)
        {
            o.Use(shares.Guard);
            o.Protocols = HttpProtocols.Http1AndHttp2;
            var certificate = options.Certificate ?? throw new InvalidOperationException("HTTPS needs a certificate");
            // Chosen per handshake, so a self-signed certificate follows the addresses DHCP and SLAAC bring.
            o.UseHttps(new HttpsConnectionAdapterOptions
            {
                ServerCertificateSelector = (_, _) => certificate.For(Addresses(device, options), device.Stack.MdnsHostName),
                OnAuthenticate = (_, tls) => ServerCertificate.Harden(tls),
            });
        }
        if (options.KernelListen is { } kernel)
        {
            // The same app on Kestrel's socket transport: the baseline the benchmarks compare Wirestack with.
            builder.WebHost.ConfigureKestrel(k =>
            {
                if (options.HttpPort != 0)
                    k.Listen(kernel, options.HttpPort, Http);
                if (options.HttpsPort != 0)
                    k.Listen(kernel, options.HttpsPort, Https);
            });
        }
        else
        {
            builder.WebHost.UseWirestack(device.Stack, listen =>
            {
                if (options.HttpPort != 0)
                    listen.Listen(options.HttpPort, Http);
                if (options.HttpsPort != 0)
                    listen.Listen(options.HttpsPort, Https);
            });
        }
    }

    static void LimitRequests(WebApplicationBuilder builder)
    {
        builder.WebHost.ConfigureKestrel(k =>
        {
            // The largest any route takes; each route lowers it to its own (WebSurface.MaxBody).
            k.Limits.MaxRequestBodySize = WebSurface.MaxFirmwareChunk;
            // A device-sized total; each source's share is ConnectionShares'.
            k.Limits.MaxConcurrentConnections = ConnectionShares.MaxConnections;
            // Kestrel times writes against this rate (a write on Wirestack waits while the send buffer is full), but
            // averaged since the response began, so it ends only slow trickles; a client that stops reading outright
            // is cut off by the stack's 60 s user timeout (DeviceRunner), as nginx's send_timeout would.
            k.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 1024, gracePeriod: TimeSpan.FromSeconds(10));
        });
    }

    static void AddMetrics(IServiceCollection services)
    {
        // The stack's meter, scraped at /metrics in Prometheus's text format (OpenTelemetry's exporter: the same
        // pipeline then also pushes OTLP when the standard OTEL_EXPORTER_OTLP_ENDPOINT variable names a collector).
        services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            metrics.AddMeter(NetworkStack.MeterName).AddPrometheusExporter();
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")))
                metrics.AddOtlpExporter();
        });
    }

    /// <summary>Every request: security headers, only the device's own names (DNS rebinding), HTTPS when it must be, the route's body limit.</summary>
    static async Task GuardSurfaceAsync(HttpContext context, RequestDelegate next, DashboardContext device, DashboardOptions options)
    {
        WebSurface.AddSecurityHeaders(context.Response);
        if (!WebSurface.IsAllowedHost(context.Request.Host, options.HostName, Addresses(device, options), options.AllowedHosts ?? [], device.Stack.MdnsHostName))
        {
            await ApiProblems.WriteAsync(context, StatusCodes.Status421MisdirectedRequest, "This device does not answer to that name");
            return;
        }
        if (options.HttpsOnly)
        {
            if (!context.Request.IsHttps)
            {
                context.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
                context.Response.Headers.Location = WebSurface.HttpsLocation(context.Request, options.HttpsPort);
                return;
            }
            context.Response.Headers.StrictTransportSecurity = WebSurface.StrictTransportSecurity;
        }
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = WebSurface.MaxBody(context.Request.Path);
        WebSurface.TakeAsJson(context.Request);
        await next(context);
    }

    /// <summary>The API, its document and the metrics: forgery refused, wrong passwords throttled per source, a user found or 403.</summary>
    static async Task RequireUserAsync(HttpContext context, RequestDelegate next, DashboardContext device, ILogger securityLog)
    {
        // The API, its document and the metrics need a user (counters say what the device talks to; scrapers send Basic).
        if (!context.Request.Path.StartsWithSegments("/api") && !context.Request.Path.StartsWithSegments("/metrics")
            && !context.Request.Path.StartsWithSegments("/openapi"))
        {
            await next(context);
            return;
        }
        if (WebSurface.RefuseForgery(context.Request) is { } refusal)
        {
            await ApiProblems.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, refusal);
            return;
        }
        // Per-source throttling of wrong passwords: checked before any password is hashed, so a guessing source
        // costs nothing once it is held back. Only requests that carry a password wait: a session's cookie or
        // token from the same (NAT) address as a guesser is no guess.
        var source = context.Connection.RemoteIpAddress ?? IPAddress.None;
        bool password = context.Request.Headers.Authorization.ToString().StartsWith("Basic ", StringComparison.OrdinalIgnoreCase);
        var wait = password ? device.Users.Throttle.RetryAfter(source) : TimeSpan.Zero;
        if (wait > TimeSpan.Zero)
        {
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await ApiProblems.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Too many failed logins; retry later");
            return;
        }
        var (user, badPassword, busy) = await device.Users.AuthenticateAsync(context);
        if (busy)
        {
            context.Response.Headers.RetryAfter = "1";
            await ApiProblems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Busy checking other logins; retry in a second");
            return;
        }
        if (user is null)
        {
            if (badPassword)
            {
                var delay = device.Users.Throttle.Fail(source);
                string message = delay > TimeSpan.Zero
                    ? $"Failed login from {source}: held back for {delay.TotalSeconds:0} s"
                    : $"Failed login from {source}";
                device.Events.Add(2, delay > TimeSpan.Zero ? 2 : 1, message);
                securityLog.LogWarning("{Message}", message);
            }
            await ApiProblems.WriteAsync(context, StatusCodes.Status403Forbidden, "Unauthorized");
            return;
        }
        if (password)
            device.Users.Throttle.Succeed(source);
        context.Items[UserKey] = user;
        await next(context);
    }
}
