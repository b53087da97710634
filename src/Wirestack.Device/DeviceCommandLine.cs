using System.CommandLine;
using System.CommandLine.Parsing;
using System.Net;
using Wirestack.Wire;

namespace Wirestack.Device;

/// <summary>The wirestack-device command line: options, their parsing and validation.</summary>
internal static class DeviceCommandLine
{
    /// <summary>Exit code for bad arguments (as with most Unix tools).</summary>
    public const int UsageError = 2;


    static readonly Option<string> Interface = new("--interface", "-i")
    {
        Description = "TAP interface to open; created when missing and removed at exit.",
        DefaultValueFactory = _ => "tap0",
        CustomParser = result =>
        {
            string name = result.Tokens.Single().Value;
            if (name.Length is 0 or > 15 || name.Any(c => c > 127 || char.IsWhiteSpace(c) || c == '/'))
                result.AddError($"--interface: '{name}' is not a valid interface name (1 to 15 ASCII characters, no '/' or spaces).");
            return name;
        },
    };

    static readonly Option<MacAddress> Mac = new("--mac")
    {
        Description = "The device's MAC address.",
        DefaultValueFactory = _ => MacAddress.Parse("02:00:01:02:03:77"),
        CustomParser = result =>
        {
            string text = result.Tokens.Single().Value;
            if (!MacAddress.TryParse(text, out var mac))
                result.AddError($"--mac: '{text}' is not a MAC address (expected six hex pairs such as 02:00:01:02:03:77).");
            else if (mac.IsMulticast || mac.IsZero)
                result.AddError($"--mac: {mac} is a multicast or zero address; the device needs a unicast one.");
            return mac;
        },
    };

    static readonly Option<(IPAddress, int)?> Ip = new("--ip")
    {
        Description = "Static IPv4 address and prefix, e.g. 192.168.0.2/24 (without it the device uses DHCP).",
        CustomParser = result => ParseCidr(result, "--ip"),
    };

    static readonly Option<IPAddress?> Gateway = new("--gateway")
    {
        Description = "Default gateway (with --ip).",
        CustomParser = result => ParseAddress(result, "--gateway"),
    };

    static readonly Option<IPAddress[]> Dns = new("--dns")
    {
        Description = "DNS server; repeat for several.",
        Arity = ArgumentArity.ZeroOrMore,
        CustomParser = result => result.Tokens.Select(t => ParseAddress(result, "--dns", t.Value) ?? IPAddress.None).ToArray(),
    };

    static readonly Option<(IPAddress, int)[]> Ip6 = new("--ip6")
    {
        Description = "A static IPv6 address with its prefix, e.g. 2001:db8::2/64 (repeatable); SLAAC from router advertisements still applies.",
        AllowMultipleArgumentsPerToken = false,
        CustomParser = result => result.Tokens.Select(t =>
        {
            try
            {
                return Ipv6Settings.ParseAddress(t.Value);
            }
            catch (FormatException e)
            {
                result.AddError($"--ip6: {e.Message}");
                return (IPAddress.IPv6None, 0);
            }
        }).ToArray(),
    };

