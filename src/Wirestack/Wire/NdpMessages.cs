using System.Buffers.Binary;

namespace Wirestack.Wire;

/// <summary>
/// The bodies of Neighbor Discovery messages (RFC 4861 4), behind their 4-byte ICMPv6 header: views that check a
/// received body's length and options before any field is read, and writers for the messages a host sends.
/// </summary>
internal static class NdpMessage
{
    /// <summary>Bytes of an NS or NA body before its options: 4 of flags or reserved, 16 of target.</summary>
    public const int TargetBodyLength = 20;

    /// <summary>Bytes of an RA body before its options (4.2).</summary>
    public const int RouterAdvertisementBodyLength = 12;

    /// <summary>A Router Solicitation body (4.1): reserved, and our link address when we have an address to send from.</summary>
    public static int WriteRouterSolicitation(Span<byte> body, MacAddress? sourceLinkAddress)
    {
        BinaryPrimitives.WriteUInt32BigEndian(body, 0);
        return 4 + WriteLinkAddressOption(body[4..], NdpOptionType.SourceLinkLayerAddress, sourceLinkAddress);
    }

    /// <summary>A Neighbor Solicitation body (4.3): reserved, the target, our link address unless a DAD probe.</summary>
    public static int WriteNeighborSolicitation(Span<byte> body, IpAddress target, MacAddress? sourceLinkAddress)
    {
        BinaryPrimitives.WriteUInt32BigEndian(body, 0);
        target.WriteTo(body[4..]);
        return TargetBodyLength + WriteLinkAddressOption(body[TargetBodyLength..], NdpOptionType.SourceLinkLayerAddress, sourceLinkAddress);
    }

    /// <summary>A Neighbor Advertisement body (4.4): the R, S and O flags, the target, our link address.</summary>
    public static int WriteNeighborAdvertisement(Span<byte> body, IpAddress target, bool router, bool solicited, bool overrideFlag,
        MacAddress? targetLinkAddress)
    {
        BinaryPrimitives.WriteUInt32BigEndian(body, (router ? 0x8000_0000u : 0) | (solicited ? 0x4000_0000u : 0) | (overrideFlag ? 0x2000_0000u : 0));
        target.WriteTo(body[4..]);
        return TargetBodyLength + WriteLinkAddressOption(body[TargetBodyLength..], NdpOptionType.TargetLinkLayerAddress, targetLinkAddress);
    }

    static int WriteLinkAddressOption(Span<byte> destination, byte type, MacAddress? address) =>
        address is { } mac ? NdpOptionReader.WriteLinkAddress(destination, type, mac) : 0;

    /// <summary>The link address in the first option of <paramref name="type"/> (Source or Target Link-Layer Address, 4.6.1).</summary>
    public static MacAddress? FindLinkAddress(ReadOnlySpan<byte> options, byte type)
    {
        var reader = new NdpOptionReader(options);
        while (reader.TryNext(out byte optionType, out var option))
        {
            if (optionType == type && NdpOptionReader.TryReadLinkAddress(option, out var address))
                return address;
        }
        return null;
    }
}

/// <summary>A Neighbor Solicitation or Advertisement body (RFC 4861 4.3, 4.4): flags, target and valid options.</summary>
internal readonly ref struct NdpTargetMessage
{
    readonly ReadOnlySpan<byte> _body;

    NdpTargetMessage(ReadOnlySpan<byte> body) => _body = body;

    /// <summary>False when the body is shorter than 20 bytes or an option has length 0 or runs past it (7.1.1, 7.1.2).</summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out NdpTargetMessage message)
    {
        bool valid = body.Length >= NdpMessage.TargetBodyLength && NdpOptionReader.Validate(body[NdpMessage.TargetBodyLength..]);
        message = valid ? new NdpTargetMessage(body) : default;
        return valid;
    }

    /// <summary>R: the sender is a router (NA only).</summary>
    public bool Router => (_body[0] & 0x80) != 0;

    /// <summary>S: the advertisement answers a solicitation (NA only).</summary>
    public bool Solicited => (_body[0] & 0x40) != 0;

    /// <summary>O: the advertisement overrides a cached link address (NA only).</summary>
    public bool Override => (_body[0] & 0x20) != 0;

    public IpAddress Target => IpAddress.Read(_body[4..]);

    public ReadOnlySpan<byte> Options => _body[NdpMessage.TargetBodyLength..];
}

