namespace Wirestack;

/// <summary>
/// Everything the stack counts. Members named <c>Drop…</c> count frames or packets the stack discarded and why;
/// the others count traffic. Read them with <see cref="NetworkStack.GetCounter"/> or from the
/// <c>Wirestack</c> meter.
/// </summary>
public enum StackCounter
{
    /// <summary>Frames read from the device.</summary>
    FramesReceived,
    /// <summary>Frames written to the device.</summary>
    FramesSent,
    /// <summary>Bytes read from the device.</summary>
    BytesReceived,
    /// <summary>Bytes written to the device.</summary>
    BytesSent,
    /// <summary>ARP requests sent (resolution, retries, gratuitous announcements).</summary>
    ArpRequestsSent,
    /// <summary>ARP replies sent for our address.</summary>
    ArpRepliesSent,
    /// <summary>IPv4 datagrams delivered to ICMP, UDP or another protocol handler (after reassembly).</summary>
    Ipv4DatagramsDelivered,
    /// <summary>IPv4 datagrams handed to the link (before fragmentation).</summary>
    Ipv4DatagramsSent,
    /// <summary>IPv4 fragments received.</summary>
    Ipv4FragmentsReceived,
    /// <summary>Datagrams reassembled from fragments.</summary>
    Ipv4DatagramsReassembled,
    /// <summary>IPv4 fragments sent.</summary>
    Ipv4FragmentsSent,
    /// <summary>ICMP echo replies sent.</summary>
    IcmpEchoRepliesSent,
    /// <summary>ICMP error messages sent (unreachable, time exceeded).</summary>
    IcmpErrorsSent,
    /// <summary>ICMP error messages received and delivered to a socket.</summary>
    IcmpErrorsReceived,
    /// <summary>UDP datagrams delivered to a socket.</summary>
    UdpDatagramsReceived,
    /// <summary>UDP datagrams sent.</summary>
    UdpDatagramsSent,
    /// <summary>TCP segments received with a valid checksum.</summary>
    TcpSegmentsReceived,
    /// <summary>TCP segments sent (including retransmissions, ACKs and resets).</summary>
    TcpSegmentsSent,
    /// <summary>TCP segments sent again (timeout, fast retransmit, SACK recovery).</summary>
    TcpSegmentsRetransmitted,
    /// <summary>Retransmission timer expirations.</summary>
    TcpRetransmissionTimeouts,
    /// <summary>Entries into fast recovery.</summary>
    TcpFastRetransmits,
    /// <summary>Duplicate ACKs received.</summary>
    TcpDuplicateAcksReceived,
    /// <summary>Segments that arrived ahead of a gap and were held for reassembly.</summary>
    TcpSegmentsOutOfOrder,
    /// <summary>Connections that completed the handshake.</summary>
    TcpConnectionsEstablished,
    /// <summary>Connections we opened (SYN sent).</summary>
    TcpActiveOpens,
    /// <summary>Connections a listener opened (SYN received and answered).</summary>
    TcpPassiveOpens,
    /// <summary>Resets sent.</summary>
    TcpResetsSent,
    /// <summary>Resets accepted.</summary>
    TcpResetsReceived,
    /// <summary>Challenge ACKs sent (RFC 5961).</summary>
    TcpChallengeAcksSent,
    /// <summary>Zero-window probes sent.</summary>
    TcpWindowProbesSent,
    /// <summary>SYN-ACKs sent with a SYN cookie (RFC 4987).</summary>
    TcpSynCookiesSent,
    /// <summary>Connections rebuilt from a valid SYN cookie.</summary>
    TcpSynCookiesAccepted,
    /// <summary>
    /// Connections reset because they outlived a bound: the user timeout (RFC 5482), unanswered or (for orphans)
    /// endless zero-window probes, or the orphan limit.
    /// </summary>
    TcpConnectionsTimedOut,

