using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Wirestack.Device.Dashboard;
using Wirestack.Device.Platform;
using Wirestack.Interop;
using Wirestack.Devices;

namespace Wirestack.Device;

/// <summary>
/// Runs the device: opens the TAP, starts the stack with its services and dashboard, logs its events, restarts the
/// stack on a dashboard reset, and stops on SIGINT or SIGTERM.
/// </summary>
internal static partial class DeviceRunner
{
    public static async Task<int> RunAsync(DeviceSettings settings, CancellationToken cancellationToken)
    {
        var level = new LogLevelSwitch(settings.Verbosity);
        using var loggerFactory = LoggerFactory.Create(builder => AddDeviceLogging(builder, level));
        var log = loggerFactory.CreateLogger("wirestack-device");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        if (OpenTap(settings, log) is not var (tap, inherited))
            return 1;
        using (tap)
        {
            if (PrepareTap(settings, tap, inherited, log, loggerFactory) is { } exitCode)
                return exitCode;
            INetworkDevice device = tap;
            if (settings.PcapPath is { } pcapPath)
            {
                device = new PcapDevice(tap, pcapPath);
                log.LogInformation("Capturing frames to {Path}", pcapPath);
            }
            if (Settle(settings, log) is not { } parts)
                return 1;
            try
            {
                // The privileged start above ran on this, the main thread, before anything else: no_new_privs and
                // the capability sets belong to each thread, and a hosted service runs on the thread pool. From here
                // the device runs on the generic host, as AddWirestack's users do: its logging, its lifetime, an
                // orderly stop on SIGTERM. The start's own log is written out first, so lines keep their order.
                loggerFactory.Dispose();
                return await RunHostedAsync(level, stop.Token, (loggers, stopping) => RunStacksAsync(settings, device, loggers, level, parts, stopping));
            }
            finally
            {
                if (device != tap)
                    device.Dispose();
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="run"/> as the one hosted service of a generic host that reads no configuration of its
    /// own (the command line is the device's configuration) and logs as the device does; returns its exit code.
    /// </summary>
    static async Task<int> RunHostedAsync(LogLevelSwitch level, CancellationToken stop, Func<ILoggerFactory, CancellationToken, Task<int>> run)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        AddDeviceLogging(builder.Logging, level);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        // Long enough for the dashboard's 5 s grace and the stack's orderly close.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton(services => new DeviceService(run, services.GetRequiredService<ILoggerFactory>(), services.GetRequiredService<IHostApplicationLifetime>()));
        builder.Services.AddHostedService(services => services.GetRequiredService<DeviceService>());
        using var host = builder.Build();
        var service = host.Services.GetRequiredService<DeviceService>();
        await host.RunAsync(stop);
        return service.ExitCode;
    }

    /// <summary>Single-line console logging at the dashboard's log level (which /api/debug changes while running).</summary>
    static ILoggingBuilder AddDeviceLogging(ILoggingBuilder logging, LogLevelSwitch level) => logging
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        })
        .SetMinimumLevel(LogLevel.Trace)
        .AddFilter((_, _, l) => level.IsEnabled(l));

    /// <summary>The stack and its dashboard, again after every reset, until <paramref name="stopping"/>; the exit code.</summary>
    static async Task<int> RunStacksAsync(DeviceSettings settings, INetworkDevice device, ILoggerFactory loggerFactory, LogLevelSwitch level, DeviceParts parts,
        CancellationToken stopping)
    {
        var log = loggerFactory.CreateLogger("wirestack-device");
        try
        {
            bool reset;
            do
            {
                reset = await RunStackAsync(settings, device, log, loggerFactory, level, parts, stopping);
                if (reset)
                    log.LogInformation("Reset: restarting the stack");
            }
            while (reset && !stopping.IsCancellationRequested);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A clear line and exit code 1 rather than an unhandled-exception dump (the trace goes to debug).
            log.LogCritical("The device stopped: {Reason}", e.Message);
            log.LogDebug(e, "Stopped by");
            return 1;
        }
        log.LogInformation("Stopped");
        return 0;
    }

