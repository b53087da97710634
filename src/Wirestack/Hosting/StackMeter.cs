using System.Diagnostics.Metrics;

namespace Wirestack.Hosting;

/// <summary>
/// The stack's counters as instruments on the "Wirestack" meter, named and tagged after the OpenTelemetry semantic
/// conventions: a few instruments whose attributes tell the cases apart (<c>network.io.direction</c>,
/// <c>network.type</c>, <c>network.protocol.name</c>, <c>error.type</c> for drop reasons), not one instrument per
/// counter. docs/metrics.md has the table; a test holds the two together.
/// </summary>
internal sealed class StackMeter : IDisposable
{
    /// <summary>One instrument: its name, unit and description.</summary>
    internal sealed record Instrument(string Name, string Unit, string Description);

    /// <summary>Where one counter goes: its instrument and the attributes that single it out there.</summary>
    internal sealed record Mapping(Instrument Instrument, KeyValuePair<string, object?>[] Attributes);

    static readonly Instrument LinkPackets = new("wirestack.link.packets", "{packet}", "Frames (TAP) or packets (TUN) moved through the device.");
    static readonly Instrument LinkIo = new("wirestack.link.io", "By", "Bytes moved through the device.");
    static readonly Instrument LinkCoalesced = new("wirestack.link.coalesced", "{packet}", "Frames that crossed the device as one TCP segment of up to 64 KiB (GSO), cut to the MSS by the host's kernel only where it must.");
    static readonly Instrument Dropped = new("wirestack.packets.dropped", "{packet}", "Input the stack discarded, by reason (error.type).");
    static readonly Instrument IpPackets = new("wirestack.ip.packets", "{packet}", "IP datagrams delivered up the stack (receive) or sent.");
    static readonly Instrument IpFragments = new("wirestack.ip.fragments", "{fragment}", "IP fragments received or sent.");
    static readonly Instrument IpReassembled = new("wirestack.ip.reassembled", "{packet}", "IP datagrams rebuilt from fragments.");
    static readonly Instrument PathMtuReductions = new("wirestack.ip.path_mtu.reductions", "{event}", "Path MTU lowered by a Packet Too Big or Fragmentation Needed message.");
    static readonly Instrument Messages = new("wirestack.messages", "{message}", "Control messages (ARP, ICMP, NDP, MLD, IGMP, mDNS) by protocol and type.");
    static readonly Instrument UdpDatagrams = new("wirestack.udp.datagrams", "{datagram}", "UDP datagrams received for a socket or sent.");
    static readonly Instrument TcpSegments = new("wirestack.tcp.segments", "{segment}", "TCP segments received or sent (first transmissions and retransmissions).");
    static readonly Instrument TcpRetransmitted = new("wirestack.tcp.segments.retransmitted", "{segment}", "TCP segments sent again.");
    static readonly Instrument TcpRecoveries = new("wirestack.tcp.recoveries", "{event}", "Loss recoveries: by retransmission timeout or by fast retransmit (wirestack.tcp.recovery).");
    static readonly Instrument TcpDuplicateAcks = new("wirestack.tcp.duplicate_acks", "{segment}", "Duplicate acknowledgments received.");
    static readonly Instrument TcpOutOfOrder = new("wirestack.tcp.segments.out_of_order", "{segment}", "Segments received ahead of a gap and held.");
    static readonly Instrument TcpOpens = new("wirestack.tcp.connections.opened", "{connection}", "Connections opened: active (connect) or passive (accept).");
    static readonly Instrument TcpEstablished = new("wirestack.tcp.connections.established", "{connection}", "Connections that reached ESTABLISHED.");
    static readonly Instrument TcpTimedOut = new("wirestack.tcp.connections.timed_out", "{connection}", "Connections ended by retransmission, keep-alive or user timeout.");
    static readonly Instrument TcpResets = new("wirestack.tcp.resets", "{segment}", "RST segments received or sent.");
    static readonly Instrument TcpChallengeAcks = new("wirestack.tcp.challenge_acks", "{segment}", "RFC 5961 challenge ACKs sent.");
    static readonly Instrument TcpWindowProbes = new("wirestack.tcp.window_probes", "{segment}", "Zero-window probes sent.");
    static readonly Instrument TcpSynCookies = new("wirestack.tcp.syn_cookies", "{segment}", "SYN cookies sent (transmit) and valid ones returned (receive).");
    static readonly Instrument ForwardRequests = new("wirestack.forward.requests", "{flow}", "Flows to addresses not the stack's own offered to the application (forwarding), first offers and the client's retries while it decided.");
    static readonly Instrument ForwardEvicted = new("wirestack.forward.evicted", "{flow}", "Forwarded flows ended early to make room for new ones (the one idle longest).");
    static readonly Instrument MdnsConflicts = new("wirestack.mdns.conflicts", "{conflict}", "mDNS names another host claimed; each ends in a rename.");

