using System.Buffers.Binary;
using System.Net;

namespace Wirestack.Tunnel;

/// <summary>
/// --dns: every DNS query a client sends, to whatever address (port 53, UDP or TCP), goes to one resolver instead, and
/// the answer comes back from the address the client asked, as proxy clients' "DNS hijack" does: a resolver the path
/// cannot reach, or should not learn the names from, still answers.
/// </summary>
internal sealed class DnsRedirect(IPEndPoint resolver)
{
    const int Port = 53;

    /// <summary>Queries waiting for an answer per UDP session; past it the oldest is forgotten (its answer is dropped).</summary>
    const int MaxWaitingPerSession = 256;

    public IPEndPoint Resolver { get; } = resolver;

    /// <summary>Where a flow to <paramref name="destination"/> goes: the resolver for DNS, the destination otherwise.</summary>
    public IPEndPoint Target(IPEndPoint destination) => destination.Port == Port ? Resolver : destination;

    /// <summary>One UDP session's queries on their way to the resolver, by transaction ID (RFC 1035 4.1.1).</summary>
    public sealed class Queries(DnsRedirect redirect)
    {
        readonly Lock _lock = new();
        readonly Dictionary<ushort, IPEndPoint> _asked = [];
        readonly Queue<ushort> _order = new();

        /// <summary>Where the client's datagram goes; a DNS query is remembered so that its answer can be sent back from <paramref name="destination"/>.</summary>
        public IPEndPoint Send(ReadOnlySpan<byte> payload, IPEndPoint destination)
        {
            if (destination.Port != Port || payload.Length < 2)
                return destination;
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(payload);
            lock (_lock)
            {
                if (!_asked.ContainsKey(id))
                {
                    if (_order.Count >= MaxWaitingPerSession)
                        _asked.Remove(_order.Dequeue());
                    _order.Enqueue(id);
                }
                _asked[id] = destination;
            }
            return redirect.Resolver;
        }

        /// <summary>Whom a datagram from <paramref name="from"/> comes from, as the client sees it: the address it asked, for the resolver's answers.</summary>
        public IPEndPoint Received(ReadOnlySpan<byte> payload, IPEndPoint from)
        {
            if (payload.Length < 2 || !from.Equals(redirect.Resolver))
                return from;
            lock (_lock)
                return _asked.TryGetValue(BinaryPrimitives.ReadUInt16BigEndian(payload), out var asked) ? asked : from;
        }
    }
}
