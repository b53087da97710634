using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.Transport;

/// <summary>Where the engine hands what arrives for a bound UDP port; implemented by the hosting layer and by tests.</summary>
internal interface IUdpReceiver
{
    /// <summary>Takes a copy of a datagram's payload; false when the receiver's queue is full (the datagram is dropped).</summary>
    bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress);

    /// <summary>Reports an error about a datagram this port sent (ICMP unreachable, failed address resolution).</summary>
    void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort);
}

/// <summary>One bound UDP port.</summary>
internal sealed class UdpBinding(ushort port, IUdpReceiver receiver)
{
    public ushort Port { get; } = port;
    public IUdpReceiver Receiver { get; } = receiver;
    public long DatagramsDropped { get; set; }

    /// <summary>Where this port last sent: the exchange an ICMP error may be about.</summary>
    public IpAddress LastRemoteAddress { get; set; }

    public ushort LastRemotePort { get; set; }

    /// <summary>Multicast groups this socket joined (either family), left when it closes; null until the first join.</summary>
    public List<IpAddress>? Groups { get; set; }

    public bool HasJoined(IpAddress group) => Groups is not null && Groups.Contains(group);

    /// <summary>TTL or hop limit of multicast datagrams sent: 1 (this link) by default (RFC 1112 6.1, RFC 3493 5.2).</summary>
    public byte MulticastTimeToLive { get; set; } = 1;

    /// <summary>Whether a multicast datagram sent is also delivered to a local socket that joined its group (on by default, as in the kernel).</summary>
    public bool MulticastLoopback { get; set; } = true;
}

/// <summary>
/// The table of bound UDP ports, with ephemeral port allocation (RFC 6056 range 49152–65535, 3.3.1: a random start
/// from RandomNumberGenerator, then sequential), so an off-path attacker cannot guess a DNS query's port.
/// </summary>
internal sealed class UdpBindings
{
    public const int EphemeralFirst = 49152;
    public const int EphemeralLast = 65535;

    readonly Dictionary<ushort, UdpBinding> _bindings = [];

    public int Count => _bindings.Count;

    public bool TryGet(ushort port, out UdpBinding binding) => _bindings.TryGetValue(port, out binding!);

    public Dictionary<ushort, UdpBinding>.ValueCollection All => _bindings.Values;

    /// <summary>Binds <paramref name="port"/> (0 for an ephemeral one).</summary>
    /// <exception cref="SocketException">AddressAlreadyInUse, or TooManyOpenSockets when no ephemeral port is free.</exception>
    public UdpBinding Bind(int port, IUdpReceiver receiver)
    {
        if (port == 0)
            port = PickEphemeral();
        else if (_bindings.ContainsKey((ushort)port))
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        var binding = new UdpBinding((ushort)port, receiver);
        _bindings.Add((ushort)port, binding);
        return binding;
    }

    public void Unbind(UdpBinding binding)
    {
        if (_bindings.TryGetValue(binding.Port, out var current) && ReferenceEquals(current, binding))
            _bindings.Remove(binding.Port);
    }

    int PickEphemeral()
    {
        const int range = EphemeralLast - EphemeralFirst + 1;
        int start = System.Security.Cryptography.RandomNumberGenerator.GetInt32(range);
        for (int i = 0; i < range; i++)
        {
            int candidate = EphemeralFirst + (start + i) % range;
            if (!_bindings.ContainsKey((ushort)candidate))
                return candidate;
        }
        throw new SocketException((int)SocketError.TooManyOpenSockets);
    }
}
