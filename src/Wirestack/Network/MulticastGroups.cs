using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>
/// The multicast groups an interface has joined, for one family, counted: every member (the stack itself, each
/// socket) joins and leaves on its own, and the group is left when the last member goes. Bounded: a host joining
/// ever more groups on an application's behalf would make every report, and the link filter, grow without end.
/// </summary>
internal sealed class MulticastGroups(int capacity)
{
    readonly Dictionary<IpAddress, int> _members = [];

    public int Count => _members.Count;

    public Dictionary<IpAddress, int>.KeyCollection Groups => _members.Keys;

    /// <summary>Adds a member; Joined on the first (the group is new on the link), Full when no more groups fit.</summary>
    public JoinResult Join(IpAddress group)
    {
        if (_members.TryGetValue(group, out int count))
        {
            _members[group] = count + 1;
            return JoinResult.Member;
        }
        if (_members.Count >= capacity)
            return JoinResult.Full;
        _members[group] = 1;
        return JoinResult.Joined;
    }

    /// <summary>Removes a member; true when it was the last (the group is left on the link).</summary>
    public bool Leave(IpAddress group)
    {
        if (!_members.TryGetValue(group, out int count))
            return false;
        if (count > 1)
        {
            _members[group] = count - 1;
            return false;
        }
        _members.Remove(group);
        return true;
    }

    public bool Contains(IpAddress group) => _members.ContainsKey(group);

    /// <summary>
    /// True when a joined group maps to the multicast MAC whose low bits are <paramref name="macLow"/> under
    /// <paramref name="mask"/>: IPv6's 33:33 carries the group's low 32 bits (RFC 2464 7), IPv4's 01:00:5e its low 23
    /// (RFC 1112 6.4), so several groups share a MAC and the IP layer filters the rest.
    /// </summary>
    public bool MatchesMac(uint macLow, uint mask)
    {
        foreach (var group in _members.Keys)
        {
            if (((uint)group.Low & mask) == (macLow & mask))
                return true;
        }
        return false;
    }

    public void Clear() => _members.Clear();
}

/// <summary>What a join did.</summary>
internal enum JoinResult
{
    /// <summary>The group is new on the interface: report it.</summary>
    Joined,
    /// <summary>Another member of a group already joined.</summary>
    Member,
    /// <summary>No more groups fit.</summary>
    Full,
}
