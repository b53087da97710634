using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// The dashboard's connections, counted per source: an IPv4 address, or an IPv6 /64 (a host has a whole prefix of
/// addresses to open connections from). Past a source's share a new connection is closed at once, before any TLS or
/// HTTP state is made for it, so one host cannot take the connections (and the memory behind them) that others need;
/// the connections it already has go on. The total is Kestrel's MaxConcurrentConnections.
/// </summary>
internal sealed class ConnectionShares(int perSource)
{
    /// <summary>Connections the dashboard holds at most, from all sources (about 9 KiB each, Kestrel's state included).</summary>
    public const int MaxConnections = 16_384;

    /// <summary>Connections one source holds at most: ten hosts fill the dashboard's total well before memory.</summary>
    public const int MaxPerSource = 1_024;

    readonly Dictionary<UInt128, int> _open = [];
    long _refused;

    public ConnectionShares() : this(MaxPerSource)
    {
    }

    /// <summary>Connections refused because their source had its share.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>The source a connection from <paramref name="remote"/> counts against: its IPv4 address or its IPv6 /64.</summary>
    public static UInt128 SourceOf(IPAddress remote) => ClientSource.Of(remote);

    /// <summary>Counts a new connection from <paramref name="source"/>; false (nothing counted) when its share is taken.</summary>
    public bool TryOpen(UInt128 source)
    {
        lock (_open)
        {
            _open.TryGetValue(source, out int count);
            if (count >= perSource)
            {
                _refused++;
                return false;
            }
            _open[source] = count + 1;
            return true;
        }
    }

    public void Close(UInt128 source)
    {
        lock (_open)
        {
            if (_open.TryGetValue(source, out int count) && count > 1)
                _open[source] = count - 1;
            else
                _open.Remove(source);
        }
    }

    /// <summary>Sources holding connections now (the table never outgrows the connections themselves).</summary>
    public int Sources
    {
        get
        {
            lock (_open)
                return _open.Count;
        }
    }

    /// <summary>Kestrel connection middleware: first on a listener, before TLS.</summary>
    public ConnectionDelegate Guard(ConnectionDelegate next) => async connection =>
    {
        if (connection.RemoteEndPoint is not IPEndPoint remote)
        {
            await next(connection);
            return;
        }
        var source = SourceOf(remote.Address);
        if (!TryOpen(source))
            return;
        try
        {
            await next(connection);
        }
        finally
        {
            Close(source);
        }
    };
}
