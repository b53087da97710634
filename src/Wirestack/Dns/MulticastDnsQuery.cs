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
        using var socket = await stack.BindUdpAsync().ConfigureAwait(false);
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

    /// <summary>
    /// DNS-SD browsing (RFC 6763 4): asks for the PTR records of <paramref name="serviceType"/>.local and collects
    /// every answer for <paramref name="wait"/>, then asks once more for the SRV, TXT and addresses the answers left
    /// out. Instances without an SRV record by then are left out.
    /// </summary>
    public async Task<IReadOnlyList<MdnsServiceInstance>> BrowseAsync(string serviceType, TimeSpan wait, CancellationToken cancellationToken)
    {
        string typeName = serviceType.TrimEnd('.') + ".local";
        var records = new List<DnsResourceRecord>();
        await CollectAsync([(typeName, DnsType.Ptr)], records, wait, cancellationToken).ConfigureAwait(false);
        var instances = records.Where(r => r.Type == DnsType.Ptr && DnsName.Equal(r.Name, typeName) && r.TimeToLive > 0)
            .Select(r => NameIn(r.Data)).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase).Take(MaxInstances).ToList();
        var missing = new List<(string, ushort)>();
        foreach (string instance in instances.Where(i => !records.Any(r => r.Type == DnsType.Srv && DnsName.Equal(r.Name, i))))
            missing.AddRange([(instance, DnsType.Srv), (instance, DnsType.Txt)]);
        if (missing.Count > 0)
            await CollectAsync(missing, records, wait / 2, cancellationToken).ConfigureAwait(false);
        var hosts = instances.Select(i => Srv(records, i)).OfType<(string Host, int Port)>().Select(s => s.Host).Distinct(StringComparer.OrdinalIgnoreCase)
            .Where(h => !records.Any(r => r.Type is DnsType.A or DnsType.Aaaa && DnsName.Equal(r.Name, h))).Select(h => (h, DnsType.A)).ToList();
        if (hosts.Count > 0)
            await CollectAsync(hosts, records, wait / 2, cancellationToken).ConfigureAwait(false);
        var found = new List<MdnsServiceInstance>();
        foreach (string instance in instances)
        {
            if (Srv(records, instance) is not var (host, port))
                continue;
            var addresses = records.Where(r => DnsName.Equal(r.Name, host) && (r.Type == DnsType.A && r.Data.Length == 4 || r.Type == DnsType.Aaaa && r.Data.Length == 16))
                .Select(r => new IPAddress(r.Data)).Distinct().ToList();
            var txt = records.FirstOrDefault(r => r.Type == DnsType.Txt && DnsName.Equal(r.Name, instance)) is { } t ? Txt(t.Data) : new Dictionary<string, string>();
            string label = DnsName.Labels(instance)[0];
            found.Add(new MdnsServiceInstance(label, serviceType, host, port, addresses, txt));
        }
        return found;
    }

    /// <summary>Instances a browse keeps at most: a flood of PTR answers cannot make it grow without end.</summary>
    const int MaxInstances = 256;

    /// <summary>Records any responder on the link sends back to <paramref name="questions"/> within <paramref name="wait"/> (bounded).</summary>
    async Task CollectAsync(List<(string Name, ushort Type)> questions, List<DnsResourceRecord> into, TimeSpan wait, CancellationToken cancellationToken)
    {
        var buffer = new byte[1452];
        var writer = new DnsWriter(buffer);
        foreach (var (name, type) in questions)
        {
            if (!IsEncodable(name) || !writer.Question(DnsName.Encode(name), type, unicastResponse: false))
                break;
        }
        var query = writer.Finish((ushort)RandomNumberGenerator.GetInt32(65536), 0).ToArray();
        using var socket = await stack.BindUdpAsync().ConfigureAwait(false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(wait);
        try
        {
            await SendAsync(socket, query, deadline.Token).ConfigureAwait(false);
            while (into.Count < 4 * MaxInstances)
            {
                var reply = await socket.ReceiveAsync(deadline.Token).ConfigureAwait(false);
                if (OnLink(reply.RemoteEndPoint.Address) && DnsMessage.TryParse(reply.Buffer, out var packet) && packet.IsResponse)
                    into.AddRange(packet.Answers.Concat(packet.Additionals));
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }

    static string? NameIn(byte[] data)
    {
        int offset = 0;
        return DnsName.TryRead(data, ref offset, out var name) ? name : null;
    }

    static (string Host, int Port)? Srv(List<DnsResourceRecord> records, string instance)
    {
        var srv = records.FirstOrDefault(r => r.Type == DnsType.Srv && DnsName.Equal(r.Name, instance) && r.Data.Length > 6);
        return srv is not null && NameIn(srv.Data[6..]) is { } host ? (host, srv.Data[4] << 8 | srv.Data[5]) : null;
    }

    /// <summary>RFC 6763 6.3, 6.4: "key=value" strings; a key alone is an empty value; the first of a repeated key wins.</summary>
    static Dictionary<string, string> Txt(byte[] data)
    {
        var pairs = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < data.Length && i + 1 + data[i] <= data.Length; i += 1 + data[i])
        {
            string text = System.Text.Encoding.UTF8.GetString(data, i + 1, data[i]);
            int equals = text.IndexOf('=');
            string key = equals < 0 ? text : text[..equals];
            if (key.Length > 0)
                pairs.TryAdd(key, equals < 0 ? "" : text[(equals + 1)..]);
        }
        return pairs;
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
        var address = IpAddress.FromIPAddress(source);
        if (!address.IsIpv4)
            return address.IsLinkLocal || stack.Ipv6Addresses.Any(a => address.HasPrefix(IpAddress.FromIPAddress(a.Address), a.PrefixLength));
        // An IPv4 address is held mapped into IPv6 (::ffff:a.b.c.d): its prefix starts 96 bits in.
        return stack.Ipv4Address is { } own && address.HasPrefix(IpAddress.FromIPAddress(own), 96 + stack.Ipv4PrefixLength);
    }

    /// <summary>The addresses of <paramref name="type"/> for <paramref name="name"/> in a response to our query, with the least TTL.</summary>
    static (IPAddress[] Addresses, uint Ttl)? Answer(byte[] message, ushort id, string name, ushort type)
    {
        if (!DnsMessage.TryParse(message, out var packet) || !packet.IsResponse || (packet.Id != id && packet.Id != 0))
            return null;
        var addresses = new List<IPAddress>();
        uint ttl = uint.MaxValue;
        foreach (var record in packet.Answers.Concat(packet.Additionals))
        {
            if (record.Type == type && DnsName.Equal(record.Name, name) && record.Data.Length == (type == DnsType.A ? 4 : 16) && record.TimeToLive > 0)
            {
                addresses.Add(new IPAddress(record.Data));
                ttl = Math.Min(ttl, record.TimeToLive);
            }
        }
        return (addresses.ToArray(), ttl);
    }

    IPAddress[] OwnAddresses(ushort type) => type == DnsType.A
        ? stack.Ipv4Address is { } v4 ? [v4] : []
        : [.. stack.Ipv6Addresses.Where(a => a.State is Ipv6AddressState.Preferred or Ipv6AddressState.Deprecated).Select(a => a.Address)];
}
