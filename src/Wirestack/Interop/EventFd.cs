namespace Wirestack.Interop;

/// <summary>A non-blocking Linux eventfd used as a cross-thread doorbell, and poll(2) over descriptors.</summary>
internal sealed unsafe class EventFd : IDisposable
{
    int _fd;

    public EventFd()
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("Wirestack devices need Linux.");
        _fd = LibC.EventFd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
        if (_fd < 0)
            throw new IOException($"eventfd failed: {LibC.Describe(LibC.LastError)}");
    }

    public int FileDescriptor => _fd;

    public void Signal()
    {
        ulong one = 1;
        int fd = Volatile.Read(ref _fd);
        if (fd >= 0)
            LibC.Write(fd, (byte*)&one, sizeof(ulong));
    }

    public void Reset()
    {
        ulong value;
        LibC.Read(_fd, (byte*)&value, sizeof(ulong));
    }

    /// <summary>Waits until one of the descriptors is readable or the timeout passes (interrupted waits just return).</summary>
    public static void WaitReadable(int first, int second, int timeoutMilliseconds)
    {
        var fds = stackalloc LibC.PollFd[2];
        fds[0] = new LibC.PollFd { Fd = first, Events = LibC.POLLIN };
        fds[1] = new LibC.PollFd { Fd = second, Events = LibC.POLLIN };
        LibC.Poll(fds, second >= 0 ? 2u : 1u, timeoutMilliseconds);
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            LibC.Close(fd);
    }
}