    static readonly Option<IPAddress?> Gateway6 = new("--gateway6")
    {
        Description = "A static IPv6 default router, usually link-local (fe80::1); routers that advertise themselves are used too.",
        CustomParser = result =>
        {
            string text = result.Tokens.Single().Value;
            if (IPAddress.TryParse(text, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
                return address;
            result.AddError($"--gateway6: '{text}' is not an IPv6 address.");
            return null;
        },
    };

    static readonly Option<(IPAddress, int)?> HostAddress6 = new("--host-address6")
    {
        Description = "When the program creates the TAP: give the host side this IPv6 address too, e.g. 2001:db8::1/64.",
        CustomParser = result =>
        {
            try
            {
                return Ipv6Settings.ParseAddress(result.Tokens.Single().Value);
            }
            catch (FormatException e)
            {
                result.AddError($"--host-address6: {e.Message}");
                return null;
            }
        },
    };

    static readonly Option<string[]> AllowedHost = new("--allowed-host")
    {
        Description = "Another host name the dashboard answers to (besides its addresses, --hostname, NAME.local and localhost); repeatable.",
        Arity = ArgumentArity.ZeroOrMore,
    };

    static readonly Option<bool> NoMdns = new("--no-mdns")
    {
        Description = "Do not answer for NAME.local by multicast DNS (on by default).",
    };

    static readonly Option<bool> NoOffloads = new("--no-offloads")
    {
        Description = "Open the TAP without the virtio-net header: plain frames of at most the MTU, no 64 KiB segments from the host (on by default where the kernel has it).",
    };

    // Declared before the option that reads it: static fields start in the order they are written.
    static readonly int DefaultBusyPollMicroseconds = (int)StackOptions.DefaultBusyPoll.TotalMicroseconds;

    static readonly Option<int> BusyPoll = new("--busy-poll")
    {
        Description = $"The longest the stack keeps looking for traffic after the last it handled before it sleeps, in microseconds (0 to 1000000; default {DefaultBusyPollMicroseconds}). Adaptive: only traffic that keeps coming back this soon keeps it looking, at the price of a core's time while it lasts.",
        DefaultValueFactory = _ => DefaultBusyPollMicroseconds,
        CustomParser = result =>
        {
            string text = result.Tokens.Single().Value;
            if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int value) && value <= 1_000_000)
                return value;
            result.AddError($"--busy-poll: '{text}' is not a number of microseconds from 0 to 1000000.");
            return DefaultBusyPollMicroseconds;
        },
    };

    static readonly Option<bool> NoIpv6 = new("--no-ipv6")
    {
        Description = "Turn IPv6 off (it is on by default: link-local address, SLAAC).",
    };

    static readonly Option<(IPAddress, int)?> HostAddress = new("--host-address")
    {
        Description = "When this program creates the TAP: give its host side this address/prefix and bring it up.",
        CustomParser = result => ParseCidr(result, "--host-address"),
    };

    static readonly Option<string?> Pcap = new("--pcap")
    {
        Description = "Write every frame in and out to this pcap file.",
        CustomParser = result =>
        {
            string path = result.Tokens.Single().Value;
            string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (directory is not null && !Directory.Exists(directory))
                result.AddError($"--pcap: directory '{directory}' does not exist.");
            return path;
        },
    };

