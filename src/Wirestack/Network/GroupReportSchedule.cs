using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>
/// When a host owes membership reports, for IGMPv3 (RFC 3376 5) and MLDv2 (RFC 3810 6) alike: a state change is
/// reported at once and then robustness − 1 more times at random intervals up to the unsolicited report interval;
/// a query is answered after a random delay up to its maximum response time, one answer per group however many
/// queries ask. Bounded by the groups joined, so a flood of queries costs nothing but a timer.
/// </summary>
internal sealed class GroupReportSchedule(int robustness, long unsolicitedReportInterval, Random random)
{
    record struct Pending(byte RecordType, int Left, long DueAt);

    readonly Dictionary<IpAddress, Pending> _pending = [];
    readonly List<IpAddress> _due = [];
    long _generalResponseAt = long.MaxValue;

    public long NextDeadline
    {
        get
        {
            long next = _generalResponseAt;
            foreach (var pending in _pending.Values)
                next = Math.Min(next, pending.DueAt);
            return next;
        }
    }

    /// <summary>A group joined or left: report <paramref name="recordType"/> now and robustness − 1 times more.</summary>
    public void StateChange(IpAddress group, byte recordType, long now) => _pending[group] = new Pending(recordType, robustness, now);

    /// <summary>A general query: one report of every group, at <paramref name="dueAt"/> or earlier if already due.</summary>
    public void GeneralQuery(long dueAt) => _generalResponseAt = Math.Min(_generalResponseAt, dueAt);

    /// <summary>A query for one group: its current state by <paramref name="dueAt"/>, unless a report is due sooner.</summary>
    public void GroupQuery(IpAddress group, byte currentStateType, long dueAt)
    {
        if (!_pending.TryGetValue(group, out var pending) || pending.DueAt > dueAt)
            _pending[group] = new Pending(currentStateType, 1, dueAt);
    }

    /// <summary>
    /// Sends what is due through <paramref name="send"/> (group and record type) and schedules the repeats; true when
    /// the answer to a general query is due (the caller reports every group).
    /// </summary>
    public bool Run(long now, Action<IpAddress, byte> send)
    {
        _due.Clear();
        foreach (var (group, pending) in _pending)
        {
            if (pending.DueAt <= now)
                _due.Add(group);
        }
        foreach (var group in _due)
        {
            var pending = _pending[group];
            send(group, pending.RecordType);
            if (pending.Left > 1)
                _pending[group] = pending with { Left = pending.Left - 1, DueAt = now + random.NextInt64(1, unsolicitedReportInterval + 1) };
            else
                _pending.Remove(group);
        }
        if (_generalResponseAt > now)
            return false;
        _generalResponseAt = long.MaxValue;
        return true;
    }

    public void Clear()
    {
        _pending.Clear();
        _generalResponseAt = long.MaxValue;
    }
}
