using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

// IGMPv3 host side (RFC 3376) with IGMPv1 and v2 compatibility (7.2): reports on join and leave, answers to queries.
// Membership is EXCLUDE({}) — every source of the group — as for a host without source filtering (RFC 4604 is for
// hosts that do SSM; this one does not).
internal sealed partial class Ipv4Layer
{
    /// <summary>RFC 3376 8.1, 8.11, 8.12: Robustness Variable, Unsolicited Report Interval, Older Version Querier Present Timeout.</summary>
    const int IgmpRobustness = 2;
    const long IgmpUnsolicitedReportInterval = 1_000_000, IgmpOlderQuerierPresentTimeout = 260_000_000;

    /// <summary>224.0.0.22, where IGMPv3 reports go (RFC 3376 4.2.14).</summary>
    static readonly Ipv4Address AllIgmpRouters = new(0xE000_0016);

    /// <summary>224.0.0.2, where IGMPv2 Leave Group goes (RFC 2236 3).</summary>
    static readonly Ipv4Address AllRoutersV4 = new(0xE000_0002);

    readonly GroupReportSchedule _igmpReports;
    readonly Action<IpAddress, byte> _sendIgmpReport;
    long _igmpVersion1Until, _igmpVersion2Until;

    /// <summary>The version reports take: lowered while an older querier was heard (RFC 3376 7.2.1).</summary>
    int IgmpVersion => _now < _igmpVersion1Until ? 1 : _now < _igmpVersion2Until ? 2 : 3;

    /// <summary>RFC 3376 5: the all-systems group 224.0.0.1 is never reported.</summary>
    static bool IsIgmpReported(IpAddress group) => group.Ipv4 != Ipv4Interface.AllHosts;

    /// <summary>Joins an IPv4 group on the interface, reporting it when it is new there; false when no more groups fit.</summary>
    public bool JoinGroup(IpAddress group)
    {
        var result = _interface.Multicast.Join(group);
        if (result == JoinResult.Joined && IsIgmpReported(group))
            _igmpReports.StateChange(group, IgmpRecordType.ChangeToExcludeMode, _now);
        return result != JoinResult.Full;
    }

    public void LeaveGroup(IpAddress group)
    {
        if (_interface.Multicast.Leave(group) && IsIgmpReported(group))
            _igmpReports.StateChange(group, IgmpRecordType.ChangeToIncludeMode, _now);
    }

    /// <summary>The link came up: report every group again, as after a join (routers may have forgotten the host).</summary>
    public void RestartReports()
    {
        _igmpReports.Clear();
        foreach (var group in _interface.Multicast.Groups)
        {
            if (IsIgmpReported(group))
                _igmpReports.StateChange(group, IgmpRecordType.ChangeToExcludeMode, _now);
        }
    }

    public void RunTimers()
    {
        if (_igmpReports.Run(_now, _sendIgmpReport))
            SendIgmpCurrentState();
    }

    /// <summary>RFC 3376 5.2 and 7.2: a query schedules the answer and may lower the version reports take.</summary>
    void ReceiveIgmp(Ipv4Packet packet)
    {
        if (!IgmpMessage.TryParse(packet.Payload, out var message))
        {
            _counters.Increment(StackCounter.DropIgmpInvalid);
            return;
        }
        if (message.Type != IgmpType.MembershipQuery)
            return;   // other hosts' reports: IGMPv3 suppresses nothing (RFC 3376 5.1)
        _counters.Increment(StackCounter.IgmpQueriesReceived);
        int version = message.QueryVersion;
        if (version == 1)
            _igmpVersion1Until = _now + IgmpOlderQuerierPresentTimeout;
        else if (version == 2)
            _igmpVersion2Until = _now + IgmpOlderQuerierPresentTimeout;
        long due = _now + _random.NextInt64(Math.Max(message.MaxResponseMicroseconds, 1));
        var group = message.Group;
        if (group.IsAny)
        {
            // An IGMPv1 or v2 querier gets a report per group rather than one v3 report of all (7.2).
            _igmpReports.GeneralQuery(due);
        }
        else if (_interface.Multicast.Contains(group) && IsIgmpReported(group))
        {
            // Group-and-source-specific queries are answered as group-specific ones: with every source wanted, the
            // whole group is the membership to confirm.
            _igmpReports.GroupQuery(group, IgmpRecordType.ModeIsExclude, due);
        }
    }