    /// <summary>Every counter's place; a counter missing here fails the stack's start, so none goes unpublished.</summary>
    internal static readonly IReadOnlyDictionary<StackCounter, Mapping> Mappings = BuildMappings();

    readonly Meter _meter;

    public StackMeter(StackCounters counters, string deviceName, IMeterFactory? factory)
    {
        // The meter is the stack's own (disposed with it) even when a factory is given: a factory hands out one
        // cached meter per name and tags, and a device that resets runs a new stack on the same interface, whose
        // instruments must not be added to its predecessor's. The factory's scope still marks it as the host's.
        _meter = new Meter(new MeterOptions(NetworkStack.MeterName) { Scope = factory });
        var device = new KeyValuePair<string, object?>("network.interface.name", deviceName);
        foreach (var group in Mappings.GroupBy(m => m.Value.Instrument))
        {
            var measured = group.Select(m => (Counter: m.Key, Tags: (KeyValuePair<string, object?>[])[device, .. m.Value.Attributes])).ToArray();
            _meter.CreateObservableCounter(group.Key.Name,
                () => measured.Select(m => new Measurement<long>(counters[m.Counter], m.Tags)),
                group.Key.Unit, group.Key.Description);
        }
    }

    public void Dispose() => _meter.Dispose();

    static Dictionary<StackCounter, Mapping> BuildMappings()
    {
        const string Receive = "receive", Transmit = "transmit";
        var map = new Dictionary<StackCounter, Mapping>();
        void Add(StackCounter counter, Instrument instrument, params (string Key, string Value)[] attributes) =>
            map.Add(counter, new Mapping(instrument, [.. attributes.Select(a => new KeyValuePair<string, object?>(a.Key, a.Value))]));
        (string, string) Direction(string value) => ("network.io.direction", value);
        (string, string) Family(string value) => ("network.type", value);
        void Message(StackCounter counter, string protocol, string type, string direction) =>
            Add(counter, Messages, ("network.protocol.name", protocol), ("wirestack.message.type", type), Direction(direction));

        Add(StackCounter.FramesReceived, LinkPackets, Direction(Receive));
        Add(StackCounter.FramesSent, LinkPackets, Direction(Transmit));
        Add(StackCounter.BytesReceived, LinkIo, Direction(Receive));
        Add(StackCounter.BytesSent, LinkIo, Direction(Transmit));
        Add(StackCounter.GsoFramesReceived, LinkCoalesced, Direction(Receive));
        Add(StackCounter.GsoFramesSent, LinkCoalesced, Direction(Transmit));
        Add(StackCounter.Ipv4DatagramsDelivered, IpPackets, Family("ipv4"), Direction(Receive));
        Add(StackCounter.Ipv4DatagramsSent, IpPackets, Family("ipv4"), Direction(Transmit));
        Add(StackCounter.Ipv6PacketsDelivered, IpPackets, Family("ipv6"), Direction(Receive));
        Add(StackCounter.Ipv6PacketsSent, IpPackets, Family("ipv6"), Direction(Transmit));
        Add(StackCounter.Ipv4FragmentsReceived, IpFragments, Family("ipv4"), Direction(Receive));
        Add(StackCounter.Ipv4FragmentsSent, IpFragments, Family("ipv4"), Direction(Transmit));
        Add(StackCounter.Ipv6FragmentsReceived, IpFragments, Family("ipv6"), Direction(Receive));
        Add(StackCounter.Ipv6FragmentsSent, IpFragments, Family("ipv6"), Direction(Transmit));
        Add(StackCounter.Ipv6AtomicFragmentsReceived, IpFragments, Family("ipv6"), Direction(Receive), ("wirestack.fragment.atomic", "true"));
        Add(StackCounter.Ipv4DatagramsReassembled, IpReassembled, Family("ipv4"));
        Add(StackCounter.Ipv6PacketsReassembled, IpReassembled, Family("ipv6"));
        Add(StackCounter.PathMtuReductions, PathMtuReductions);

        Message(StackCounter.ArpRequestsSent, "arp", "request", Transmit);
        Message(StackCounter.ArpRepliesSent, "arp", "reply", Transmit);
        Message(StackCounter.IcmpEchoRepliesSent, "icmp", "echo_reply", Transmit);
        Message(StackCounter.IcmpErrorsSent, "icmp", "error", Transmit);
        Message(StackCounter.IcmpErrorsReceived, "icmp", "error", Receive);
        Message(StackCounter.NeighborSolicitationsSent, "ndp", "neighbor_solicitation", Transmit);
        Message(StackCounter.NeighborAdvertisementsSent, "ndp", "neighbor_advertisement", Transmit);
        Message(StackCounter.RouterSolicitationsSent, "ndp", "router_solicitation", Transmit);
        Message(StackCounter.RouterAdvertisementsReceived, "ndp", "router_advertisement", Receive);
        Message(StackCounter.MldReportsSent, "mld", "report", Transmit);
        Message(StackCounter.IgmpReportsSent, "igmp", "report", Transmit);
        Message(StackCounter.IgmpQueriesReceived, "igmp", "query", Receive);
        Message(StackCounter.MdnsResponsesSent, "mdns", "response", Transmit);
        Add(StackCounter.MdnsConflicts, MdnsConflicts);

        Add(StackCounter.UdpDatagramsReceived, UdpDatagrams, Direction(Receive));
        Add(StackCounter.UdpDatagramsSent, UdpDatagrams, Direction(Transmit));
        Add(StackCounter.TcpSegmentsReceived, TcpSegments, Direction(Receive));
        Add(StackCounter.TcpSegmentsSent, TcpSegments, Direction(Transmit));
        Add(StackCounter.TcpSegmentsRetransmitted, TcpRetransmitted);
        Add(StackCounter.TcpRetransmissionTimeouts, TcpRecoveries, ("wirestack.tcp.recovery", "timeout"));
        Add(StackCounter.TcpFastRetransmits, TcpRecoveries, ("wirestack.tcp.recovery", "fast_retransmit"));
        Add(StackCounter.TcpDuplicateAcksReceived, TcpDuplicateAcks);
        Add(StackCounter.TcpSegmentsOutOfOrder, TcpOutOfOrder);
        Add(StackCounter.TcpActiveOpens, TcpOpens, ("wirestack.tcp.open", "active"));
        Add(StackCounter.TcpPassiveOpens, TcpOpens, ("wirestack.tcp.open", "passive"));
        Add(StackCounter.TcpConnectionsEstablished, TcpEstablished);
        Add(StackCounter.TcpConnectionsTimedOut, TcpTimedOut);
        Add(StackCounter.TcpResetsReceived, TcpResets, Direction(Receive));
        Add(StackCounter.TcpResetsSent, TcpResets, Direction(Transmit));
        Add(StackCounter.TcpChallengeAcksSent, TcpChallengeAcks);
        Add(StackCounter.TcpWindowProbesSent, TcpWindowProbes);
        Add(StackCounter.TcpSynCookiesSent, TcpSynCookies, Direction(Transmit));
        Add(StackCounter.TcpSynCookiesAccepted, TcpSynCookies, Direction(Receive));
        Add(StackCounter.TcpForwardRequests, ForwardRequests, ("network.transport", "tcp"), ("wirestack.forward.retry", "false"));
        Add(StackCounter.TcpForwardSynRetransmitted, ForwardRequests, ("network.transport", "tcp"), ("wirestack.forward.retry", "true"));
        Add(StackCounter.UdpForwardSessions, ForwardRequests, ("network.transport", "udp"), ("wirestack.forward.retry", "false"));
        Add(StackCounter.UdpForwardSessionsEvicted, ForwardEvicted, ("network.transport", "udp"));
        Add(StackCounter.EchoForwardRequests, ForwardRequests, ("network.transport", "icmp"), ("wirestack.forward.retry", "false"));

        foreach (var counter in Enum.GetValues<StackCounter>().Where(StackCounters.IsDrop))
            Add(counter, Dropped, ("error.type", DropReason(counter)));

        var unmapped = Enum.GetValues<StackCounter>().Where(c => !map.ContainsKey(c)).ToArray();
        if (unmapped.Length > 0)
            throw new InvalidOperationException($"Counters without an instrument: {string.Join(", ", unmapped)}");
        return map;
    }

    /// <summary>DropUdpQueueFull → udp_queue_full: the error.type value of a drop counter.</summary>
    internal static string DropReason(StackCounter counter) => SnakeCase(counter.ToString()["Drop".Length..]);

    static string SnakeCase(string name)
    {
        var builder = new System.Text.StringBuilder(name.Length + 8);
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
                builder.Append('_');
            builder.Append(char.ToLowerInvariant(name[i]));
        }
        return builder.ToString();
    }
}