    /// <summary>One life of the stack; returns true when a reset asked for another.</summary>
    static async Task<bool> RunStackAsync(DeviceSettings settings, INetworkDevice device, ILogger log, ILoggerFactory loggerFactory, LogLevelSwitch level,
        DeviceParts parts, CancellationToken stopToken)
    {
        using var reset = new CancellationTokenSource();
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(stopToken, reset.Token);
        var options = StackOptionsFor(settings, log);
        var stack = NetworkStack.Create(device, options);
        try
        {
            stack.StateChanged += (_, e) =>
            {
                log.LogInformation("State {Previous} -> {Current}", e.Previous, e.Current);
                parts.Events.Add(0, e.Current == StackState.Ready ? 1 : 0, $"State {e.Previous} -> {e.Current}");
            };
            stack.EventRaised += (_, e) =>
            {
                log.LogInformation("{Event}", e.Message);
                parts.Events.Add(0, e.Kind is StackEventKind.LeaseLost or StackEventKind.AddressConflict or StackEventKind.MdnsHostNameConflict ? 2 : 1, e.Message);
            };
            log.LogInformation("MAC {Mac}, IPv4 {Ipv4}, IPv6 {Ipv6}", settings.MacAddress, options.Ipv4,
                !settings.Ipv6 ? "off" : settings.Ipv6Addresses.Count == 0 ? "link-local and SLAAC" : "link-local, SLAAC and " + string.Join(", ", settings.Ipv6Addresses.Select(a => $"{a.Address}/{a.PrefixLength}")));
            stack.Start();
            log.LogInformation(stack.ReceiveOffloadsEnabled
                ? "Offloads on: TCP segments of up to 64 KiB cross the TAP both ways with checksums left partial (virtio-net header)"
                : "Offloads off: frames of at most the MTU, every checksum checked");
            if (options.DhcpServer is { } dhcpServer)
                log.LogInformation("DHCP server: pool {First}-{Last}", dhcpServer.PoolStart, dhcpServer.PoolEnd);
            var services = settings.TestServices ? await TestServices.StartAsync(stack, log) : null;
            await using var clock = Clock(stack, settings, log, parts.Events);
            var dashboard = settings.HttpPort != 0 || settings.HttpsPort != 0
                ? await StartDashboardAsync(settings, new DashboardContext(stack, parts.Users, parts.Store, parts.Events, parts.Firmware, parts.Telemetry, clock, level,
                    () => reset.Cancel()), parts.Certificate, loggerFactory, log)
                : null;
            parts.Events.Add(1, 1, "Device started");
            // Start-up garbage (configuration, the certificate, building Kestrel and its services) goes now, and the
            // memory it took is returned to the system, rather than sitting committed until gen0 next fills: a device
            // mostly idles. Once, a few milliseconds.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            _ = StartClockWhenReadyAsync(stack, clock, lifetime.Token);
            try
            {
                await Task.Delay(Timeout.Infinite, lifetime.Token);
            }
            catch (OperationCanceledException)
            {
            }
            log.LogInformation("Stopping");
            if (dashboard is not null)
            {
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await dashboard.StopAsync(grace.Token);
                await dashboard.DisposeAsync();
            }
            if (services is not null)
                await services.DisposeAsync();
        }
        finally
        {
            await stack.DisposeAsync();
        }
        return reset.IsCancellationRequested && !stopToken.IsCancellationRequested;
    }

