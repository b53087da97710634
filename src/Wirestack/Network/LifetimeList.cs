namespace Wirestack.Network;

/// <summary>
/// Items a router or server hands out with a lifetime (RDNSS servers, DNSSL domains): kept in arrival order, at most
/// <paramref name="capacity"/> (the oldest makes room, as RFC 8106 5.3.1 suggests), each dropped when it expires.
/// </summary>
internal sealed class LifetimeList<T>(int capacity) where T : IEquatable<T>
{
    readonly List<(T Item, long ExpiresAt)> _items = [];

    /// <summary>Changes with every addition or removal.</summary>
    public int Version { get; private set; }

    public List<(T Item, long ExpiresAt)> Items => _items;

    /// <summary>Records (or, with <paramref name="remove"/>, withdraws) <paramref name="item"/>.</summary>
    public void Set(T item, long expiresAt, bool remove)
    {
        int index = -1;
        for (int i = 0; i < _items.Count; i++)
        {
            if (_items[i].Item.Equals(item))
                index = i;
        }
        if (index >= 0)
            _items.RemoveAt(index);
        if (!remove)
        {
            if (_items.Count >= capacity)
                _items.RemoveAt(0);
            _items.Add((item, expiresAt));
        }
        if (index >= 0 || !remove)
            Version++;
    }

    public void Expire(long now)
    {
        for (int i = _items.Count - 1; i >= 0; i--)
        {
            if (_items[i].ExpiresAt <= now)
            {
                _items.RemoveAt(i);
                Version++;
            }
        }
    }

    public long NextExpiry
    {
        get
        {
            long next = long.MaxValue;
            foreach (var (_, expiresAt) in _items)
                next = Math.Min(next, expiresAt);
            return next;
        }
    }

    public void Clear()
    {
        _items.Clear();
        Version++;
    }
}
