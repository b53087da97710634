using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Wirestack.Devices;

namespace Wirestack.Device;

/// <summary>Runs the device: opens the TAP, starts the stack, logs its events, stops on SIGINT or SIGTERM.</summary>
internal static class DeviceRunner
{
    public static async Task<int> RunAsync(DeviceSettings settings, CancellationToken cancellationToken)
    {
        using var loggerFactory = LoggerFactory.Create(builder => builder
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            })
            .SetMinimumLevel(ToLogLevel(settings.Verbosity)));
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
        try
        {
            tap = TapDevice.Open(settings.InterfaceName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException or ArgumentException)
        {
            log.LogError("Cannot open TAP interface {Interface}: {Reason}", settings.InterfaceName, e.Message);
            return 1;
        }
        using (tap)
        {
            log.LogInformation("Opened TAP {Interface} ({How}), MTU {Mtu}", tap.Name, tap.CreatedInterface ? "created" : "existing", tap.Mtu);
            if (settings.HostAddress is { } host)
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
                        return 1;
                    }
                }
                else
                {
                    log.LogWarning("{Interface} existed before: --host-address ignored, its configuration is left as it is", tap.Name);
                }
            }

            INetworkDevice device = tap;
            if (settings.PcapPath is { } pcapPath)
            {
                device = new PcapDevice(tap, pcapPath);
                log.LogInformation("Capturing frames to {Path}", pcapPath);
            }

            var ipv4 = settings.Address is { } address
                ? Ipv4Settings.Static(address.Address, address.PrefixLength, settings.Gateway, settings.DnsServers)
                : Ipv4Settings.FromDhcp(new DhcpClientSettings { HostName = settings.HostName });
            var dhcpServer = settings.DhcpServer is { } pool && settings.Address is { } own
                ? pool with { DnsServers = settings.DnsServers.Count > 0 ? settings.DnsServers : [own.Address] }
                : null;
            var stack = await NetworkStack.StartAsync(device, new StackOptions { MacAddress = settings.MacAddress, Ipv4 = ipv4, DhcpServer = dhcpServer }, CancellationToken.None);
            if (dhcpServer is not null)
                log.LogInformation("DHCP server: pool {First}-{Last}", dhcpServer.PoolStart, dhcpServer.PoolEnd);
            try
            {
                stack.StateChanged += (_, e) => log.LogInformation("State {Previous} -> {Current}", e.Previous, e.Current);
                stack.EventRaised += (_, e) => log.LogInformation("{Event}", e.Message);
                log.LogInformation("MAC {Mac}, IPv4 {Ipv4}", settings.MacAddress, ipv4);
                var services = settings.TestServices ? TestServices.Start(stack, log) : null;
                await using var clock = new SntpClient(stack) { Server = settings.SntpServer };
                clock.Synchronized += (_, sample) => log.LogInformation("Time synchronised with {Server}: offset {Offset:0.0} ms, delay {Delay:0.0} ms",
                    sample.Server, sample.Offset.TotalMilliseconds, sample.RoundTripDelay.TotalMilliseconds);
                clock.Failed += (_, e) => log.LogWarning("SNTP: {Reason}", e.Message);
                _ = StartClockWhenReadyAsync(stack, clock, stop.Token);
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }
                log.LogInformation("Stopping");
                if (services is not null)
                    await services.DisposeAsync();
            }
            finally
            {
                await stack.DisposeAsync();
                if (device != tap)
                    device.Dispose();
            }
        }
        log.LogInformation("Stopped");
        return 0;
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

    static LogLevel ToLogLevel(int verbosity) => verbosity switch
    {
        0 => LogLevel.None,
        1 => LogLevel.Error,
        2 => LogLevel.Information,
        3 => LogLevel.Debug,
        _ => LogLevel.Trace,
    };
}