/// <summary>A Router Advertisement body (RFC 4861 4.2) with valid options.</summary>
internal readonly ref struct RouterAdvertisement
{
    readonly ReadOnlySpan<byte> _body;

    RouterAdvertisement(ReadOnlySpan<byte> body) => _body = body;

    /// <summary>False when the body is shorter than 12 bytes or an option has length 0 or runs past it (6.1.2).</summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out RouterAdvertisement advertisement)
    {
        bool valid = body.Length >= NdpMessage.RouterAdvertisementBodyLength && NdpOptionReader.Validate(body[NdpMessage.RouterAdvertisementBodyLength..]);
        advertisement = valid ? new RouterAdvertisement(body) : default;
        return valid;
    }

    /// <summary>The hop limit to use, 0 when unspecified.</summary>
    public byte CurrentHopLimit => _body[0];

    /// <summary>The M and O flags' byte (RFC 4861 4.2; DHCPv6 reads them).</summary>
    public byte Flags => _body[1];

    /// <summary>Seconds the router is a default router; 0: it is not one.</summary>
    public ushort RouterLifetime => BinaryPrimitives.ReadUInt16BigEndian(_body[2..]);

    /// <summary>Milliseconds a neighbour counts as reachable after a confirmation; 0 when unspecified.</summary>
    public uint ReachableTime => BinaryPrimitives.ReadUInt32BigEndian(_body[4..]);

    /// <summary>Milliseconds between retransmitted solicitations; 0 when unspecified.</summary>
    public uint RetransTimer => BinaryPrimitives.ReadUInt32BigEndian(_body[8..]);

    public ReadOnlySpan<byte> Options => _body[NdpMessage.RouterAdvertisementBodyLength..];
}

/// <summary>The MTU option (RFC 4861 4.6.4).</summary>
internal static class NdpMtuOption
{
    /// <summary>False unless the option is the 8 bytes the format has.</summary>
    public static bool TryRead(ReadOnlySpan<byte> option, out uint mtu)
    {
        mtu = option.Length == 8 ? BinaryPrimitives.ReadUInt32BigEndian(option[4..]) : 0;
        return option.Length == 8;
    }
}

/// <summary>The Recursive DNS Server option (RFC 8106 5.1): a lifetime and one or more addresses.</summary>
internal readonly ref struct NdpDnsServerOption
{
    readonly ReadOnlySpan<byte> _option;

    NdpDnsServerOption(ReadOnlySpan<byte> option) => _option = option;

    /// <summary>False unless the option holds at least one whole address and nothing else past them.</summary>
    public static bool TryParse(ReadOnlySpan<byte> option, out NdpDnsServerOption parsed)
    {
        bool valid = option.Length >= 24 && (option.Length - 8) % 16 == 0;
        parsed = valid ? new NdpDnsServerOption(option) : default;
        return valid;
    }

    /// <summary>Seconds the servers may be used; 0 withdraws them, 0xFFFFFFFF is infinity.</summary>
    public uint Lifetime => BinaryPrimitives.ReadUInt32BigEndian(_option[4..]);

    public int Count => (_option.Length - 8) / 16;

    public IpAddress this[int index] => IpAddress.Read(_option[(8 + 16 * index)..]);
}

/// <summary>The DNS Search List option (RFC 8106 5.2): a lifetime and uncompressed names, zero-padded.</summary>
internal readonly ref struct NdpSearchListOption
{
    /// <summary>Where the names start in the option.</summary>
    public const int NamesOffset = 8;

    readonly ReadOnlySpan<byte> _option;

    NdpSearchListOption(ReadOnlySpan<byte> option) => _option = option;

    /// <summary>False unless the option has room for its lifetime and one name.</summary>
    public static bool TryParse(ReadOnlySpan<byte> option, out NdpSearchListOption parsed)
    {
        bool valid = option.Length >= 16;
        parsed = valid ? new NdpSearchListOption(option) : default;
        return valid;
    }

    /// <summary>Seconds the names may be used; 0 withdraws them.</summary>
    public uint Lifetime => BinaryPrimitives.ReadUInt32BigEndian(_option[4..]);

    /// <summary>The whole option: names are read from <see cref="NamesOffset"/> until a zero byte or the end.</summary>
    public ReadOnlySpan<byte> Bytes => _option;
}