    /// <summary>The stack the command line describes.</summary>
    static StackOptions StackOptionsFor(DeviceSettings settings, ILogger log)
    {
        var ipv4 = settings.Address is { } address
            ? Ipv4Settings.Static(address.Address, address.PrefixLength, settings.Gateway, settings.DnsServers)
            : Ipv4Settings.FromDhcp(new DhcpClientSettings { HostName = settings.HostName });
        var dhcpServer = settings.DhcpServer is { } pool && settings.Address is { } own
            ? pool with { DnsServers = settings.DnsServers.Count > 0 ? settings.DnsServers : [own.Address] }
            : null;
        // A peer that stops taking data for a minute is cut off (RFC 5482 user timeout), as nginx's 60 s send_timeout
        // cuts a stalled response: nothing a careless or hostile client does holds the device's memory for longer.
        // Connections in all: the dashboard's total, the test services' and room for handshakes; past it SYNs get
        // cookies, and a device keeps a device's number instead of the library's million.
        var tcp = new TcpSettings { UserTimeout = TimeSpan.FromSeconds(60), MaxConnections = 2 * Dashboard.ConnectionShares.MaxConnections };
        var ipv6 = settings.Ipv6
            ? new Ipv6Settings
            {
                StaticAddresses = settings.Ipv6Addresses,
                Gateway = settings.Ipv6Gateway,
                StableSecret = StableSecret(log),
            }
            : Ipv6Settings.Disabled();
        // The dashboard is advertised by DNS-SD (RFC 6763), so browsers and avahi-browse list it by name.
        var dashboardServices = new[] { ("_http._tcp", settings.HttpPort), ("_https._tcp", settings.HttpsPort) }
            .Where(s => s.Item2 != 0)
            .Select(s => new MdnsService { InstanceName = settings.HostName, ServiceType = s.Item1, Port = s.Item2, Txt = new Dictionary<string, string> { ["path"] = "/" } })
            .ToList();
        var mdns = settings.Mdns ? new MdnsSettings { HostName = settings.HostName, Services = dashboardServices } : null;
        return new StackOptions { MacAddress = settings.MacAddress, Ipv4 = ipv4, Ipv6 = ipv6, DhcpServer = dhcpServer, Tcp = tcp, Mdns = mdns, BusyPoll = settings.BusyPoll };
    }

    /// <summary>The SNTP client, its synchronisations and failures logged (a failure's reason once, and again only when it changes).</summary>
    static SntpClient Clock(NetworkStack stack, DeviceSettings settings, ILogger log, EventLog events)
    {
        var clock = new SntpClient(stack) { Server = settings.SntpServer };
        string? lastFailure = null;
        clock.Synchronized += (_, sample) =>
        {
            Volatile.Write(ref lastFailure, null);
            log.LogInformation("Time synchronised with {Server}: offset {Offset:0.0} ms, delay {Delay:0.0} ms",
                sample.Server, sample.Offset.TotalMilliseconds, sample.RoundTripDelay.TotalMilliseconds);
            events.Add(1, 0, $"Time synchronised with {sample.Server}, offset {sample.Offset.TotalMilliseconds:0.0} ms");
        };
        clock.Failed += (_, e) =>
        {
            if (e.Message == Interlocked.Exchange(ref lastFailure, e.Message))
                log.LogDebug("SNTP: {Reason}", e.Message);
            else
                log.LogWarning("SNTP: {Reason}{Hint}", e.Message, settings.SntpServer is null && stack.DnsServers.Count == 0 ? " (--sntp ADDRESS or --dns)" : "");
        };
        return clock;
    }

    static async Task<Microsoft.AspNetCore.Builder.WebApplication> StartDashboardAsync(DeviceSettings settings, DashboardContext context, ServerCertificate? certificate,
        ILoggerFactory loggerFactory, ILogger log)
    {
        var options = new DashboardOptions(settings.HttpPort, settings.HttpsPort, certificate, settings.WebRoot, settings.HostName, settings.KernelListen,
            settings.AllowedHosts, settings.HttpsOnly);
        var dashboard = await DashboardServer.StartAsync(context, options, loggerFactory, CancellationToken.None);
        log.LogInformation("Dashboard on {Ports}", string.Join(", ",
            new[] { settings.HttpPort != 0 ? $"http :{settings.HttpPort}" : null, settings.HttpsPort != 0 ? $"https :{settings.HttpsPort}" : null }.Where(p => p is not null)));
        return dashboard;
    }

    static async Task StartClockWhenReadyAsync(NetworkStack stack, SntpClient clock, CancellationToken cancellationToken)
    {
        try
        {
            await stack.WaitUntilReadyAsync(cancellationToken);
            clock.Start();
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// The RFC 7217 secret, kept in the data directory (owner-only) so stable-privacy addresses stay the same across
    /// restarts; a new one is made on first start.
    /// </summary>
    static byte[] StableSecret(ILogger log)
    {
        string path = DataDirectory.File("ipv6-stable-secret");
        try
        {
            if (File.Exists(path) && File.ReadAllBytes(path) is { Length: >= 16 } existing)
                return existing;
            var secret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
            OwnerOnlyFile.Replace(path, secret);
            return secret;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Cannot keep the IPv6 stable-privacy secret ({Reason}): addresses will change at every start", e.Message);
            return System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        }
    }
}
