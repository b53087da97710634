namespace Wirestack.Devices;

/// <summary>
/// A Linux TUN interface carrying bare IP packets (no Ethernet, no ARP). Opens the named interface, creating it when
/// missing; an interface this object created disappears when it is disposed.
/// </summary>
public sealed class TunDevice : INetworkDevice
{
    readonly TunTapHandle _handle;

    TunDevice(TunTapHandle handle)
    {
        _handle = handle;
        Mtu = handle.QueryMtu();
    }

    /// <summary>Opens (or creates) the TUN interface <paramref name="name"/>; errors as for <see cref="TapDevice.Open"/>.</summary>
    public static TunDevice Open(string name = "tun0", TunTapOptions? options = null) =>
        new(TunTapHandle.Open(name, tap: false, options?.NetworkNamespace));

    /// <summary>The interface name.</summary>
    public string Name => _handle.Name;

    /// <summary>True when this object created the interface.</summary>
    public bool CreatedInterface => _handle.Created;

    /// <inheritdoc/>
    public LinkMedium Medium => LinkMedium.Ip;

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
    public override string ToString() => $"TUN {Name}";
}
