using System.Buffers.Binary;
using Wirestack.Network;
using Wirestack.Wire;

namespace Wirestack.Engine;

// MLDv2 host side (RFC 3810) with MLDv1 compatibility (8.2): reports on join and leave, answers to queries.
internal sealed partial class Ipv6Layer
{
    /// <summary>RFC 3810 9.1, 9.11, 9.12: Robustness Variable, Unsolicited Report Interval, Older Version Querier Present Timeout.</summary>
    const int MldRobustness = 2;
    const long UnsolicitedReportInterval = 1_000_000, OlderQuerierPresentTimeout = 260_000_000;

    const byte ModeIsExclude = 2, ChangeToIncludeMode = 3, ChangeToExcludeMode = 4;

    readonly GroupReportSchedule _mldReports;
    readonly Action<IpAddress, byte> _sendMldReport;
    long _mldVersion1Until;

    bool MldVersion1 => _now < _mldVersion1Until;

    long NextMldReportAt => _mldReports.NextDeadline;

    /// <summary>RFC 3810 6: the link-scope all-nodes group and interface-local groups are never reported.</summary>
    static bool IsReported(IpAddress group) => group != IpAddress.AllNodes && group.MulticastScope > 1;

    /// <summary>Joins <paramref name="group"/> on the interface, reporting the change (robustness-many times); false when no more groups fit.</summary>
    public bool JoinGroup(IpAddress group)
    {
        var result = _interface.Multicast.Join(group);
        if (result == JoinResult.Joined && IsReported(group))
            ScheduleStateChange(group, ChangeToExcludeMode);
        return result != JoinResult.Full;
    }

    public void LeaveGroup(IpAddress group)
    {
        if (_interface.Multicast.Leave(group) && IsReported(group))
            ScheduleStateChange(group, ChangeToIncludeMode);
    }

    // RFC 3810 6.1: sent at once, then repeated at random intervals up to the unsolicited report interval.
    void ScheduleStateChange(IpAddress group, byte recordType) => _mldReports.StateChange(group, recordType, _now);

    void RunMldTimers()
    {
        if (_mldReports.Run(_now, _sendMldReport))
            SendCurrentStateReport();
    }

    /// <summary>RFC 3810 6.2, 5.1 (and 8.2 for MLDv1 queries): validates a query and schedules the answer.</summary>
    void ReceiveMulticastListenerQuery(Icmpv6Message message, byte hopLimit, IpAddress source)
    {
        if (hopLimit != 1 || !source.IsLinkLocal || !MldMessage.TryParseQuery(message.Body, out var query))
        {
            _counters.Increment(StackCounter.DropMldInvalid);
            return;
        }
        long maxDelay = query.MaxResponseMicroseconds;
        var group = query.Group;
        if (query.IsVersion1)
            _mldVersion1Until = _now + OlderQuerierPresentTimeout;
        long due = _now + _random.NextInt64(Math.Max(maxDelay, 1));
        if (group.IsUnspecified)
            _mldReports.GeneralQuery(due);
        else if (_interface.Multicast.Contains(group) && IsReported(group))
            _mldReports.GroupQuery(group, ModeIsExclude, due);
    }

    void SendCurrentStateReport()
    {
        if (MldVersion1)
        {
            foreach (var group in _interface.Multicast.Groups.Where(IsReported).ToList())
                SendMldReport(group, ModeIsExclude);
            return;
        }
        var groups = _interface.Multicast.Groups.Where(IsReported).ToList();
        int perPacket = (_output.Ipv6LinkMtu - Ipv6Packet.HeaderLength - MldMessage.HopByHopLength - Icmpv6Message.HeaderLength
            - MldMessage.Version2ReportHeaderLength) / MldMessage.RecordLength;
        for (int start = 0; start < groups.Count; start += perPacket)
            SendMldv2Report(groups.Skip(start).Take(perPacket), ModeIsExclude);
    }

    void SendMldReport(IpAddress group, byte recordType)
    {
        if (!MldVersion1)
        {
            SendMldv2Report([group], recordType);
            return;
        }
        // MLDv1 (RFC 2710 3): a report to the group itself, or Done to all routers when leaving.
        bool leaving = recordType == ChangeToIncludeMode;
        using var lease = _buffers.Rent();
        int length = Icmpv6Message.HeaderLength + MldMessage.WriteVersion1(lease.Buffer.AsSpan(MldBodyOffset), group);
        SendMld(lease.Buffer, length, leaving ? Icmpv6Type.MulticastListenerDone : Icmpv6Type.MulticastListenerReportV1, leaving ? IpAddress.AllRouters : group);
    }

    void SendMldv2Report(IEnumerable<IpAddress> groups, byte recordType)
    {
        using var lease = _buffers.Rent();
        var body = lease.Buffer.AsSpan(MldBodyOffset);
        int count = 0;
        foreach (var group in groups)
            MldMessage.WriteRecord(body[(MldMessage.Version2ReportHeaderLength + MldMessage.RecordLength * count++)..], recordType, group);
        if (count == 0)
            return;
        int length = Icmpv6Message.HeaderLength + MldMessage.WriteVersion2ReportHeader(body, count);
        SendMld(lease.Buffer, length, Icmpv6Type.MulticastListenerReportV2, IpAddress.AllMldv2Routers);
    }

    /// <summary>Where an MLD message's body starts: behind the Hop-by-Hop header and the ICMPv6 header.</summary>
    const int MldBodyOffset = TransportOffset + MldMessage.HopByHopLength + Icmpv6Message.HeaderLength;

    /// <summary>
    /// Sends the MLD message whose body is at <see cref="MldBodyOffset"/>, behind a Hop-by-Hop header with Router Alert
    /// (RFC 3810 5, RFC 2711), hop limit 1, from the link-local address (or :: while it is tentative, 5.2.13).
    /// </summary>
    void SendMld(byte[] buffer, int length, Icmpv6Type type, IpAddress destination)
    {
        var source = LinkLocalSource;
        MldMessage.WriteHopByHop(buffer.AsSpan(TransportOffset, MldMessage.HopByHopLength), IpProtocol.Icmpv6);
        Icmpv6Message.Finish(buffer.AsSpan(TransportOffset + MldMessage.HopByHopLength, length), type, 0, source, destination);
        _output.Send(buffer, TransportOffset, MldMessage.HopByHopLength + length, Ipv6NextHeader.HopByHop, source, destination, _now, hopLimit: 1);
        _counters.Increment(StackCounter.MldReportsSent);
    }
}
