using System.Net.Sockets;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>What every engine service that asks the network gets from the engine: the clock and UDP ports of its own.</summary>
internal interface IServiceHost
{
    long Now { get; }

    /// <summary>An ephemeral port (RFC 6056) for one exchange; a new one per query, as RFC 5452 9.2 asks.</summary>
    /// <exception cref="SocketException">TooManyOpenSockets when no port is free.</exception>
    UdpBinding Bind(IUdpReceiver receiver);

    void Unbind(UdpBinding binding);

    SocketError Send(UdpBinding binding, IpAddress destination, ushort port, ReadOnlySpan<byte> payload);
}

/// <summary>
/// A protocol service in the engine (DHCP and DHCPv6 clients, the mDNS responder, the DNS client, SNTP): a state
/// machine on the engine's clock. Datagrams reach it through the UDP bindings it holds (<see cref="Transport.IUdpReceiver"/>);
/// time reaches it through <see cref="Run"/>, called once <see cref="NextDeadline"/> has come. Its async facade, if it
/// has one, lives on the application's side and talks to it only through posted work.
/// </summary>
internal interface IEngineService
{
    /// <summary>When <see cref="Run"/> must be called next, in engine microseconds; <see cref="long.MaxValue"/> when nothing is due.</summary>
    long NextDeadline { get; }

    /// <summary>Does what is due at <paramref name="now"/> (retransmissions, expiries, renewals).</summary>
    void Run(long now);
}

/// <summary>The engine's services, run by one rule: each when its own deadline comes.</summary>
internal sealed class EngineServices
{
    readonly List<IEngineService> _services = [];

    public void Add(IEngineService service)
    {
        if (!_services.Contains(service))
            _services.Add(service);
    }

    public void Remove(IEngineService service) => _services.Remove(service);

    /// <summary>The earliest deadline of any service; null when none has one.</summary>
    public long? NextDeadline
    {
        get
        {
            long next = long.MaxValue;
            foreach (var service in _services)
                next = Math.Min(next, service.NextDeadline);
            return next == long.MaxValue ? null : next;
        }
    }

    public void Run(long now)
    {
        // By index: a service may add another while it runs (the SNTP schedule starts the DNS client).
        for (int i = 0; i < _services.Count; i++)
        {
            if (now >= _services[i].NextDeadline)
                _services[i].Run(now);
        }
    }
}
