namespace Wirestack.Devices;

/// <summary>Where and how to open a TAP or TUN interface.</summary>
public sealed record TunTapOptions
{
    /// <summary>
    /// A network namespace to open the interface in: a name under /var/run/netns (as made by <c>ip netns add</c>) or
    /// a path such as /proc/PID/ns/net. Null opens it in the caller's namespace.
    /// </summary>
    public string? NetworkNamespace { get; init; }
}

/// <summary>
/// A Linux TAP interface carrying Ethernet frames. Opens the named interface, creating it when missing; an interface
/// this object created disappears when it is disposed, one made beforehand (ip tuntap add) stays.
/// </summary>
public sealed class TapDevice : INetworkDevice
{
    readonly TunTapHandle _handle;

    TapDevice(TunTapHandle handle)
    {
        _handle = handle;
        Mtu = handle.QueryMtu();
    }

    /// <summary>Opens (or creates) the TAP interface <paramref name="name"/>.</summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    /// <exception cref="UnauthorizedAccessException">No permission: root or CAP_NET_ADMIN is needed.</exception>
    /// <exception cref="IOException">/dev/net/tun is missing, the interface is busy or of the wrong kind.</exception>
    /// <exception cref="ArgumentException">The name is empty, too long (over 15 characters) or not valid.</exception>
    public static TapDevice Open(string name = "tap0", TunTapOptions? options = null) =>
        new(TunTapHandle.Open(name, tap: true, options?.NetworkNamespace));

    /// <summary>The interface name.</summary>
    public string Name => _handle.Name;

    /// <summary>True when this object created the interface (so it goes away on dispose).</summary>
    public bool CreatedInterface => _handle.Created;

    /// <inheritdoc/>
    public LinkMedium Medium => LinkMedium.Ethernet;

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>True while the host side of the interface is administratively up (checked at most once a second).</summary>
    public bool IsLinkUp => _handle.IsUp();

    /// <inheritdoc/>
    public bool TryReceive(Span<byte> buffer, long nowMicroseconds, out int length) => _handle.TryRead(buffer, out length);

    /// <inheritdoc/>
    public bool TrySend(ReadOnlySpan<byte> frame, long nowMicroseconds) => _handle.TryWrite(frame);

    /// <inheritdoc/>
    public void WaitForFrames(int timeoutMilliseconds, DeviceWakeup wakeup) => _handle.Wait(timeoutMilliseconds, wakeup);

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"TAP {Name}";
}
