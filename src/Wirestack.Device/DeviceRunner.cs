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
internal static class DeviceRunner
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

        TapDevice tap;
        bool inherited;
        try
        {
            var adopted = Privileges.InheritedTap();
            inherited = adopted is not null;
            tap = adopted ?? TapDevice.Open(settings.InterfaceName, new TunTapOptions { Offloads = settings.Offloads });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException or ArgumentException)
        {
            log.LogError("Cannot open TAP interface {Interface}: {Reason}", settings.InterfaceName, e.Message);
            return 1;
        }
        using (tap)
        {
            if (inherited)
            {
                log.LogInformation("Started again without capabilities, TAP {Interface} kept open ({Identity})", tap.Name, Privileges.Describe());
            }
            else
            {
                log.LogInformation("Opened TAP {Interface} ({How}), MTU {Mtu}", tap.Name, tap.CreatedInterface ? "created" : "existing", tap.Mtu);
                if (!ConfigureHostSide(settings, tap, log))
                    return 1;
                if (!Privileges.IsRoot && Privileges.HeldCapabilities().Length > 0)
                {
                    // The console logger writes from a queue of its own thread: what it still holds would die with
                    // the exec (a native build gets there before the queue drains). Disposing it writes it all.
                    loggerFactory.Dispose();
                    var failure = Privileges.RestartWithoutCapabilities(tap);
                    Console.Error.WriteLine($"Cannot start again without capabilities: {failure.Message}");
                    return 1;
                }
            }

            INetworkDevice device = tap;
            if (settings.PcapPath is { } pcapPath)
            {
                device = new PcapDevice(tap, pcapPath);
                log.LogInformation("Capturing frames to {Path}", pcapPath);
            }

            // Settled while the process may still be root: the data directory (handed to the run-as user), the
            // operator's certificate and users files (which may be readable by root only); then root is given up.
            string data = settings.DataDirectory ?? DataDirectory.Default();
            Users accounts;
            ServerCertificate? certificate;
            try
            {
                var runAs = RunAsAccount(settings, log);
                DataDirectory.Prepare(data, runAs ?? Privileges.Current);
                certificate = settings.HttpsPort == 0 ? null
                    : settings.CertificatePath is { } certificatePath ? ServerCertificate.Load(certificatePath, settings.CertificateKeyPath, CertificateLogger(log))
                    : ServerCertificate.SelfSigned(DataDirectory.File(ServerCertificate.FileName), settings.HostName, CertificateLogger(log));
                var given = GivenUsers(settings, log);
                // Files are opened relative to the data directory from here on, so its parents need not be open to
                // the run-as user.
                Environment.CurrentDirectory = data;
                if (runAs is { } account)
                {
                    Privileges.DropTo(account);
                    log.LogInformation("Running as {User} ({Identity})", account.Name, Privileges.Describe());
                }
                else if (Privileges.IsRoot)
                {
                    log.LogWarning("Running as root for the whole session (--run-as root); every flaw in the device is then a flaw of the host");
                }
                if (settings.WebRoot is { } webRoot && !CanRead(webRoot))
                {
                    log.LogError("--web-root {Path} is not readable by {User}", webRoot, Privileges.Current.Name);
                    return 1;
                }
                accounts = given ?? StoredUsers(data, log);
                accounts.Sessions = new Sessions(TimeProvider.System, settings.SessionIdle, settings.SessionLifetime);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidDataException or InvalidOperationException
                or System.Text.Json.JsonException or System.Security.Cryptography.CryptographicException)
            {
                log.LogError("Cannot start: {Reason}", e.Message);
                return 1;
            }
            var store = new SettingsStore(DataDirectory.File("settings.json"));
            var events = new EventLog();
            var firmware = new Firmware(DataDirectory.File("firmware"));
            var telemetry = new Telemetry();

            try
            {
                // The privileged start above ran on this, the main thread, before anything else: no_new_privs and
                // the capability sets belong to each thread, and a hosted service runs on the thread pool. From here
                // the device runs on the generic host, as AddWirestack's users do: its logging, its lifetime, an
                // orderly stop on SIGTERM. The start's own log is written out first, so lines keep their order.
                loggerFactory.Dispose();
                return await RunHostedAsync(level, stop.Token, (loggers, stopping) =>
                    RunStacksAsync(settings, device, loggers, level, accounts, certificate, store, events, firmware, telemetry, stopping));
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
    static async Task<int> RunStacksAsync(DeviceSettings settings, INetworkDevice device, ILoggerFactory loggerFactory, LogLevelSwitch level, Users accounts,
        ServerCertificate? certificate, SettingsStore store, EventLog events, Firmware firmware, Telemetry telemetry, CancellationToken stopping)
    {
        var log = loggerFactory.CreateLogger("wirestack-device");
        try
        {
            bool reset;
            do
            {
                reset = await RunStackAsync(settings, device, log, loggerFactory, level, accounts, certificate, store, events, firmware, telemetry, stopping);
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

    /// <summary>--host-address and --host-address6 on a TAP this program created; false (logged) when that fails.</summary>
    static bool ConfigureHostSide(DeviceSettings settings, TapDevice tap, ILogger log)
    {
        foreach (var host in new[] { settings.HostAddress, settings.HostAddress6 }.OfType<(IPAddress Address, int PrefixLength)>())
        {
            if (tap.CreatedInterface)
            {
                try
                {
                    tap.ConfigureHostSide(host.Address, host.PrefixLength);
                    log.LogInformation("Host side of {Interface}: {Address}/{Prefix}, up", tap.Name, host.Address, host.PrefixLength);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    log.LogError("Cannot configure the host side of {Interface}: {Reason}", tap.Name, e.Message);
                    return false;
                }
            }
            else
            {
                log.LogWarning("{Interface} existed before: --host-address{Six} ignored, its configuration is left as it is", tap.Name,
                    host.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "6" : "");
            }
        }
        return true;
    }

    /// <summary>One life of the stack; returns true when a reset asked for another.</summary>
    static async Task<bool> RunStackAsync(DeviceSettings settings, INetworkDevice device, ILogger log, ILoggerFactory loggerFactory, LogLevelSwitch level,
        Users users, ServerCertificate? certificate, SettingsStore store, EventLog events, Firmware firmware, Telemetry telemetry, CancellationToken stopToken)
    {
        var ipv4 = settings.Address is { } address
            ? Ipv4Settings.Static(address.Address, address.PrefixLength, settings.Gateway, settings.DnsServers)
            : Ipv4Settings.FromDhcp(new DhcpClientSettings { HostName = settings.HostName });
        var dhcpServer = settings.DhcpServer is { } pool && settings.Address is { } own
            ? pool with { DnsServers = settings.DnsServers.Count > 0 ? settings.DnsServers : [own.Address] }
            : null;
        using var reset = new CancellationTokenSource();
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(stopToken, reset.Token);
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
        var stack = NetworkStack.Create(device, new StackOptions { MacAddress = settings.MacAddress, Ipv4 = ipv4, Ipv6 = ipv6, DhcpServer = dhcpServer, Tcp = tcp, Mdns = mdns,
            BusyPoll = settings.BusyPoll });
        try
        {
            stack.StateChanged += (_, e) =>
            {
                log.LogInformation("State {Previous} -> {Current}", e.Previous, e.Current);
                events.Add(0, e.Current == StackState.Ready ? 1 : 0, $"State {e.Previous} -> {e.Current}");
            };
            stack.EventRaised += (_, e) =>
            {
                log.LogInformation("{Event}", e.Message);
                events.Add(0, e.Kind is StackEventKind.LeaseLost or StackEventKind.AddressConflict or StackEventKind.MdnsHostNameConflict ? 2 : 1, e.Message);
            };
            log.LogInformation("MAC {Mac}, IPv4 {Ipv4}, IPv6 {Ipv6}", settings.MacAddress, ipv4,
                !settings.Ipv6 ? "off" : settings.Ipv6Addresses.Count == 0 ? "link-local and SLAAC" : "link-local, SLAAC and " + string.Join(", ", settings.Ipv6Addresses.Select(a => $"{a.Address}/{a.PrefixLength}")));
            stack.Start();
            log.LogInformation(stack.ReceiveOffloadsEnabled
                ? "Offloads on: TCP segments of up to 64 KiB cross the TAP both ways with checksums left partial (virtio-net header)"
                : "Offloads off: frames of at most the MTU, every checksum checked");
            if (dhcpServer is not null)
                log.LogInformation("DHCP server: pool {First}-{Last}", dhcpServer.PoolStart, dhcpServer.PoolEnd);
            var services = settings.TestServices ? await TestServices.StartAsync(stack, log) : null;
            await using var clock = new SntpClient(stack) { Server = settings.SntpServer };
            clock.Synchronized += (_, sample) =>
            {
                log.LogInformation("Time synchronised with {Server}: offset {Offset:0.0} ms, delay {Delay:0.0} ms",
                    sample.Server, sample.Offset.TotalMilliseconds, sample.RoundTripDelay.TotalMilliseconds);
                events.Add(1, 0, $"Time synchronised with {sample.Server}, offset {sample.Offset.TotalMilliseconds:0.0} ms");
            };
            // The client backs off by itself; a reason is worth a warning once, and again only when it changes.
            string? lastSntpFailure = null;
            clock.Failed += (_, e) =>
            {
                if (e.Message == Interlocked.Exchange(ref lastSntpFailure, e.Message))
                    log.LogDebug("SNTP: {Reason}", e.Message);
                else
                    log.LogWarning("SNTP: {Reason}{Hint}", e.Message, settings.SntpServer is null && stack.DnsServers.Count == 0 ? " (--sntp ADDRESS or --dns)" : "");
            };
            clock.Synchronized += (_, _) => Volatile.Write(ref lastSntpFailure, null);

            Microsoft.AspNetCore.Builder.WebApplication? dashboard = null;
            if (settings.HttpPort != 0 || settings.HttpsPort != 0)
            {
                var context = new DashboardContext(stack, users, store, events, firmware, telemetry, clock, level, () => reset.Cancel());
                var options = new DashboardOptions(settings.HttpPort, settings.HttpsPort, certificate, settings.WebRoot, settings.HostName, settings.KernelListen,
                    settings.AllowedHosts, settings.HttpsOnly);
                dashboard = await DashboardServer.StartAsync(context, options, loggerFactory, CancellationToken.None);
                log.LogInformation("Dashboard on {Ports}", string.Join(", ",
                    new[] { settings.HttpPort != 0 ? $"http :{settings.HttpPort}" : null, settings.HttpsPort != 0 ? $"https :{settings.HttpsPort}" : null }.Where(p => p is not null)));
            }
            events.Add(1, 1, "Device started");
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

    /// <summary>
    /// Whom a root-started device becomes: --run-as, else nobody; null to stay as it is (--run-as root, or not
    /// started as root). Only root can become someone else.
    /// </summary>
    static Posix.Account? RunAsAccount(DeviceSettings settings, ILogger log)
    {
        if (!Privileges.IsRoot)
        {
            if (settings.RunAs is { } wanted && Posix.FindAccount(wanted)?.Uid != Posix.EffectiveUserId)
                throw new InvalidOperationException($"--run-as {wanted}: only a device started as root can become another user");
            if (Privileges.HeldCapabilities() is { Length: > 0 } held)
                log.LogWarning("Still holding capabilities {Capabilities} after starting again without them (file capabilities on the program?)", held);
            return null;
        }
        string name = settings.RunAs ?? Privileges.DefaultUser;
        var account = Posix.FindAccount(name) ?? throw new InvalidOperationException($"--run-as: there is no user '{name}'");
        return account.Uid == 0 ? null : account;
    }

    static Action<System.Security.Cryptography.X509Certificates.X509Certificate2, string> CertificateLogger(ILogger log) => (certificate, how) =>
        log.LogInformation("HTTPS certificate ({How}), valid until {Until:yyyy-MM-dd}, key {Pin}: SHA-256 fingerprint {Fingerprint}",
            how, certificate.NotAfter.ToUniversalTime(), ServerCertificate.PublicKeyPin(certificate), ServerCertificate.Fingerprint(certificate));

    static bool CanRead(string directory)
    {
        try
        {
            _ = Directory.EnumerateFileSystemEntries(directory).FirstOrDefault();
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Users the operator gave: --user (with a warning: the command line is visible in /proc), --users-file, or the
    /// WIRESTACK_USERS variable; null when none, and the data directory's users are used.
    /// </summary>
    static Users? GivenUsers(DeviceSettings settings, ILogger log)
    {
        if (settings.Users.Count > 0)
        {
            log.LogWarning("--user puts passwords on the command line, which other local users can read in /proc; prefer --users-file or WIRESTACK_USERS");
            return new Users(settings.Users);
        }
        if (settings.UsersFile is { } file)
            return new Users(Users.Parse(File.ReadAllText(file), file));
        if (Environment.GetEnvironmentVariable("WIRESTACK_USERS") is { Length: > 0 } variable)
            return new Users(Users.Parse(variable, "WIRESTACK_USERS"));
        return null;
    }

    /// <summary>
    /// The data directory's users.json, made on first start with a generated password for admin that is shown once.
    /// There is no built-in password.
    /// </summary>
    static Users StoredUsers(string dataDirectory, ILogger log)
    {
        const string name = "users.json";
        var (users, generated) = Users.LoadOrCreate(DataDirectory.File(name));
        if (generated is not null)
        {
            // The journal keeps whatever a service logs: the password goes to an owner-only file in the data
            // directory, and to the terminal only when there is one. Only its hash is kept in users.json.
            OwnerOnlyFile.Replace(DataDirectory.File(DataDirectory.InitialPasswordFile), System.Text.Encoding.UTF8.GetBytes(generated + "\n"));
            if (!Console.IsErrorRedirected)
                Console.Error.WriteLine($"Dashboard user admin, generated password: {generated}");
            log.LogWarning("Dashboard user admin: first password in {Path} (owner-only; delete it once read; change the password with POST /api/password)",
                Path.Combine(dataDirectory, DataDirectory.InitialPasswordFile));
        }
        return users;
    }
}
