using Wirestack.Wire;

namespace Wirestack.Network;

/// <summary>The interface's IPv4 configuration and the address tests routing and input need.</summary>
internal sealed class Ipv4Interface
{
    public Ipv4Address Address { get; private set; }
    public int PrefixLength { get; private set; }
    public Ipv4Address Gateway { get; private set; }
    public uint Mask { get; private set; }

    public bool IsConfigured => !Address.IsAny;

    public Ipv4Address SubnetBroadcast => new(Address.Value | ~Mask);

    /// <summary>Changes with every configuration, so the host can tell when to take a new snapshot.</summary>
    public int Version { get; private set; }

    public void Configure(Ipv4Address address, int prefixLength, Ipv4Address gateway)
    {
        Version++;
        Address = address;
        PrefixLength = prefixLength;
        Mask = Ipv4Address.MaskFromPrefix(prefixLength);
        Gateway = gateway;
    }

    public void Clear() => Configure(Ipv4Address.Any, 0, Ipv4Address.Any);

    public bool IsOnLink(Ipv4Address destination) => IsConfigured && (destination.Value & Mask) == (Address.Value & Mask);

    /// <summary>True for the limited broadcast and, once configured, the subnet's directed broadcast (RFC 1122 3.3.6).</summary>
    public bool IsBroadcast(Ipv4Address destination) =>
        destination.IsBroadcast || (IsConfigured && PrefixLength < 31 && destination == SubnetBroadcast);

    /// <summary>Groups joined by the stack and its applications (RFC 1112, RFC 3376); all-hosts is always joined and never listed.</summary>
    public MulticastGroups Multicast { get; } = new(MulticastGroupCapacity);

    public const int MulticastGroupCapacity = 64;

    /// <summary>224.0.0.1, which every host belongs to (RFC 1112 4).</summary>
    public static readonly Ipv4Address AllHosts = new(0xE000_0001);

    /// <summary>True when a datagram to <paramref name="destination"/> is for this host.</summary>
    public bool Accepts(Ipv4Address destination) =>
        destination.IsMulticast ? destination == AllHosts || Multicast.Contains(destination)
        : destination == Address || IsBroadcast(destination) || !IsConfigured;
}
