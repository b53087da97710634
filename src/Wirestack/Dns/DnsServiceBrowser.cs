using System.Net;
using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Dns;

/// <summary>
/// DNS-SD browsing (RFC 6763 4) on the application's side: the questions go out and the answers are collected by
/// the engine's <see cref="DnsClient"/> on its clock; this puts the instances together from what came back.
/// </summary>
internal sealed class DnsServiceBrowser(NetworkStack stack)
{
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

    /// <summary>Records any responder on the link sends back to <paramref name="questions"/> within <paramref name="wait"/> (bounded).</summary>
    async Task CollectAsync(List<(string Name, ushort Type)> questions, List<DnsResourceRecord> into, TimeSpan wait, CancellationToken cancellationToken)
    {
        long waitMicroseconds = wait.Ticks / TimeSpan.TicksPerMicrosecond;
        var (records, error) = await stack.RunOperationAsync<(List<DnsResourceRecord>, SocketError)>(
            (engine, complete) => engine.Dns.Collect(questions, waitMicroseconds, (records, error) => complete((records, error))) is { } work ? work.Cancel : null,
            cancellationToken).ConfigureAwait(false);
        if (error != SocketError.Success)
            throw new SocketException((int)error);
        into.AddRange(records);
    }

}
