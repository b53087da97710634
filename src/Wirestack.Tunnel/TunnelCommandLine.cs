using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Wirestack.Tunnel;

/// <summary>The wirestack-tunnel command line, in the style of tun2socks (--device tun0 --proxy socks5://host:port).</summary>
internal static class TunnelCommandLine
{
    /// <summary>Exit code for bad arguments (as with most Unix tools).</summary>
    public const int UsageError = 2;

    static readonly Option<string> Device = new("--device", "-d")
    {
        Description = "TUN interface to read; created when missing (and removed at exit), an existing one is used as it is.",
        DefaultValueFactory = _ => "tun0",
        CustomParser = result =>
        {
            string name = result.Tokens.Single().Value;
            if (name.StartsWith("tun://", StringComparison.Ordinal))
                name = name["tun://".Length..];
            if (name.Length is 0 or > 15 || name.Any(c => c > 127 || char.IsWhiteSpace(c) || c == '/'))
                result.AddError($"--device: '{name}' is not a valid interface name (1 to 15 ASCII characters, no '/' or spaces).");
            return name;
        },
    };

    static readonly Option<TunnelSettings> Proxy = new("--proxy", "-p")
    {
        Description = "Where flows go: direct:// (the host's sockets), socks5://[user:password@]host:port or http://[user:password@]host:port (CONNECT; TCP only).",
        DefaultValueFactory = _ => new TunnelSettings(),
        CustomParser = ParseProxy,
    };

    static readonly Option<string?> Interface = new("--interface")
    {
        Description = "Bind the tunnel's own sockets to this interface (SO_BINDTODEVICE), so they leave the host there and not through the TUN.",
    };

    static readonly Option<int?> Mark = new("--mark")
    {
        Description = "Firewall mark for the tunnel's own sockets (SO_MARK; decimal or 0x hex), for a policy-routing rule that keeps them out of the TUN.",
        CustomParser = result =>
        {
            string text = result.Tokens.Single().Value;
            bool hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (uint.TryParse(hex ? text[2..] : text, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out uint mark) && mark != 0)
                return unchecked((int)mark);
            result.AddError($"--mark: '{text}' is not a nonzero 32-bit number.");
            return null;
        },
    };

    static readonly Option<IPNetwork[]> Include = new("--include")
    {
        Description = "Carry only flows to this prefix (repeatable; e.g. 10.0.0.0/8, 2001:db8::/32). Others are answered 'administratively prohibited'.",
        Arity = ArgumentArity.ZeroOrMore,
        CustomParser = result => ParsePrefixes(result, "--include"),
    };

    static readonly Option<IPNetwork[]> Exclude = new("--exclude")
    {
        Description = "Never carry flows to this prefix (repeatable); wins over --include.",
        Arity = ArgumentArity.ZeroOrMore,
        CustomParser = result => ParsePrefixes(result, "--exclude"),
    };

    static readonly Option<(IPAddress, int)?> HostAddress = new("--host-address")
    {
        Description = "Give the TUN's host side this IPv4 address and prefix (e.g. 198.18.0.1/15) and bring it up; without it the interface is only brought up.",
        CustomParser = result => ParseCidr(result, "--host-address"),
    };

    static readonly Option<(IPAddress, int)?> HostAddress6 = new("--host-address6")
    {
        Description = "Give the TUN's host side this IPv6 address and prefix as well (e.g. fdfe:dcba:9876::1/64).",
        CustomParser = result => ParseCidr(result, "--host-address6"),
    };

    static readonly Option<int> ConnectTimeout = new("--connect-timeout")
    {
        Description = "Seconds an upstream connection (and a proxy's handshake) may take before the client is told the host is unreachable.",
        DefaultValueFactory = _ => 10,
        Validators = { result => { if (result.GetValueOrDefault<int>() is < 1 or > 300) result.AddError("--connect-timeout: 1 to 300 seconds."); } },
    };

