using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Wirestack.Mdns;
using Wirestack.Wire;

namespace Wirestack;

/// <summary>
/// A one-shot Multicast DNS query (RFC 6762 5.1) for the resolver: asked from an ephemeral port to 224.0.0.251 and
/// ff02::fb, so responders answer by unicast to that port (6.7); the first answer from this link wins. The stack's
/// own name is answered from its own addresses (its responder does not hear itself).
/// </summary>
internal sealed class MulticastDnsQuery(NetworkStack stack, TimeSpan timeout)
{
    public async Task<(IPAddress[] Addresses, string? Canonical, uint Ttl)> QueryAsync(string name, ushort type, CancellationToken cancellationToken)
    {
        if (stack.MdnsHostName is { } own && DnsName.Equal(own, name))
            return (OwnAddresses(type), null, MdnsRecords.HostTtl);
        ushort id = (ushort)RandomNumberGenerator.GetInt32(65536);
        var buffer = new byte[512];
        var writer = new DnsWriter(buffer);
        if (!IsEncodable(name) || !writer.Question(DnsName.Encode(name), type, unicastResponse: false))
            throw new SocketException((int)SocketError.HostNotFound);
        var query = writer.Finish(id, 0).ToArray();
        using var socket = stack.BindUdp();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            // Asked twice, half the wait apart: a lost query or answer on a busy link is not the end of it.
            for (int round = 0; round < 2; round++)
            {
                await SendAsync(socket, query, deadline.Token).ConfigureAwait(false);
                using var half = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                if (round == 0)
                    half.CancelAfter(timeout / 2);
                try
                {
                    while (true)
                    {
                        var reply = await socket.ReceiveAsync(half.Token).ConfigureAwait(false);
                        if (OnLink(reply.RemoteEndPoint.Address) && Answer(reply.Buffer, id, name, type) is { Addresses.Length: > 0 } answer)
                            return (answer.Addresses, null, answer.Ttl);
                    }
                }
                catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
                {
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
        return ([], null, 0);
    }

    static bool IsEncodable(string name)
    {
        try
        {
            DnsName.Encode(name);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    async Task SendAsync(UdpSocket socket, byte[] query, CancellationToken cancellationToken)
    {
        var groups = new List<IPEndPoint>();
        if (stack.Ipv4Address is not null)
            groups.Add(new IPEndPoint(MdnsResponder.Ipv4Group.ToIPAddress(), MdnsResponder.Port));
        if (stack.Ipv6Addresses.Any(a => a.State is Ipv6AddressState.Preferred or Ipv6AddressState.Deprecated))
            groups.Add(new IPEndPoint(MdnsResponder.Ipv6Group.ToIPAddress(), MdnsResponder.Port));
        if (groups.Count == 0)
            throw new SocketException((int)SocketError.NetworkUnreachable);
        foreach (var group in groups)
        {
            try
            {
                await socket.SendToAsync(query, group, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                // One family may have no route yet; the other may still answer.
            }
        }
    }

    /// <summary>RFC 6762 11: an answer from off the link is no answer (the link's hosts are the only authority for .local).</summary>
    bool OnLink(IPAddress source)
    {
        if (source.AddressFamily == AddressFamily.InterNetworkV6)
            return source.IsIPv6LinkLocal || stack.Ipv6Addresses.Any(a => SamePrefix(a.Address, source, a.PrefixLength));
        return stack.Ipv4Address is { } own && SamePrefix(own, source, stack.Ipv4PrefixLength);
    }

    static bool SamePrefix(IPAddress a, IPAddress b, int prefixLength)
    {
        if (a.AddressFamily != b.AddressFamily)
            return false;
        var x = a.GetAddressBytes();
        var y = b.GetAddressBytes();
        for (int bit = 0; bit < prefixLength; bit++)
        {
            int mask = 0x80 >> (bit % 8);
            if ((x[bit / 8] & mask) != (y[bit / 8] & mask))
                return false;
        }
        return true;
    }

    /// <summary>The addresses of <paramref name="type"/> for <paramref name="name"/> in a response to our query, with the least TTL.</summary>
    static (IPAddress[] Addresses, uint Ttl)? Answer(byte[] message, ushort id, string name, ushort type)
    {
        if (!MdnsPacket.TryParse(message, out var packet) || !packet.IsResponse || (packet.Id != id && packet.Id != 0))
            return null;
        var addresses = new List<IPAddress>();
        uint ttl = uint.MaxValue;
        foreach (var record in packet.Answers.Concat(packet.Additionals))
        {
            if (record.Type == type && DnsName.Equal(record.Name, name) && record.Data.Length == (type == MdnsType.A ? 4 : 16) && record.TimeToLive > 0)
            {
                addresses.Add(new IPAddress(record.Data));
                ttl = Math.Min(ttl, record.TimeToLive);
            }
        }
        return (addresses.ToArray(), ttl);
    }

    IPAddress[] OwnAddresses(ushort type) => type == MdnsType.A
        ? stack.Ipv4Address is { } v4 ? [v4] : []
        : [.. stack.Ipv6Addresses.Where(a => a.State is Ipv6AddressState.Preferred or Ipv6AddressState.Deprecated).Select(a => a.Address)];
}
