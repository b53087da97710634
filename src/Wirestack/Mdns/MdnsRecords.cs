using System.Buffers.Binary;
using System.Text;
using Wirestack.Wire;

namespace Wirestack.Mdns;

/// <summary>
/// One record the host owns and answers for: its name on the wire and in presentation form, type, data and TTL.
/// Unique records (the host's addresses, a service's SRV and TXT) are probed, announced with cache-flush, and
/// conflict when another host claims their name (RFC 6762 2); shared ones (the PTR of a service type) are not.
/// </summary>
internal sealed record MdnsRecord(byte[] Name, string Text, ushort Type, byte[] Data, bool Unique, uint TimeToLive)
{
    /// <summary>When this record was last multicast on each family (RFC 6762 6's one-second rule).</summary>
    public long LastMulticastV4 = long.MinValue / 2, LastMulticastV6 = long.MinValue / 2;

    public bool Same(MdnsRecord other) => Type == other.Type && DnsName.Equal(Text, other.Text) && Data.AsSpan().SequenceEqual(other.Data);
}

/// <summary>A service as advertised now: after conflicts its instance name carries " (N)" (<paramref name="Number"/> above 1).</summary>
internal sealed record AdvertisedService(MdnsService Service, int Number = 1)
{
    /// <summary>The instance name in use, cut so the number still fits the 63-byte label.</summary>
    public string Instance => Number == 1 ? Service.InstanceName : MdnsRecords.WithSuffix(Service.InstanceName, $" ({Number})");

    /// <summary>Instance.Type.local, the dots inside the instance escaped.</summary>
    public string FullName => $"{Instance.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(".", "\\.", StringComparison.Ordinal)}.{Service.ServiceType}.local";
}

/// <summary>The records of a host name, its addresses and its services (RFC 6762 10: 120 s for records naming a host, 75 min for the rest).</summary>
internal static class MdnsRecords
{
    public const uint HostTtl = 120, OtherTtl = 4500;

    /// <summary>The DNS-SD meta-query name that lists the service types on the link (RFC 6763 9).</summary>
    public const string ServiceTypes = "_services._dns-sd._udp.local";

    public static List<MdnsRecord> Build(string hostName, IReadOnlyList<IpAddress> addresses, IReadOnlyList<AdvertisedService> services)
    {
        var records = new List<MdnsRecord>();
        var host = DnsName.Encode(hostName);
        foreach (var address in addresses)
        {
            byte[] data = new byte[address.IsIpv4 ? 4 : 16];
            if (address.IsIpv4)
                BinaryPrimitives.WriteUInt32BigEndian(data, address.Ipv4.Value);
            else
                address.WriteTo(data);
            records.Add(new MdnsRecord(host, hostName, address.IsIpv4 ? DnsType.A : DnsType.Aaaa, data, Unique: true, HostTtl));
        }
        foreach (var address in addresses)
        {
            string reverse = ReverseName(address);
            records.Add(new MdnsRecord(DnsName.Encode(reverse), reverse, DnsType.Ptr, host, Unique: true, HostTtl));
        }
        foreach (var service in services)
        {
            string type = service.Service.ServiceType + ".local";
            var typeName = DnsName.Encode(type);
            var instance = DnsName.Encode(service.FullName);
            records.Add(new MdnsRecord(typeName, type, DnsType.Ptr, instance, Unique: false, OtherTtl));
            var srv = new byte[6 + host.Length];
            BinaryPrimitives.WriteUInt16BigEndian(srv.AsSpan(4), (ushort)service.Service.Port);   // priority and weight 0
            host.CopyTo(srv, 6);
            records.Add(new MdnsRecord(instance, service.FullName, DnsType.Srv, srv, Unique: true, HostTtl));
            records.Add(new MdnsRecord(instance, service.FullName, DnsType.Txt, Txt(service.Service.Txt), Unique: true, OtherTtl));
            if (!records.Any(r => r.Text == ServiceTypes && r.Data.AsSpan().SequenceEqual(typeName)))
                records.Add(new MdnsRecord(DnsName.Encode(ServiceTypes), ServiceTypes, DnsType.Ptr, typeName, Unique: false, OtherTtl));
        }
        return records;
    }

    /// <summary>
    /// <paramref name="name"/> with <paramref name="suffix"/> (a rename after a conflict), the name cut short so the
    /// whole stays a DNS label (63 bytes of UTF-8) however many renames a hostile host forces.
    /// </summary>
    public static string WithSuffix(string name, string suffix)
    {
        int room = 63 - Encoding.UTF8.GetByteCount(suffix);
        while (Encoding.UTF8.GetByteCount(name) > room)
            name = name[..^(name.Length > 1 && char.IsLowSurrogate(name[^1]) ? 2 : 1)];
        return name + suffix;
    }

    /// <summary>RFC 6763 6: length-prefixed "key=value" strings; an empty TXT is one empty string (6.1).</summary>
    static byte[] Txt(IReadOnlyDictionary<string, string> pairs)
    {
        var data = new List<byte>();
        foreach (var (key, value) in pairs)
        {
            byte[] pair = Encoding.UTF8.GetBytes($"{key}={value}");
            data.Add((byte)pair.Length);
            data.AddRange(pair);
        }
        if (data.Count == 0)
            data.Add(0);
        return [.. data];
    }

    /// <summary>The in-addr.arpa or ip6.arpa name of an address (RFC 1035 3.5, RFC 3596 2.5).</summary>
    public static string ReverseName(IpAddress address)
    {
        if (address.IsIpv4)
        {
            uint v = address.Ipv4.Value;
            return $"{v & 0xFF}.{(v >> 8) & 0xFF}.{(v >> 16) & 0xFF}.{v >> 24}.in-addr.arpa";
        }
        var bytes = new byte[16];
        address.WriteTo(bytes);
        var nibbles = new StringBuilder(72);
        for (int i = 15; i >= 0; i--)
            nibbles.Append(HexDigit(bytes[i] & 0x0F)).Append('.').Append(HexDigit(bytes[i] >> 4)).Append('.');
        return nibbles.Append("ip6.arpa").ToString();

        static char HexDigit(int nibble) => (char)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);
    }
}