    static readonly Option<int> UdpTimeout = new("--udp-timeout")
    {
        Description = "Seconds a UDP session lives without a datagram either way (RFC 4787 asks at least 120).",
        DefaultValueFactory = _ => 120,
        Validators = { result => { if (result.GetValueOrDefault<int>() is < 1 or > 86400) result.AddError("--udp-timeout: 1 to 86400 seconds."); } },
    };

    static readonly Option<IPEndPoint?> Metrics = new("--metrics")
    {
        Description = "Serve /metrics (Prometheus text: flows, bytes, failures, the stack's drops) on this address and port of the host, e.g. 127.0.0.1:9100.",
        CustomParser = result => ParseEndPoint(result, "--metrics", "127.0.0.1:9100 or [::1]:9100", defaultPort: null),
    };

    static readonly Option<IPEndPoint?> Dns = new("--dns")
    {
        Description = "Send every DNS query (UDP and TCP port 53, to any address) to this resolver (address[:port], port 53 by default); answers come back from the address the client asked.",
        CustomParser = result => ParseEndPoint(result, "--dns", "1.1.1.1 or [2606:4700:4700::1111]:53", defaultPort: 53),
    };

    static readonly Option<int> BusyPoll = new("--busy-poll")
    {
        Description = "Microseconds the stack's thread spins for more packets after each before it sleeps (0: never; trades a core for latency).",
        DefaultValueFactory = _ => 2000,
        Validators = { result => { if (result.GetValueOrDefault<int>() is < 0 or > 1_000_000) result.AddError("--busy-poll: 0 to 1000000 microseconds."); } },
    };

    static readonly Option<string?> RunAs = new("--run-as")
    {
        Description = "Started as root: the user (name or uid) to become once the TUN is open; default nobody. Only one thread keeps CAP_NET_ADMIN (--mark) and CAP_NET_RAW (ping, --interface), for making sockets. 'root' keeps root.",
        CustomParser = result =>
        {
            string name = result.Tokens.Single().Value;
            if (name.Length == 0 || name.Any(char.IsWhiteSpace))
                result.AddError($"--run-as: '{name}' is not a user name or id.");
            return name;
        },
    };

    static readonly Option<bool> NoOffloads = new("--no-offloads")
    {
        Description = "Open the TUN without the virtio-net header (no 64 KiB segments or checksum offload from the kernel).",
    };

    static readonly Option<int> Verbosity = new("--verbosity", "-v")
    {
        Description = "Log detail: 0 errors, 1 warnings, 2 information (default), 3 every flow.",
        DefaultValueFactory = _ => 2,
        Validators = { result => { if (result.GetValueOrDefault<int>() is < 0 or > 3) result.AddError("--verbosity: 0 to 3."); } },
    };

    public static RootCommand Create(Func<TunnelSettings, CancellationToken, Task<int>> run)
    {
        var root = new RootCommand("wirestack-tunnel: every TCP and UDP flow (and ping) that enters a TUN interface, through a SOCKS5 or HTTP proxy or directly, on the Wirestack TCP/IP stack.")
        {
            Device, Proxy, Interface, Mark, Include, Exclude, HostAddress, HostAddress6, ConnectTimeout, UdpTimeout, Dns, Metrics, BusyPoll, NoOffloads, RunAs, Verbosity,
        };
        root.SetAction((parse, cancellationToken) => run(ToSettings(parse), cancellationToken));
        return root;
    }

