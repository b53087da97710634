using System.Runtime.InteropServices;
using System.Text;

namespace Wirestack.Interop;

/// <summary>struct ifreq: an interface name followed by a 24-byte union (flags, MTU or a sockaddr).</summary>
[StructLayout(LayoutKind.Sequential, Size = 40)]
internal unsafe struct InterfaceRequest
{
    public const int NameCapacity = 16;

    public fixed byte Name[NameCapacity];
    public fixed byte Union[24];

    public static InterfaceRequest For(string name)
    {
        var request = default(InterfaceRequest);
        var bytes = Encoding.ASCII.GetBytes(name);
        for (int i = 0; i < bytes.Length && i < NameCapacity - 1; i++)
            request.Name[i] = bytes[i];
        return request;
    }

    /// <summary>The interface name the kernel filled in (TUNGETIFF).</summary>
    public readonly string InterfaceName
    {
        get
        {
            fixed (byte* p = Name)
                return Marshal.PtrToStringAnsi((nint)p) ?? "";
        }
    }

    public short Flags
    {
        readonly get { fixed (byte* p = Union) return *(short*)p; }
        set { fixed (byte* p = Union) *(short*)p = value; }
    }

    public int Int
    {
        readonly get { fixed (byte* p = Union) return *(int*)p; }
        set { fixed (byte* p = Union) *(int*)p = value; }
    }

    /// <summary>Stores a sockaddr_in with the address in network order.</summary>
    public void SetIpv4Address(uint hostOrderAddress)
    {
        fixed (byte* p = Union)
        {
            new Span<byte>(p, 24).Clear();
            *(ushort*)p = LibC.AF_INET;
            p[4] = (byte)(hostOrderAddress >> 24);
            p[5] = (byte)(hostOrderAddress >> 16);
            p[6] = (byte)(hostOrderAddress >> 8);
            p[7] = (byte)hostOrderAddress;
        }
    }
}

/// <summary>ioctl request numbers for network interfaces and /dev/net/tun.</summary>
internal static class IoctlRequest
{
    public const nuint TUNSETIFF = 0x400454CA;
    public const nuint TUNGETIFF = 0x800454D2;
    /// <summary>_IOW('T', 208, unsigned int): which offloads (TUN_F_*) the reader of the device takes.</summary>
    public const nuint TUNSETOFFLOAD = 0x400454D0;
    public const nuint SIOCGIFFLAGS = 0x8913;
    public const nuint SIOCSIFFLAGS = 0x8914;
    public const nuint SIOCSIFADDR = 0x8916;
    public const nuint SIOCSIFNETMASK = 0x891C;
    public const nuint SIOCGIFMTU = 0x8921;
    public const nuint SIOCSIFMTU = 0x8922;
    public const nuint SIOCGIFINDEX = 0x8933;
    public const nuint SIOCSIFTXQLEN = 0x8943;

    public const short IFF_UP = 0x1;
    public const short IFF_RUNNING = 0x40;
    public const short IFF_TUN = 0x0001;
    public const short IFF_TAP = 0x0002;
    public const short IFF_NO_PI = 0x1000;
    /// <summary>Every frame read or written is preceded by a virtio-net header.</summary>
    public const short IFF_VNET_HDR = 0x4000;

    public const uint TUN_F_CSUM = 0x01;
    public const uint TUN_F_TSO4 = 0x02;
    public const uint TUN_F_TSO6 = 0x04;
}

/// <summary>struct in6_ifreq: what SIOCSIFADDR takes on an AF_INET6 socket (an address, its prefix, the interface index).</summary>
[StructLayout(LayoutKind.Sequential, Size = 24)]
internal unsafe struct Ipv6InterfaceRequest
{
    public fixed byte Address[16];
    public uint PrefixLength;
    public int InterfaceIndex;
}