    static readonly Option<int> Verbosity = new("--verbosity", "-v")
    {
        Description = "Log level: 0 none, 1 errors, 2 info, 3 debug, 4 verbose.",
        DefaultValueFactory = _ => 2,
        CustomParser = result =>
        {
            string text = result.Tokens.Single().Value;
            if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int level) || level > 4)
                result.AddError($"--verbosity: '{text}' is not a level from 0 to 4.");
            return level;
        },
    };

    static readonly Option<bool> DhcpOption = new("--dhcp")
    {
        Description = "Get the address by DHCP (the default when --ip is absent).",
    };

    static readonly Option<string> HostName = new("--hostname")
    {
        Description = "Host name sent to the DHCP server and answered for as NAME.local by mDNS.",
        DefaultValueFactory = _ => "wirestack",
        CustomParser = result =>
        {
            string name = result.Tokens.Single().Value;
            if (name.Length is 0 or > 63 || name[0] == '-' || name[^1] == '-' || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                result.AddError($"--hostname: '{name}' is not a valid host name (1 to 63 letters, digits or inner '-').");
            return name;
        },
    };

    static readonly Option<string?> Sntp = new("--sntp")
    {
        Description = "SNTP server (host name or address); default: from DHCP, else time.google.com.",
    };

    static readonly Option<DhcpServerSettings?> DhcpServer = new("--dhcp-server")
    {
        Description = "Serve DHCP on the interface from this pool, e.g. 192.168.0.50-192.168.0.99 (needs --ip).",
        CustomParser = result =>
        {
            try
            {
                return DhcpServerSettings.ParsePool(result.Tokens.Single().Value);
            }
            catch (FormatException e)
            {
                result.AddError($"--dhcp-server: {e.Message}");
                return null;
            }
        },
    };

    static readonly Option<int> HttpPort = new("--http-port")
    {
        Description = "Dashboard HTTP port; 0 disables HTTP.",
        DefaultValueFactory = _ => 80,
        CustomParser = result => ParsePort(result, "--http-port", 80),
    };

    static readonly Option<int> HttpsPort = new("--https-port")
    {
        Description = "Dashboard HTTPS port; 0 disables HTTPS.",
        DefaultValueFactory = _ => 443,
        CustomParser = result => ParsePort(result, "--https-port", 443),
    };

    static readonly Option<string?> Cert = new("--cert")
    {
        Description = "HTTPS certificate: a PFX, or a PEM (with its key, or the key in --cert-key); default self-signed at start.",
        CustomParser = result => ExistingFile(result, "--cert"),
    };

    static readonly Option<string?> CertKey = new("--cert-key")
    {
        Description = "PEM private key for --cert.",
        CustomParser = result => ExistingFile(result, "--cert-key"),
    };

    static readonly Option<string[]> User = new("--user")
    {
        Description = "Dashboard user NAME:PASSWORD; repeat for several. Visible to other local users in /proc: prefer --users-file or WIRESTACK_USERS.",
        Arity = ArgumentArity.ZeroOrMore,
        CustomParser = result =>
        {
            foreach (var token in result.Tokens)
            {
                int colon = token.Value.IndexOf(':');
                if (colon <= 0 || colon == token.Value.Length - 1)
                    result.AddError($"--user: '{token.Value}' is not NAME:PASSWORD.");
            }
            return result.Tokens.Select(t => t.Value).ToArray();
        },
    };

    static readonly Option<string?> UsersFile = new("--users-file")
    {
        Description = "A file of dashboard users, one NAME:PASSWORD (or NAME:pbkdf2-sha256$… hash) per line.",
        CustomParser = result => ExistingFile(result, "--users-file"),
    };

    static readonly Option<string?> WebRoot = new("--web-root")
    {
        Description = "A directory of extra files to serve beside the dashboard.",
        CustomParser = result =>
        {
            string path = result.Tokens.Single().Value;
            if (!Directory.Exists(path))
                result.AddError($"--web-root: directory '{path}' does not exist.");
            return path;
        },
    };

    static readonly Option<string?> DataDirectory = new("--data-dir")
    {
        Description = "Where users, secrets, the certificate, settings and firmware are kept (owner-only); default $STATE_DIRECTORY, "
            + "else /var/lib/wirestack-device as root, else $XDG_STATE_HOME/wirestack-device.",
        CustomParser = result => Path.GetFullPath(result.Tokens.Single().Value),
    };

    static readonly Option<string?> RunAs = new("--run-as")
    {
        Description = "Started as root: the user (name or uid) to become once the TAP is open; default nobody. 'root' keeps root (not advised).",
        CustomParser = result =>
        {
            string name = result.Tokens.Single().Value;
            if (name.Length == 0 || name.Any(char.IsWhiteSpace))
                result.AddError($"--run-as: '{name}' is not a user name or id.");
            return name;
        },
    };

    static readonly Option<bool> HttpsOnly = new("--https-only")
    {
        Description = "Plain HTTP only redirects to HTTPS, and HTTPS answers carry Strict-Transport-Security.",
    };

    static readonly Option<TimeSpan> SessionIdle = new("--session-idle")
    {
        Description = "A dashboard session ends after this long unused, e.g. 30m (default), 90s, 2h.",
        DefaultValueFactory = _ => TimeSpan.FromMinutes(30),
        CustomParser = result => ParseDuration(result, "--session-idle", TimeSpan.FromMinutes(30)),
    };

    static readonly Option<TimeSpan> SessionLifetime = new("--session-lifetime")
    {
        Description = "A dashboard session ends this long after login in any case, e.g. 12h (default).",
        DefaultValueFactory = _ => TimeSpan.FromHours(12),
        CustomParser = result => ParseDuration(result, "--session-lifetime", TimeSpan.FromHours(12)),
    };

    static readonly Option<IPAddress?> KernelListen = new("--kernel-listen")
    {
        Description = "Benchmarks only: serve the dashboard on the kernel's sockets at this address instead of through Wirestack (ports below 1024 then need --run-as root).",
        CustomParser = result => ParseAddress(result, "--kernel-listen"),
    };

    static readonly Option<bool> TestServicesOption = new("--test-services")
    {
        Description = "Serve TCP echo (7), discard (9) and chargen (19) for testing and benchmarks.",
    };

    public static RootCommand Create(Func<DeviceSettings, CancellationToken, Task<int>> run)
    {
        var root = new RootCommand("wirestack-device: a virtual network device on a TAP interface, running the Wirestack TCP/IP stack.")
        {
            Interface, Mac, Ip, DhcpOption, HostName, NoMdns, NoOffloads, BusyPoll, Gateway, Dns, Ip6, Gateway6, NoIpv6, HostAddress, HostAddress6, Sntp, DhcpServer, HttpPort, HttpsPort, Cert, CertKey, User, UsersFile, AllowedHost,
            WebRoot, DataDirectory, RunAs, HttpsOnly, SessionIdle, SessionLifetime, KernelListen, Pcap, Verbosity, TestServicesOption,
        };
        root.Validators.Add(result =>
        {
            // An absent --https-port means the default 443, but a command's GetValue does not apply defaults.
            if (result.GetValue(HttpsOnly) && result.GetResult(HttpsPort) is { Implicit: false } https && !HasError(result, HttpsPort) && https.GetValueOrDefault<int>() == 0)
                result.AddError("--https-only: needs HTTPS (--https-port is 0).");

            if (result.GetValue(NoIpv6) && (result.GetResult(Ip6) is not null || result.GetResult(Gateway6) is not null))
                result.AddError("--no-ipv6: cannot be combined with --ip6 or --gateway6.");
            // Values that failed their own parsing already carry an error; check the combination only when both parsed.
            if (HasError(result, Ip) || HasError(result, Gateway))
                return;
            var ip = result.GetValue(Ip);
            var gateway = result.GetValue(Gateway);
            if (ip is not null && result.GetValue(DhcpOption))
            {
                result.AddError("--dhcp: cannot be combined with a static --ip.");
                return;
            }
            if (ip is null)
            {
                if (gateway is not null)
                    result.AddError("--gateway: only with a static --ip (DHCP supplies the gateway).");
                else if (!HasError(result, DhcpServer) && result.GetValue(DhcpServer) is not null)
                    result.AddError("--dhcp-server: needs a static --ip on the interface.");
                return;
            }
            if (gateway is not null)
            {
                try
                {
                    Ipv4Settings.Static(ip.Value.Item1, ip.Value.Item2, gateway);
                }
                catch (ArgumentException e)
                {
                    result.AddError($"--gateway: {e.Message.Split(" (Parameter")[0]}");
                }
            }
        });
        root.SetAction((parse, cancellationToken) => run(ToSettings(parse), cancellationToken));
        return root;
    }

    static bool HasError<T>(CommandResult result, Option<T> option)
    {
        try
        {
            result.GetValue(option);
            return false;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    static DeviceSettings ToSettings(ParseResult parse) => new()
    {
        InterfaceName = parse.GetValue(Interface)!,
        MacAddress = parse.GetValue(Mac),
        Address = parse.GetValue(Ip),
        Gateway = parse.GetValue(Gateway),
        DnsServers = parse.GetValue(Dns) ?? [],
        HostAddress = parse.GetValue(HostAddress),
        HostAddress6 = parse.GetValue(HostAddress6),
        Ipv6 = !parse.GetValue(NoIpv6),
        Mdns = !parse.GetValue(NoMdns),
        Offloads = !parse.GetValue(NoOffloads),
        BusyPoll = TimeSpan.FromMicroseconds(parse.GetValue(BusyPoll)),
        Ipv6Addresses = parse.GetValue(Ip6) ?? [],
        Ipv6Gateway = parse.GetValue(Gateway6),
        PcapPath = parse.GetValue(Pcap),
        Verbosity = parse.GetValue(Verbosity),
        TestServices = parse.GetValue(TestServicesOption),
        HostName = parse.GetValue(HostName)!,
        SntpServer = parse.GetValue(Sntp),
        DhcpServer = parse.GetValue(DhcpServer),
        HttpPort = parse.GetValue(HttpPort),
        HttpsPort = parse.GetValue(HttpsPort),
        CertificatePath = parse.GetValue(Cert),
        CertificateKeyPath = parse.GetValue(CertKey),
        Users = (parse.GetValue(User) ?? []).Select(u => (u[..u.IndexOf(':')], u[(u.IndexOf(':') + 1)..])).ToList(),
        WebRoot = parse.GetValue(WebRoot) is { } webRoot ? Path.GetFullPath(webRoot) : null,
        UsersFile = parse.GetValue(UsersFile),
        AllowedHosts = parse.GetValue(AllowedHost) ?? [],
        DataDirectory = parse.GetValue(DataDirectory),
        RunAs = parse.GetValue(RunAs),
        HttpsOnly = parse.GetValue(HttpsOnly),
        SessionIdle = parse.GetValue(SessionIdle),
        SessionLifetime = parse.GetValue(SessionLifetime),
        KernelListen = parse.GetValue(KernelListen),
    };

    static int ParsePort(ArgumentResult result, string option, int fallback)
    {
        string text = result.Tokens.Single().Value;
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            result.AddError($"{option}: '{text}' is not a port from 0 to 65535.");
            return fallback;
        }
        return port;
    }

    /// <summary>A duration such as 90s, 30m, 12h or 1d (a bare number is seconds), from 1 second to 30 days.</summary>
    static TimeSpan ParseDuration(ArgumentResult result, string option, TimeSpan fallback)
    {
        string text = result.Tokens.Single().Value.Trim();
        (string number, double unit) = text.Length > 0 && char.IsAsciiLetter(text[^1])
            ? (text[..^1], char.ToLowerInvariant(text[^1]) switch { 's' => 1.0, 'm' => 60.0, 'h' => 3600.0, 'd' => 86400.0, _ => double.NaN })
            : (text, 1.0);
        if (!double.IsNaN(unit) && double.TryParse(number, System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out double value)
            && value * unit is >= 1 and <= 30 * 86400)
            return TimeSpan.FromSeconds(value * unit);
        result.AddError($"{option}: '{text}' is not a duration from 1s to 30d (such as 90s, 30m, 12h).");
        return fallback;
    }

    static string? ExistingFile(ArgumentResult result, string option)
    {
        string path = result.Tokens.Single().Value;
        if (!File.Exists(path))
            result.AddError($"{option}: file '{path}' does not exist.");
        return path;
    }

    static (IPAddress, int)? ParseCidr(ArgumentResult result, string option)
    {
        string text = result.Tokens.Single().Value;
        try
        {
            return Ipv4Settings.ParseCidr(text);
        }
        catch (FormatException e)
        {
            result.AddError($"{option}: {e.Message}");
            return null;
        }
    }

    static IPAddress? ParseAddress(ArgumentResult result, string option, string? text = null)
    {
        text ??= result.Tokens.Single().Value;
        if (Ipv4Address.TryParse(text, out var address))
            return address.ToIPAddress();
        result.AddError($"{option}: '{text}' is not an IPv4 address.");
        return null;
    }
}