    /// <summary>Frame shorter than its link header.</summary>
    DropLinkTruncated,
    /// <summary>Frame addressed to another station, to a multicast group we did not join, or tagged for a VLAN.</summary>
    DropLinkNotForUs,
    /// <summary>EtherType the stack does not handle.</summary>
    DropUnsupportedEtherType,
    /// <summary>ARP packet malformed or not Ethernet/IPv4.</summary>
    DropArpMalformed,
    /// <summary>ARP packet from another station claiming our address.</summary>
    DropArpAddressConflict,
    /// <summary>IPv4 header malformed (version, lengths).</summary>
    DropIpv4Malformed,
    /// <summary>IPv4 header checksum wrong.</summary>
    DropIpv4BadChecksum,
    /// <summary>IPv4 destination is not ours or one of our broadcast addresses.</summary>
    DropIpv4NotForUs,
    /// <summary>IPv4 source is a broadcast, multicast or our own address.</summary>
    DropIpv4BadSource,
    /// <summary>IPv4 protocol the stack does not handle (answered with protocol unreachable).</summary>
    DropIpv4UnsupportedProtocol,
    /// <summary>Fragment invalid: unaligned length, past 65535 bytes, or inconsistent end.</summary>
    DropFragmentMalformed,
    /// <summary>Fragment overlapping another with different extent: the whole datagram is dropped.</summary>
    DropFragmentOverlap,
    /// <summary>Fragment wholly inside data already held (a retransmission).</summary>
    DropFragmentDuplicate,
    /// <summary>Partial datagram discarded because it came in more fragments than any real path needs (a fragment storm).</summary>
    DropFragmentTooMany,
    /// <summary>Partial datagram evicted to stay within the reassembly bounds.</summary>
    DropReassemblyLimit,
    /// <summary>Partial datagram discarded after the reassembly timeout.</summary>
    DropReassemblyTimeout,
    /// <summary>ICMP message shorter than its header or with a bad checksum.</summary>
    DropIcmpMalformed,
    /// <summary>ICMP error not sent because of the rate limit.</summary>
    DropIcmpRateLimited,
    /// <summary>ICMP message of a type the stack ignores (redirect, source quench, unsolicited reply…).</summary>
    DropIcmpIgnored,
    /// <summary>UDP datagram malformed (length field).</summary>
    DropUdpMalformed,
    /// <summary>UDP checksum wrong.</summary>
    DropUdpBadChecksum,
    /// <summary>UDP datagram to a port nobody has bound.</summary>
    DropUdpNoListener,
    /// <summary>UDP datagram dropped because the socket's receive queue was full.</summary>
    DropUdpQueueFull,
    /// <summary>DHCP message (not relayed) naming a client hardware address other than the frame's source.</summary>
    DropDhcpSpoofedClient,
    /// <summary>DHCP offer or binding for a new client refused by the server's rate limit (pool starvation defence).</summary>
    DropDhcpRateLimited,
    /// <summary>Packet dropped because the next hop's address could not be resolved.</summary>
    DropResolutionFailed,
    /// <summary>Packet dropped because too many packets were already waiting for address resolution.</summary>
    DropResolutionQueueFull,
    /// <summary>Packet with no route (off-link with no gateway, or no address yet).</summary>
    DropNoRoute,
    /// <summary>Frame the device refused to take (queue full, link down).</summary>
    DropDeviceRefused,
    /// <summary>TCP segment shorter than its header or with broken options.</summary>
    DropTcpMalformed,
    /// <summary>TCP checksum wrong.</summary>
    DropTcpBadChecksum,
    /// <summary>TCP segment for a port nobody listens on (answered with RST).</summary>
    DropTcpNoListener,
    /// <summary>TCP segment rejected by PAWS (RFC 7323 5).</summary>
    DropTcpPaws,
    /// <summary>TCP segment outside the receive window (answered with ACK).</summary>
    DropTcpOutOfWindow,
    /// <summary>ACK for data never sent (RFC 5961 5.2).</summary>
    DropTcpAckOfUnsentData,
    /// <summary>In-order data that did not fit the receive buffer.</summary>
    DropTcpReceiveBufferFull,
    /// <summary>SACK block ignored because the scoreboard holds as many disjoint ranges as it may (a SACK storm).</summary>
    DropTcpSackBlockIgnored,
    /// <summary>Challenge ACK suppressed by its rate limit.</summary>
    DropTcpChallengeAckLimited,
    /// <summary>SYN dropped: the listener's queues were full and SYN cookies were off.</summary>
    DropTcpListenQueueFull,
    /// <summary>ACK to a listener carrying an invalid or expired SYN cookie.</summary>
    DropTcpSynCookieInvalid,
    /// <summary>SYN or SYN-cookie ACK refused because the connection limit was reached (a cookie ACK gets RST).</summary>
    DropTcpConnectionLimit,
    /// <summary>
    /// Out-of-order TCP data not kept: too many disjoint ranges, or it needed new memory while buffer memory was at the
    /// budget. The sender retransmits it.
    /// </summary>
    DropTcpOutOfOrderNoRoom,
    /// <summary>IPv6 packets delivered to ICMPv6, UDP, TCP (after reassembly).</summary>
    Ipv6PacketsDelivered,
    /// <summary>IPv6 packets handed to the link (before fragmentation).</summary>
    Ipv6PacketsSent,
    /// <summary>IPv6 fragments received.</summary>
    Ipv6FragmentsReceived,
    /// <summary>IPv6 fragments sent.</summary>
    Ipv6FragmentsSent,
    /// <summary>IPv6 packets reassembled from fragments.</summary>
    Ipv6PacketsReassembled,
    /// <summary>Atomic fragments (offset 0, no more fragments) processed as whole packets (RFC 6946).</summary>
    Ipv6AtomicFragmentsReceived,
    /// <summary>Neighbor Solicitations sent (resolution, unreachability probes, duplicate address detection).</summary>
    NeighborSolicitationsSent,
    /// <summary>Neighbor Advertisements sent.</summary>
    NeighborAdvertisementsSent,
    /// <summary>Router Solicitations sent.</summary>
    RouterSolicitationsSent,
    /// <summary>Router Advertisements accepted.</summary>
    RouterAdvertisementsReceived,
    /// <summary>MLDv2 reports sent.</summary>
    MldReportsSent,
    /// <summary>IGMP reports and leaves sent (RFC 3376, with v1 and v2 compatibility).</summary>
    IgmpReportsSent,
    /// <summary>IGMP membership queries received.</summary>
    IgmpQueriesReceived,
    /// <summary>IPv6 packet shorter than its header, of another version, or with a payload length past the frame.</summary>
    DropIpv6Malformed,
    /// <summary>IPv6 packet from a multicast, loopback or IPv4-mapped source, or to loopback.</summary>
    DropIpv6BadSource,
    /// <summary>IPv6 packet for an address that is not ours or a group not joined.</summary>
    DropIpv6NotForUs,
    /// <summary>IPv6 extension-header chain truncated, too long, refused by an option's action bits, or routed.</summary>
    DropIpv6HeaderChain,
    /// <summary>IPv6 packet whose chain ends in No Next Header.</summary>
    DropIpv6NoNextHeader,
    /// <summary>IPv6 packet for an upper-layer protocol the stack does not speak (answered with Parameter Problem).</summary>
    DropIpv6UnsupportedProtocol,
    /// <summary>
    /// Neighbor Discovery message failing the validity checks of RFC 4861 6.1 and 7.1 (hop limit, code, length,
    /// options), or carried in a fragment (RFC 6980 5).
    /// </summary>
    DropNdpInvalid,
    /// <summary>
    /// Packet that waited for a neighbour whose resolution gave way to a newer one: as many neighbours as allowed were
    /// being resolved (RFC 6583).
    /// </summary>
    DropNeighborTableFull,
    /// <summary>Router Advertisement content ignored: the router, prefix or address table was full.</summary>
    DropRouterAdvertisementIgnored,
    /// <summary>MLD message failing validation (hop limit, source, length).</summary>
    DropMldInvalid,
    /// <summary>IGMP message too short, with a wrong checksum, or with sources past its end.</summary>
    DropIgmpInvalid,
    /// <summary>UDP datagram to a multicast group no socket on its port joined.</summary>
    DropUdpMulticastNotJoined,
    /// <summary>Path MTU estimates lowered by Packet Too Big messages (RFC 8201).</summary>
    PathMtuReductions,
    /// <summary>mDNS responses, announcements, probes and goodbyes sent.</summary>
    MdnsResponsesSent,
    /// <summary>mDNS name conflicts: another host claimed the name (RFC 6762 9).</summary>
    MdnsConflicts,
    /// <summary>mDNS message malformed: truncated records, bad names or compression pointers, too many entries, a nonzero opcode.</summary>
    DropMdnsMalformed,
    /// <summary>mDNS message from a source that is not on this link (RFC 6762 11).</summary>
    DropMdnsOffLink,
    /// <summary>mDNS answer not sent: the record was multicast less than a second ago, or unicast answers ran over their rate.</summary>
    DropMdnsRateLimited,
    /// <summary>Frames the device handed over as one long TCP segment (up to 64 KiB; GSO from the host's kernel).</summary>
    GsoFramesReceived,
    /// <summary>Frames whose virtio-net header did not fit them (segmentation not asked for or without a size, checksum or header positions past the frame), or longer than any segment the kernel hands over.</summary>
    DropOffloadInvalid,
    /// <summary>Frames handed to the device as one long TCP segment (up to 64 KiB) for it or the host's kernel to cut to the MSS.</summary>
    GsoFramesSent,
    /// <summary>Forwarding: handshakes to an address not ours offered to the application.</summary>
    TcpForwardRequests,
    /// <summary>Forwarding: SYNs sent again by their client while the application decided (not offered again).</summary>
    TcpForwardSynRetransmitted,
    /// <summary>Forwarding: SYN dropped because the handshakes waiting for a decision were at their bound, in all or for its source, or the connection table was full.</summary>
    DropTcpForwardPendingFull,
    /// <summary>Forwarding: handshakes the application did not decide within the decision timeout.</summary>
    DropTcpForwardUndecided,
    /// <summary>Forwarding: UDP sessions opened (a client end point's first datagram to an address not ours).</summary>
    UdpForwardSessions,
    /// <summary>Forwarding: UDP sessions ended early to make room for a new one (the one idle longest).</summary>
    UdpForwardSessionsEvicted,
    /// <summary>Forwarding: echo requests (ping) to an address not ours offered to the application.</summary>
    EchoForwardRequests,
    /// <summary>Forwarding: echo request dropped because the application had as many waiting as it may.</summary>
    DropEchoForwardQueueFull,
}
