using System.Net;

namespace Wirestack;

/// <summary>How the DHCP client behaves.</summary>
public sealed record DhcpClientSettings
{
    /// <summary>Host name sent to the server (option 12); the seed's default.</summary>
    public string? HostName { get; init; } = "wirestack";

    /// <summary>An address held before (a previous run): tried first with INIT-REBOOT (RFC 2131 3.2).</summary>
    public IPAddress? PreviousAddress { get; init; }

    /// <summary>Send DHCPRELEASE when the stack stops.</summary>
    public bool ReleaseOnShutdown { get; init; } = true;

    /// <summary>How long to wait for an answer to the ARP probe of an offered address (RFC 5227); zero skips probing.</summary>
    public TimeSpan ProbeTime { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Scales the retransmission backoff (1 = RFC 2131's 4, 8, 16… s); tests shorten it.</summary>
    public double RetransmissionScale { get; init; } = 1;
}
