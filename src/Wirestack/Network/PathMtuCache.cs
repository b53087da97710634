using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>
/// Path MTUs learned from Packet Too Big messages (RFC 8201): per destination, never below the IPv6 minimum of
/// 1280, forgotten after <see cref="Lifetime"/> so a path that grew is found again (5.3: at least 5 minutes; 10 is
/// the suggested value). Bounded: past the capacity the entry nearest its expiry goes, so forged messages naming
/// many destinations cannot grow it.
/// </summary>
internal sealed class PathMtuCache(int capacity)
{
    public const long Lifetime = 600_000_000;

    readonly Dictionary<IpAddress, (int Mtu, long Expires)> _entries = [];

    public int Count => _entries.Count;

    /// <summary>The path MTU toward <paramref name="destination"/>, or <paramref name="linkMtu"/> when none was learned.</summary>
    public int Get(IpAddress destination, int linkMtu, long now)
    {
        if (_entries.Count == 0 || !_entries.TryGetValue(destination, out var entry))
            return linkMtu;
        if (entry.Expires <= now)
        {
            _entries.Remove(destination);
            return linkMtu;
        }
        return Math.Min(entry.Mtu, linkMtu);
    }

    /// <summary>Records a reported MTU; true when it lowered the estimate (raising it takes the expiry, 8201 4).</summary>
    public bool Lower(IpAddress destination, int reportedMtu, int linkMtu, long now)
    {
        int mtu = Math.Max(reportedMtu, Ipv6Packet.MinimumMtu);
        if (mtu >= Get(destination, linkMtu, now))
            return false;
        if (!_entries.ContainsKey(destination) && _entries.Count >= capacity)
        {
            var oldest = _entries.MinBy(e => e.Value.Expires).Key;
            _entries.Remove(oldest);
        }
        _entries[destination] = (mtu, now + Lifetime);
        return true;
    }

    public void Clear() => _entries.Clear();
}
