using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Wirestack.IntegrationTests;

/// <summary>
/// A packet socket on an interface of a test namespace (AF_PACKET): whole Ethernet frames out, as a station on the
/// link with any source address it likes would send them, thousands a second from this process.
/// </summary>
internal sealed class RawLink : IDisposable
{
    readonly Socket _socket;
    readonly LinkEndPoint _interface;

    RawLink(Socket socket, int interfaceIndex)
    {
        _socket = socket;
        _interface = new LinkEndPoint(interfaceIndex);
    }

    public static async Task<RawLink> OpenAsync(TestNamespace ns, string interfaceName)
    {
        var index = await ns.CheckAsync($"cat /sys/class/net/{interfaceName}/ifindex");
        int interfaceIndex = int.Parse(index.Output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var socket = Interop.NetworkNamespace.Run(ns.Name, () => new Socket(AddressFamily.Packet, SocketType.Raw, ProtocolType.Raw));
        return new RawLink(socket, interfaceIndex);
    }

    public void Send(ReadOnlySpan<byte> frame) => _socket.SendTo(frame, SocketFlags.None, _interface);

    public void Dispose() => _socket.Dispose();

    /// <summary>struct sockaddr_ll naming the interface to send on.</summary>
    sealed class LinkEndPoint(int interfaceIndex) : EndPoint
    {
        public override AddressFamily AddressFamily => AddressFamily.Packet;

        public override SocketAddress Serialize()
        {
            // sll_family (2, set by SocketAddress), sll_protocol (2, network order), sll_ifindex (4), sll_hatype (2),
            // sll_pkttype (1), sll_halen (1), sll_addr (8).
            var address = new SocketAddress(AddressFamily.Packet, 20);
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteUInt16BigEndian(bytes, 0x0003);
            address[2] = bytes[0];
            address[3] = bytes[1];
            BinaryPrimitives.WriteInt32LittleEndian(bytes, interfaceIndex);
            for (int i = 0; i < 4; i++)
                address[4 + i] = bytes[i];
            return address;
        }

        public override EndPoint Create(SocketAddress socketAddress) => this;
    }
}
