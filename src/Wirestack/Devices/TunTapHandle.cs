using Wirestack.Interop;
using Wirestack.Wire;

namespace Wirestack.Devices;

/// <summary>
/// An open /dev/net/tun descriptor attached to a named TAP or TUN interface, plus a control socket in the same
/// network namespace for interface ioctls. Shared by <see cref="TapDevice"/> and <see cref="TunDevice"/>.
/// </summary>
internal sealed unsafe class TunTapHandle : IDisposable
{
    const string CloneDevice = "/dev/net/tun";

    int _fd;
    int _controlFd;
    long _lastLinkCheck = long.MinValue / 2;
    bool _linkUp;

    TunTapHandle(string name, int fd, int controlFd, bool created, bool virtioHeader)
    {
        Name = name;
        _fd = fd;
        _controlFd = controlFd;
        Created = created;
        HasVirtioHeader = virtioHeader;
    }

    public string Name { get; }
    public bool Created { get; }
    public int FileDescriptor => _fd;

    /// <summary>True when every frame read and written is preceded by a virtio-net header (IFF_VNET_HDR).</summary>
    public bool HasVirtioHeader { get; }

    public static TunTapHandle Open(string name, bool tap, string? networkNamespace, bool virtioHeader)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("TAP and TUN devices need Linux (/dev/net/tun).");
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Length >= InterfaceRequest.NameCapacity)
            throw new ArgumentException($"Interface name '{name}' is too long: Linux allows at most {InterfaceRequest.NameCapacity - 1} characters.", nameof(name));
        if (name.Contains('/') || name.Contains(' ') || name.Any(c => c > 127))
            throw new ArgumentException($"Interface name '{name}' is not valid: use ASCII letters, digits, '-', '_' or '.'.", nameof(name));

        return networkNamespace is null
            ? OpenHere(name, tap, virtioHeader)
            : Interop.NetworkNamespace.Run(networkNamespace, () => OpenHere(name, tap, virtioHeader));
    }

    static TunTapHandle OpenHere(string name, bool tap, bool virtioHeader)
    {
        string kind = tap ? "TAP" : "TUN";
        int controlFd = LibC.Socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (controlFd < 0)
            throw new IOException($"Cannot create a control socket: {LibC.Describe(LibC.LastError)}.");
        int fd = -1;
        try
        {
            var probe = InterfaceRequest.For(name);
            bool existed = LibC.Ioctl(controlFd, IoctlRequest.SIOCGIFINDEX, &probe) == 0;

            fd = LibC.Open(CloneDevice, LibC.O_RDWR | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
            if (fd < 0)
            {
                int errno = LibC.LastError;
                throw errno switch
                {
                    LibC.ENOENT or LibC.ENODEV or LibC.ENXIO => new IOException($"{CloneDevice} is missing: the kernel's tun module is needed (modprobe tun; in a container, pass the device in)."),
                    LibC.EACCES or LibC.EPERM => PermissionError(name, kind),
                    _ => new IOException($"Cannot open {CloneDevice}: {LibC.Describe(errno)}."),
                };
            }

            var request = InterfaceRequest.For(name);
            request.Flags = (short)((tap ? IoctlRequest.IFF_TAP : IoctlRequest.IFF_TUN) | IoctlRequest.IFF_NO_PI
                | (virtioHeader ? IoctlRequest.IFF_VNET_HDR : 0));
            int result = LibC.Ioctl(fd, IoctlRequest.TUNSETIFF, &request);
            if (result != 0 && virtioHeader && LibC.LastError == LibC.EINVAL)
            {
                // A kernel without the header: plain frames, no offloads.
                virtioHeader = false;
                request = InterfaceRequest.For(name);
                request.Flags = (short)((tap ? IoctlRequest.IFF_TAP : IoctlRequest.IFF_TUN) | IoctlRequest.IFF_NO_PI);
                result = LibC.Ioctl(fd, IoctlRequest.TUNSETIFF, &request);
            }
            if (result != 0)
            {
                int errno = LibC.LastError;
                throw errno switch
                {
                    LibC.EPERM or LibC.EACCES => PermissionError(name, kind),
                    LibC.EBUSY => new IOException($"Interface '{name}' is busy: another process already has it open."),
                    LibC.EINVAL when existed => new IOException($"Interface '{name}' exists but is not a {kind} device."),
                    _ => new IOException($"Cannot attach to {kind} interface '{name}': {LibC.Describe(errno)}."),
                };
            }
            // Offloads belong to the interface, not the descriptor: a persistent one may keep what an earlier
            // reader asked for. Start from none; a stack that takes them asks again (EnableOffloads).
            _ = LibC.Ioctl(fd, IoctlRequest.TUNSETOFFLOAD, null);
            return new TunTapHandle(name, fd, controlFd, created: !existed, virtioHeader);
        }
        catch
        {
            if (fd >= 0)
                LibC.Close(fd);
            LibC.Close(controlFd);
            throw;
        }
    }

    /// <summary>
    /// Takes over a descriptor this program opened before it started itself again (to shed capabilities): checked to
    /// be the TAP or TUN interface <paramref name="name"/>, and closed on exec again.
    /// </summary>
    public static TunTapHandle Adopt(int fd, string name, bool tap, bool created)
    {
        var request = default(InterfaceRequest);
        if (LibC.Ioctl(fd, IoctlRequest.TUNGETIFF, &request) != 0)
            throw new IOException($"Descriptor {fd} is not an open TUN/TAP interface: {LibC.Describe(LibC.LastError)}.");
        string attached = request.InterfaceName;
        bool isTap = (request.Flags & IoctlRequest.IFF_TAP) != 0;
        if (attached != name || isTap != tap)
            throw new IOException($"Descriptor {fd} is {(isTap ? "TAP" : "TUN")} '{attached}', not the expected '{name}'.");
        LibC.Fcntl(fd, LibC.F_SETFD, LibC.FD_CLOEXEC);
        int controlFd = LibC.Socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (controlFd < 0)
            throw new IOException($"Cannot create a control socket: {LibC.Describe(LibC.LastError)}.");
        return new TunTapHandle(name, fd, controlFd, created, virtioHeader: (request.Flags & IoctlRequest.IFF_VNET_HDR) != 0);
    }

    /// <summary>
    /// Tells the kernel the reader takes partial checksums and long TCP segments (TUNSETOFFLOAD: TUN_F_CSUM,
    /// TSO4, TSO6), so the host hands over up to 64 KiB at a time; false when it refuses (frames stay plain).
    /// </summary>
    public bool EnableOffloads()
    {
        if (!HasVirtioHeader)
            return false;
        nuint offloads = IoctlRequest.TUN_F_CSUM | IoctlRequest.TUN_F_TSO4 | IoctlRequest.TUN_F_TSO6;
        return LibC.Ioctl(_fd, IoctlRequest.TUNSETOFFLOAD, (void*)offloads) == 0;
    }

    /// <summary>Lets the descriptor survive an exec of this process (it is close-on-exec otherwise).</summary>
    public void KeepAcrossExec()
    {
        if (LibC.Fcntl(_fd, LibC.F_SETFD, 0) != 0)
            throw new IOException($"Cannot keep the descriptor of '{Name}' across exec: {LibC.Describe(LibC.LastError)}.");
    }

    static UnauthorizedAccessException PermissionError(string name, string kind) => new(
        $"Opening {kind} interface '{name}' needs root or CAP_NET_ADMIN, or an interface created beforehand for your user " +
        $"(ip tuntap add dev {name} mode {kind.ToLowerInvariant()} user $USER).");

    public int QueryMtu()
    {
        var request = InterfaceRequest.For(Name);
        return LibC.Ioctl(_controlFd, IoctlRequest.SIOCGIFMTU, &request) == 0 ? request.Int : 1500;
    }

    // The event loop asks often; the answer changes rarely, so ask the kernel at most once a second.
    public bool IsUp()
    {
        long now = Environment.TickCount64;
        if (now - _lastLinkCheck < 1000)
            return _linkUp;
        var request = InterfaceRequest.For(Name);
        _linkUp = LibC.Ioctl(_controlFd, IoctlRequest.SIOCGIFFLAGS, &request) == 0 && (request.Flags & IoctlRequest.IFF_UP) != 0;
        _lastLinkCheck = now;
        return _linkUp;
    }

    /// <summary>Gives the host (kernel) side of the interface an IPv4 address and brings it up.</summary>
    public void ConfigureHostSide(uint address, int prefixLength)
    {
        var request = InterfaceRequest.For(Name);
        request.SetIpv4Address(address);
        Check(LibC.Ioctl(_controlFd, IoctlRequest.SIOCSIFADDR, &request), "set the address of");
        request = InterfaceRequest.For(Name);
        request.SetIpv4Address(Wire.Ipv4Address.MaskFromPrefix(prefixLength));
        Check(LibC.Ioctl(_controlFd, IoctlRequest.SIOCSIFNETMASK, &request), "set the netmask of");
        SetUp();
    }

    /// <summary>Adds an IPv6 address to the host side (ip -6 addr add) and brings it up; the kernel runs DAD on it.</summary>
    public void ConfigureHostSideIpv6(ReadOnlySpan<byte> address, int prefixLength)
    {
        var index = InterfaceRequest.For(Name);
        Check(LibC.Ioctl(_controlFd, IoctlRequest.SIOCGIFINDEX, &index), "find the index of");
        // Linux takes IPv6 addresses through an AF_INET6 socket only.
        int fd = LibC.Socket(LibC.AF_INET6, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0)
            throw new IOException($"Cannot create an IPv6 control socket (is IPv6 disabled?): {LibC.Describe(LibC.LastError)}.");
        try
        {
            var request = new Ipv6InterfaceRequest { PrefixLength = (uint)prefixLength, InterfaceIndex = index.Int };
            address.CopyTo(new Span<byte>(request.Address, 16));
            SetUp();
            Check(LibC.Ioctl(fd, IoctlRequest.SIOCSIFADDR, &request), "add an IPv6 address to");
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>Sets the host side's transmit queue length in packets (ip link set NAME txqueuelen N).</summary>
    public void SetTransmitQueueLength(int packets)
    {
        var request = InterfaceRequest.For(Name);
        request.Int = packets;
        Check(LibC.Ioctl(_controlFd, IoctlRequest.SIOCSIFTXQLEN, &request), "set the queue length of");
    }

    /// <summary>Brings the host side of the interface up (ip link set NAME up).</summary>
    public void SetUp()
    {
        var request = InterfaceRequest.For(Name);
        Check(LibC.Ioctl(_controlFd, IoctlRequest.SIOCGIFFLAGS, &request), "read the flags of");
        request.Flags |= IoctlRequest.IFF_UP;
        Check(LibC.Ioctl(_controlFd, IoctlRequest.SIOCSIFFLAGS, &request), "bring up");
        _lastLinkCheck = long.MinValue / 2;
    }

    void Check(int result, string action)
    {
        if (result == 0)
            return;
        int errno = LibC.LastError;
        if (errno is LibC.EPERM or LibC.EACCES)
            throw new UnauthorizedAccessException($"Cannot {action} interface '{Name}': root or CAP_NET_ADMIN is needed.");
        throw new IOException($"Cannot {action} interface '{Name}': {LibC.Describe(errno)}.");
    }

    /// <summary>
    /// Reads one frame into <paramref name="buffer"/> and, with <see cref="HasVirtioHeader"/>, its header beside it
    /// (one system call either way, no copy). A header cut short reads as an impossible one (GSO type 0xFF).
    /// </summary>
    public bool TryRead(Span<byte> buffer, out int length, out VirtioNetHeader header)
    {
        byte* headerBytes = stackalloc byte[VirtioNetHeader.Length];
        fixed (byte* p = buffer)
        {
            var vectors = stackalloc LibC.IoVec[2];
            vectors[0] = new LibC.IoVec { Base = headerBytes, Length = VirtioNetHeader.Length };
            vectors[1] = new LibC.IoVec { Base = p, Length = (nuint)buffer.Length };
            while (true)
            {
                nint n = HasVirtioHeader ? LibC.ReadV(_fd, vectors, 2) : LibC.Read(_fd, p, buffer.Length);
                if (n >= 0)
                {
                    header = default;
                    if (HasVirtioHeader)
                    {
                        if (n < VirtioNetHeader.Length)
                        {
                            header = new VirtioNetHeader(0, (GsoType)0x7F, false, 0, 0, 0, 0);
                            length = 0;
                            return n > 0;
                        }
                        header = VirtioNetHeader.Read(new ReadOnlySpan<byte>(headerBytes, VirtioNetHeader.Length));
                        n -= VirtioNetHeader.Length;
                    }
                    length = (int)n;
                    return n > 0;
                }
                int errno = LibC.LastError;
                if (errno == LibC.EINTR)
                    continue;
                length = 0;
                header = default;
                return false;
            }
        }
    }

    /// <summary>
    /// Writes one frame; with <see cref="HasVirtioHeader"/>, behind <paramref name="header"/> (for a plain frame, one
    /// that asks for nothing). False when the kernel refused it, with the reason in <paramref name="errno"/>.
    /// </summary>
    public bool TryWrite(ReadOnlySpan<byte> frame, in VirtioNetHeader header, out int errno)
    {
        byte* headerBytes = stackalloc byte[VirtioNetHeader.Length];
        header.Write(new Span<byte>(headerBytes, VirtioNetHeader.Length));
        errno = 0;
        fixed (byte* p = frame)
        {
            var vectors = stackalloc LibC.IoVec[2];
            vectors[0] = new LibC.IoVec { Base = headerBytes, Length = VirtioNetHeader.Length };
            vectors[1] = new LibC.IoVec { Base = p, Length = (nuint)frame.Length };
            int expected = frame.Length + (HasVirtioHeader ? VirtioNetHeader.Length : 0);
            while (true)
            {
                nint n = HasVirtioHeader ? LibC.WriteV(_fd, vectors, 2) : LibC.Write(_fd, p, frame.Length);
                if (n >= 0)
                    return n == expected;
                errno = LibC.LastError;
                if (errno != LibC.EINTR)
                    return false;
            }
        }
    }

    public void Wait(int timeoutMilliseconds, DeviceWakeup wakeup) =>
        EventFd.WaitReadable(_fd, wakeup.FileDescriptor, timeoutMilliseconds);

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            LibC.Close(fd);
        int control = Interlocked.Exchange(ref _controlFd, -1);
        if (control >= 0)
            LibC.Close(control);
    }
}