    void SendIgmpCurrentState()
    {
        if (IgmpVersion < 3)
        {
            foreach (var group in _interface.Multicast.Groups)
            {
                if (IsIgmpReported(group))
                    SendIgmpReport(group, IgmpRecordType.ModeIsExclude);
            }
            return;
        }
        int perPacket = (_link.Mtu - IgmpHeaderLength - IgmpMessage.MinimumLength) / IgmpMessage.RecordLength;
        using var lease = _buffers.Rent();
        var message = lease.Buffer.AsSpan(TransportOffset);
        int count = 0;
        foreach (var group in _interface.Multicast.Groups)
        {
            if (!IsIgmpReported(group))
                continue;
            IgmpMessage.WriteRecord(message, count, IgmpRecordType.ModeIsExclude, group.Ipv4);
            if (++count == perPacket)
            {
                SendIgmpv3Report(lease.Buffer, count);
                count = 0;
            }
        }
        if (count > 0)
            SendIgmpv3Report(lease.Buffer, count);
    }

    void SendIgmpReport(IpAddress group, byte recordType)
    {
        using var lease = _buffers.Rent();
        var message = lease.Buffer.AsSpan(TransportOffset);
        switch (IgmpVersion)
        {
            case 3:
                IgmpMessage.WriteRecord(message, 0, recordType, group.Ipv4);
                SendIgmpv3Report(lease.Buffer, 1);
                return;
            case 2 when recordType == IgmpRecordType.ChangeToIncludeMode:
                // RFC 2236 3: Leave Group to all routers.
                SendIgmp(lease.Buffer, IgmpMessage.WriteVersion2(message, IgmpType.LeaveGroup, group.Ipv4), AllRoutersV4);
                return;
            case 1 when recordType == IgmpRecordType.ChangeToIncludeMode:
                return;   // IGMPv1 has no leave (RFC 1112): the membership times out at the router
            default:
                int length = IgmpMessage.WriteVersion2(message, IgmpVersion == 1 ? IgmpType.Version1Report : IgmpType.Version2Report, group.Ipv4);
                SendIgmp(lease.Buffer, length, group.Ipv4);
                return;
        }
    }

    /// <summary>An IGMPv3 report of the <paramref name="records"/> group records already written behind its header.</summary>
    void SendIgmpv3Report(byte[] buffer, int records) =>
        SendIgmp(buffer, IgmpMessage.WriteVersion3ReportHeader(buffer.AsSpan(TransportOffset), records), AllIgmpRouters);

    /// <summary>The IPv4 header IGMP travels behind: 20 bytes and the Router Alert option.</summary>
    static int IgmpHeaderLength => Ipv4Packet.MinimumHeaderLength + IgmpMessage.RouterAlert.Length;

    /// <summary>
    /// Sends the IGMP message built at the transport offset: TTL 1 and the Router Alert option (RFC 3376 4, RFC 2113),
    /// from the interface's address or 0.0.0.0 before it has one (4.2.13).
    /// </summary>
    void SendIgmp(byte[] buffer, int length, Ipv4Address destination)
    {
        IgmpMessage.Finish(buffer.AsSpan(TransportOffset, length));
        int headerLength = IgmpHeaderLength;
        int offset = TransportOffset - headerLength;
        // RFC 9776 4: TTL 1, the Router Alert option, and (as Linux sends it) internetwork-control precedence.
        new Ipv4Header(_interface.Address, destination, IpProtocol.Igmp, TimeToLive: 1, _output.NextIpv4Identification(destination, IpProtocol.Igmp)) { TypeOfService = 0xC0 }
            .Write(buffer.AsSpan(offset, headerLength), headerLength + length, IgmpMessage.RouterAlert);
        _output.Route(buffer, offset, headerLength + length, destination, _now);
        _counters.Increment(StackCounter.IgmpReportsSent);
    }
}
