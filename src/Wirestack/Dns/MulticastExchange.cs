using System.Net.Sockets;
using Wirestack.Mdns;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Dns;

/// <summary>
/// A one-shot Multicast DNS query (RFC 6762 5.1): asked from an ephemeral port to 224.0.0.251 and ff02::fb (each
/// family with an address), so responders answer by unicast to that port (6.7). Answers count only from this link
/// (11). Asked again halfway through the wait when it has two rounds: a lost question or answer on a busy link is not
/// the end of it. <c>take</c> sees each response and says when the exchange has what it came for.
/// </summary>
internal sealed class MulticastExchange(DnsClient client, byte[] query, ushort id, long waitMicroseconds, int rounds,
    Func<DnsMessage, bool> take, Action<SocketError> done) : DnsWork, IUdpReceiver
{
    UdpBinding? _binding;
    long _endsAt, _interval;

    public void Start()
    {
        client.Track(this);
        try
        {
            _binding = client.Host.Bind(this);
        }
        catch (SocketException)
        {
            Finish(SocketError.TryAgain);
            return;
        }
        long now = client.Host.Now;
        _endsAt = now + waitMicroseconds;
        _interval = waitMicroseconds / Math.Max(1, rounds);
        Deadline = Math.Min(_endsAt, now + _interval);
        rounds--;
        // Neither family could ask (no address, or no route yet): nobody will answer.
        if (!Ask())
            Finish(SocketError.NetworkUnreachable);
    }

    bool Ask()
    {
        bool asked = false;
        if (client.Host.HasIpv4Address)
            asked |= client.Host.Send(_binding!, MdnsResponder.Ipv4Group, MdnsResponder.Port, query) == SocketError.Success;
        if (client.Host.HasIpv6Address)
            asked |= client.Host.Send(_binding!, MdnsResponder.Ipv6Group, MdnsResponder.Port, query) == SocketError.Success;
        return asked;
    }

    public override void Expire(long now)
    {
        if (now >= _endsAt || rounds <= 0)
        {
            Finish(SocketError.Success);
            return;
        }
        rounds--;
        Deadline = Math.Min(_endsAt, now + _interval);
        Ask();
    }

    public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
    {
        // RFC 6762 18.1: a unicast answer to a one-shot query echoes its ID; multicast answers carry 0.
        if (!IsFinished && client.Host.IsOnLinkSource(remoteAddress) && DnsMessage.TryParse(payload, out var message)
            && message.IsResponse && (message.Id == id || message.Id == 0) && take(message))
            Finish(SocketError.Success);
        return true;
    }

    public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort)
    {
    }

    public override void Cancel()
    {
        if (_binding is not null)
            client.Host.Unbind(_binding);
        _binding = null;
        Deadline = long.MaxValue;
        IsFinished = true;
        client.Untrack(this);
    }

    void Finish(SocketError error)
    {
        if (IsFinished)
            return;
        Cancel();
        done(error);
    }
}