    static TunnelSettings ToSettings(ParseResult parse) => parse.GetValue(Proxy)! with
    {
        Device = parse.GetValue(Device)!,
        BindInterface = parse.GetValue(Interface),
        Mark = parse.GetValue(Mark),
        Include = parse.GetValue(Include) ?? [],
        Exclude = parse.GetValue(Exclude) ?? [],
        HostAddress = parse.GetValue(HostAddress),
        HostAddress6 = parse.GetValue(HostAddress6),
        ConnectTimeout = TimeSpan.FromSeconds(parse.GetValue(ConnectTimeout)),
        UdpTimeout = TimeSpan.FromSeconds(parse.GetValue(UdpTimeout)),
        Offloads = !parse.GetValue(NoOffloads),
        Metrics = parse.GetValue(Metrics),
        BusyPoll = TimeSpan.FromMicroseconds(parse.GetValue(BusyPoll)),
        RunAs = parse.GetValue(RunAs),
        Dns = parse.GetValue(Dns),
        LogLevel = parse.GetValue(Verbosity) switch { 0 => LogLevel.Error, 1 => LogLevel.Warning, 3 => LogLevel.Debug, _ => LogLevel.Information },
    };

    /// <summary>direct://, socks5://[user:password@]host:port or http://[user:password@]host:port; the host is an address (no name lookups before the tunnel is up).</summary>
    static TunnelSettings ParseProxy(ArgumentResult result)
    {
        string text = result.Tokens.Single().Value;
        if (text is "direct" or "direct://")
            return new TunnelSettings();
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("socks5" or "http"))
        {
            result.AddError($"--proxy: '{text}' is not direct://, socks5://host:port or http://host:port.");
            return new TunnelSettings();
        }
        if (!IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) || uri.Port is < 1 or > 65535 || uri.IsDefaultPort && !text.Contains($":{uri.Port}", StringComparison.Ordinal))
        {
            result.AddError($"--proxy: '{text}' needs an IP address and a port (such as socks5://127.0.0.1:1080).");
            return new TunnelSettings();
        }
        NetworkCredential? credential = null;
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            credential = new NetworkCredential(Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
            if (credential.UserName.Length is 0 or > 255 || credential.Password.Length > 255)
                result.AddError("--proxy: the username must have 1 to 255 characters and the password at most 255 (RFC 1929).");
        }
        return new TunnelSettings
        {
            Upstream = uri.Scheme == "socks5" ? UpstreamKind.Socks5 : UpstreamKind.HttpConnect,
            Proxy = new IPEndPoint(address, uri.Port),
            ProxyCredential = credential,
        };
    }

    static IPNetwork[] ParsePrefixes(ArgumentResult result, string option) => [.. result.Tokens.Select(token =>
    {
        // IPNetwork quietly clears host bits; a prefix written with them is more likely a typo than meant.
        int slash = token.Value.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0 && IPNetwork.TryParse(token.Value, out var prefix) && IPAddress.TryParse(token.Value[..slash], out var written) && written.Equals(prefix.BaseAddress))
            return prefix;
        result.AddError($"{option}: '{token.Value}' is not a prefix such as 10.0.0.0/8 or 2001:db8::/32 (no host bits set).");
        return default;
    })];

    /// <summary>An address and port; with <paramref name="defaultPort"/>, the port may be left out.</summary>
    static IPEndPoint? ParseEndPoint(ArgumentResult result, string option, string example, int? defaultPort)
    {
        string text = result.Tokens.Single().Value;
        // IPEndPoint, not IPAddress: IPAddress also reads "[2001:db8::1]:5353", and drops the port.
        if (IPEndPoint.TryParse(text, out var endPoint) && (endPoint.Port != 0 || defaultPort is not null))
            return endPoint.Port != 0 ? endPoint : new IPEndPoint(endPoint.Address, defaultPort!.Value);
        result.AddError($"{option}: '{text}' is not {(defaultPort is null ? "an address and port" : "an address, or an address and port")} such as {example}.");
        return null;
    }

    static (IPAddress, int)? ParseCidr(ArgumentResult result, string option)
    {
        string text = result.Tokens.Single().Value;
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0 && IPAddress.TryParse(text[..slash], out var address) && int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int length)
            && length >= 1 && length <= (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
            && (option.EndsWith('6') == (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)))
            return (address, length);
        result.AddError($"{option}: '{text}' is not an {(option.EndsWith('6') ? "IPv6" : "IPv4")} address with a prefix length.");
        return null;
    }
}
