using Wirestack.Interop;

namespace Wirestack.Devices;

/// <summary>
/// Wakes a thread blocked in <see cref="INetworkDevice.WaitForFrames"/> from another thread. Backed by a Linux
/// eventfd so a device can wait on its own descriptor and this one with a single poll(2).
/// </summary>
public sealed class DeviceWakeup : IDisposable
{
    readonly EventFd _eventFd = new();

    /// <summary>The descriptor that becomes readable when signalled.</summary>
    internal int FileDescriptor => _eventFd.FileDescriptor;

    /// <summary>Wakes the waiting thread (or makes its next wait return at once). Safe from any thread.</summary>
    public void Signal() => _eventFd.Signal();

    /// <summary>Clears a pending signal; called by the waiting thread after it wakes.</summary>
    public void Reset() => _eventFd.Reset();

    /// <inheritdoc/>
    public void Dispose() => _eventFd.Dispose();
}
