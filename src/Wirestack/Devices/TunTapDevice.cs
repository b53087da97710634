using System.Net;
using Wirestack.Interop;
using Wirestack.Wire;

namespace Wirestack.Devices;

/// <summary>Where and how to open a TAP or TUN interface.</summary>
public sealed record TunTapOptions
{
    /// <summary>
    /// A network namespace to open the interface in: a name under /var/run/netns (as made by <c>ip netns add</c>) or
    /// a path such as /proc/PID/ns/net. Null opens it in the caller's namespace.
    /// </summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>
    /// Open the interface with the virtio-net header (IFF_VNET_HDR), so that a stack can take TCP segments of up
    /// to 64 KiB and partial checksums from the host (fewer frames, fewer system calls); on by default. Off: plain
    /// frames of at most the MTU, as a kernel without the header gives.
    /// </summary>
    public bool Offloads { get; init; } = true;
}

/// <summary>
/// A Linux TAP or TUN interface. Opening one creates it when missing; an interface this object created disappears
/// when it is disposed (the seed example's behaviour), one made beforehand (<c>ip tuntap add</c>) stays.
/// </summary>
public abstract class TunTapDevice : INetworkDevice, IReceiveOffloads, ISendOffloads
{
    VirtioNetHeader _lastHeader;

    private protected TunTapDevice(string name, bool tap, TunTapOptions? options)
    {
        Handle = TunTapHandle.Open(name, tap, options?.NetworkNamespace, virtioHeader: options?.Offloads ?? true);
        Mtu = Handle.QueryMtu();
    }

    private protected TunTapDevice(TunTapHandle handle)
    {
        Handle = handle;
        Mtu = Handle.QueryMtu();
    }

    private protected TunTapHandle Handle { get; }

    /// <summary>The open descriptor, for a program that starts itself again and keeps the interface.</summary>
    internal int FileDescriptor => Handle.FileDescriptor;

    /// <summary>Lets the descriptor survive an exec of this process.</summary>
    internal void KeepAcrossExec() => Handle.KeepAcrossExec();

    /// <summary>The interface name.</summary>
    public string Name => Handle.Name;

    /// <summary>True when this object created the interface (so it goes away on dispose).</summary>
    public bool CreatedInterface => Handle.Created;

    /// <inheritdoc/>
    public abstract LinkMedium Medium { get; }

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>True while the host side of the interface is administratively up (checked at most once a second).</summary>
    public bool IsLinkUp => Handle.IsUp();

    /// <inheritdoc/>
    public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length) => Handle.TryRead(buffer, out length, out _lastHeader);

    IReceiveOffloads? INetworkDevice.ReceiveOffloads => this;

    ISendOffloads? INetworkDevice.SendOffloads => this;

    bool IReceiveOffloads.EnableReceiveOffloads() => Handle.EnableOffloads();

    int IReceiveOffloads.MaxReceiveLength => VirtioNetHeader.FrameBufferLength;

    VirtioNetHeader IReceiveOffloads.LastHeader => _lastHeader;

    /// <inheritdoc/>
    public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds) => Handle.TryWrite(frame, default, out _);

    bool ISendOffloads.EnableSendOffloads() => Handle.HasVirtioHeader;

    bool ISendOffloads.TrySend(ReadOnlySpan<byte> frame, in VirtioNetHeader header, long nowMicroseconds)
    {
        if (!_kernelRefusesOffloads)
        {
            if (Handle.TryWrite(frame, header, out int errno))
                return true;
            if (errno != LibC.EINVAL || !header.IsOffloaded)
                return false;
            // A kernel that does not take what the header asks (an old one, or a GSO kind it lacks): finish frames here from now on.
            _kernelRefusesOffloads = true;
        }
        _software ??= new SoftwareOffloader(Medium, plain => Handle.TryWrite(plain, default, out _));
        return _software.Send(frame, header);
    }

    bool _kernelRefusesOffloads;
    SoftwareOffloader? _software;

    /// <inheritdoc/>
    public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup) => Handle.Wait(timeoutMilliseconds, wakeup);

    /// <summary>
    /// Configures the host (kernel) side of the interface: assigns <paramref name="address"/>/<paramref name="prefixLength"/>
    /// (IPv4, or IPv6 added beside any others) and brings it up, like <c>ip addr add</c> and <c>ip link set up</c>.
    /// </summary>
    /// <exception cref="UnauthorizedAccessException">Root or CAP_NET_ADMIN is needed.</exception>
    public void ConfigureHostSide(IPAddress address, int prefixLength)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefixLength, 1);
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !address.IsIPv4MappedToIPv6)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 128);
            Handle.ConfigureHostSideIpv6(address.GetAddressBytes(), prefixLength);
            return;
        }
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 32);
        Handle.ConfigureHostSide(Wire.Ipv4Address.FromIPAddress(address).Value, prefixLength);
    }

    /// <summary>Brings the host side of the interface up, like <c>ip link set NAME up</c>.</summary>
    public void BringHostSideUp() => Handle.SetUp();

    /// <summary>
    /// Sets how many packets the host side holds for the stack to read before it drops (its transmit queue, like
    /// <c>ip link set NAME txqueuelen N</c>; a new interface has 500). Many flows sending into the interface at once
    /// overrun 500 in the moment the stack takes to read them, and every drop is a retransmission.
    /// </summary>
    /// <exception cref="UnauthorizedAccessException">Root or CAP_NET_ADMIN is needed.</exception>
    public void SetHostQueueLength(int packets)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(packets, 1);
        Handle.SetTransmitQueueLength(packets);
    }

    /// <summary>Closes the descriptor; an interface this object created goes away.</summary>
    public void Dispose()
    {
        Handle.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>A Linux TAP interface carrying Ethernet frames.</summary>
public sealed class TapDevice : TunTapDevice
{
    TapDevice(string name, TunTapOptions? options) : base(name, tap: true, options)
    {
    }

    TapDevice(TunTapHandle handle) : base(handle)
    {
    }

    /// <summary>The TAP interface <paramref name="name"/> open on <paramref name="fd"/>, inherited across an exec.</summary>
    internal static TapDevice Adopt(int fd, string name, bool created) => new(TunTapHandle.Adopt(fd, name, tap: true, created));

    /// <summary>Opens (or creates) the TAP interface <paramref name="name"/>.</summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    /// <exception cref="UnauthorizedAccessException">No permission: root or CAP_NET_ADMIN is needed.</exception>
    /// <exception cref="IOException">/dev/net/tun is missing, the interface is busy or of the wrong kind.</exception>
    /// <exception cref="ArgumentException">The name is empty, too long (over 15 characters) or not valid.</exception>
    public static TapDevice Open(string name = "tap0", TunTapOptions? options = null) => new(name, options);

    /// <inheritdoc/>
    public override LinkMedium Medium => LinkMedium.Ethernet;

    /// <inheritdoc/>
    public override string ToString() => $"TAP {Name}";
}

/// <summary>A Linux TUN interface carrying bare IP packets (no Ethernet, no ARP).</summary>
public sealed class TunDevice : TunTapDevice
{
    TunDevice(string name, TunTapOptions? options) : base(name, tap: false, options)
    {
    }

    /// <summary>Opens (or creates) the TUN interface <paramref name="name"/>; errors as for <see cref="TapDevice.Open"/>.</summary>
    public static TunDevice Open(string name = "tun0", TunTapOptions? options = null) => new(name, options);

    /// <inheritdoc/>
    public override LinkMedium Medium => LinkMedium.Ip;

    /// <inheritdoc/>
    public override string ToString() => $"TUN {Name}";
}
