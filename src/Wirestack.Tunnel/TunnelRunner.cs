using System.Net;
using Microsoft.Extensions.Logging;
using Wirestack.Device.Platform;
using Wirestack.Devices;
using Wirestack.Tunnel.Upstreams;

namespace Wirestack.Tunnel;

/// <summary>Opens the TUN, runs a forwarding stack on it, and relays every flow until stopped.</summary>
internal static class TunnelRunner
{
    /// <summary>Exit code when the tunnel cannot start (no TUN, no permission).</summary>
    public const int StartFailure = 1;

    public static async Task<int> RunAsync(TunnelSettings settings, CancellationToken stop)
    {
        using var loggerFactory = LoggerFactory.Create(builder => builder
            .SetMinimumLevel(settings.LogLevel)
            .AddSimpleConsole(options =>
            {
                options.SingleLine = true;
                options.TimestampFormat = "HH:mm:ss ";
            }));
        var logger = loggerFactory.CreateLogger("wirestack-tunnel");
        TunDevice tun;
        try
        {
            tun = TunDevice.Open(settings.Device, new TunTapOptions { Offloads = settings.Offloads });
            if (settings.HostAddress is { } host)
                tun.ConfigureHostSide(host.Address, host.PrefixLength);
            if (settings.HostAddress6 is { } host6)
                tun.ConfigureHostSide(host6.Address, host6.PrefixLength);
            // A TUN made here gets room for the bursts of many flows (the default 500 dropped a third of 8 streams'
            // segments here): about 3 MB, 8 ms at 3 Gbit/s. One made beforehand is used as it is.
            if (tun.CreatedInterface)
                tun.SetHostQueueLength(HostQueueLength);
            tun.BringHostSideUp();
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or PlatformNotSupportedException or ArgumentException)
        {
            logger.LogError("cannot open the TUN interface {Device}: {Reason}{Hint}", settings.Device, e.Message,
                e is UnauthorizedAccessException ? " (run as root or with CAP_NET_ADMIN)" : "");
            return StartFailure;
        }
        using (tun)
        using (var counters = new TunnelCounters())
        {
            var sockets = new HostSockets(settings.BindInterface, settings.Mark);
            try
            {
                // Every upstream socket gets the mark and the binding: find out now whether it can, not per flow.
                using var probe = sockets.Create(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                logger.LogError("cannot mark or bind the tunnel's own sockets: {Reason} (--mark needs root or CAP_NET_ADMIN; --interface an existing interface)",
                    e.Message);
                return StartFailure;
            }
            Upstream upstream = settings.Upstream switch
            {
                UpstreamKind.Socks5 => new Socks5Upstream(settings.Proxy!, settings.ProxyCredential, sockets, settings.ConnectTimeout),
                UpstreamKind.HttpConnect => new HttpConnectUpstream(settings.Proxy!, settings.ProxyCredential, sockets, settings.ConnectTimeout),
                _ => new DirectUpstream(sockets, settings.ConnectTimeout),
            };
            var policy = new DestinationPolicy(settings.Include, settings.Exclude);
            await using var stack = await NetworkStack.StartAsync(tun, StackOptionsFor(settings), stop).ConfigureAwait(false);
            await using var tcp = await stack.ForwardTcpAsync().ConfigureAwait(false);
            await using var udp = await stack.ForwardUdpAsync().ConfigureAwait(false);
            await using var echo = await stack.ForwardEchoAsync().ConfigureAwait(false);
            Microsoft.AspNetCore.Builder.WebApplication? metrics = null;
            if (settings.Metrics is { } endPoint)
            {
                try
                {
                    metrics = await MetricsServer.StartAsync(endPoint, loggerFactory, stop).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    logger.LogError("cannot serve /metrics on {EndPoint}: {Reason}", endPoint, e.Message);
                    return StartFailure;
                }
            }
            await using var metricsServer = metrics;
            using var privileged = GiveUpRoot(settings, sockets, upstream.CarriesPing, logger, out bool failed);
            if (failed)
                return StartFailure;
            logger.LogInformation("forwarding every flow on {Device} (MTU {Mtu}) via {Upstream}", settings.Device, tun.Mtu, upstream.Name);
            using var pings = new EchoRelay(upstream, upstream.CarriesPing ? sockets : null, policy, counters, logger);
            var dns = settings.Dns is { } resolver ? new DnsRedirect(resolver) : null;
            await Task.WhenAll(
                new TcpRelay(upstream, policy, dns, counters, logger).RunAsync(tcp, stop),
                new UdpRelay(upstream, policy, dns, counters, logger).RunAsync(udp, stop),
                pings.RunAsync(echo, stop)).ConfigureAwait(false);
            logger.LogInformation("stopped: {Opened} flows carried, {Failed} could not be opened upstream", counters.FlowsOpened, counters.FlowsFailed);
        }
        return 0;
    }

    /// <summary>
    /// Least privilege: started as root, the tunnel becomes --run-as (nobody by default) once the TUN is open and its
    /// listeners bound; the one thread that makes its sockets keeps the capabilities they need (a mark, ping's raw
    /// sockets, an interface binding), every other thread none.
    /// </summary>
    static PrivilegedThread? GiveUpRoot(TunnelSettings settings, HostSockets sockets, bool pings, ILogger logger, out bool failed)
    {
        failed = false;
        if (!Privileges.IsRoot)
            return null;
        var account = Posix.FindAccount(settings.RunAs ?? Privileges.DefaultUser);
        if (account is null)
        {
            logger.LogError("--run-as: there is no user '{User}'", settings.RunAs ?? Privileges.DefaultUser);
            failed = true;
            return null;
        }
        if (account.Value.Uid == 0)
        {
            logger.LogWarning("Running as root (--run-as root)");
            return null;
        }
        var needed = sockets.CapabilitiesNeeded(rawSockets: pings).ToArray();
        PrivilegedThread? privileged = null;
        try
        {
            privileged = needed.Length > 0 ? new PrivilegedThread(needed) : null;
            Privileges.DropTo(account.Value);
            privileged?.Settle();
        }
        catch (InvalidOperationException e)
        {
            logger.LogError("cannot become {User}: {Reason}", account.Value.Name, e.Message);
            privileged?.Dispose();
            failed = true;
            return null;
        }
        sockets.Privileged = privileged;
        logger.LogInformation("Running as {User} ({Identity}); capabilities {Kept} kept by the socket thread only", account.Value.Name,
            Privileges.Describe(), privileged?.Kept ?? "none");
        return privileged;
    }

    const int RelayBufferSize = 4 << 20;
    const int HostQueueLength = 2048;

    static StackOptions StackOptionsFor(TunnelSettings settings) => new()
    {
        // The stack's own addresses only matter for traffic to the stack itself; every other address is forwarded.
        Ipv4 = Ipv4Settings.Static($"{settings.Address.Address}/{settings.Address.PrefixLength}"),
        Ipv6 = new Ipv6Settings
        {
            Autoconfigure = false,
            AcceptRouterAdvertisements = false,
            Dhcpv6 = false,
            DadTransmits = 0,
            StaticAddresses = [(settings.Address6.Address, settings.Address6.PrefixLength)],
        },
        Forwarding = new ForwardingSettings { UdpIdleTimeout = settings.UdpTimeout },
        // A relay's buffers carry one side's burst while the other catches up: 4 MiB each way (Linux grows a socket's
        // to its tcp_rmem/tcp_wmem maxima, 6 and 4 MiB) instead of the host-sized 256 KiB, which held one stream
        // into the tunnel at half its speed. Memory is taken in 4 KiB chunks only while bytes wait, so an idle flow
        // holds none, and the stack's memory budget bounds them all.
        Tcp = new TcpSettings { ReceiveBufferSize = RelayBufferSize, SendBufferSize = RelayBufferSize },
        BusyPoll = settings.BusyPoll,
    };
}
