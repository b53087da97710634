using System.Buffers.Binary;
using System.Net;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// What the dashboard counts a client by: its IPv4 address, or its IPv6 /64. One host holds a whole /64 and picks
/// addresses in it at will (RFC 8981 privacy addresses rotate there), so a limit per IPv6 address limits nothing.
/// </summary>
internal static class ClientSource
{
    public static UInt128 Of(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out int length);
        return length == 4
            ? new UInt128(0, BinaryPrimitives.ReadUInt32BigEndian(bytes))
            : new UInt128(BinaryPrimitives.ReadUInt64BigEndian(bytes), 1);
    }
}
