using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Wirestack.Tunnel.Upstreams;

/// <summary>
/// Flows through a SOCKS5 proxy (RFC 1928): CONNECT for TCP, UDP ASSOCIATE for a UDP session, with username and
/// password (RFC 1929) when given. The proxy's reply code becomes what the client is told (refused, unreachable).
/// </summary>
internal sealed class Socks5Upstream(IPEndPoint proxy, NetworkCredential? credential, HostSockets sockets, TimeSpan timeout) : Upstream
{
    const byte Version = 5, NoAuthentication = 0, UsernamePassword = 2, NoAcceptableMethod = 0xFF;
    const byte Connect = 1, UdpAssociate = 3;
    const byte AddressIpv4 = 1, AddressDomain = 3, AddressIpv6 = 4;

    public override string Name => $"socks5 {proxy}";
    public override bool CarriesUdp => true;

    public override async Task<Socket> ConnectAsync(IPEndPoint destination, CancellationToken cancellationToken)
    {
        var (socket, _) = await RequestAsync(Connect, destination, cancellationToken).ConfigureAwait(false);
        return socket;
    }

    public override async Task<UpstreamDatagrams> OpenDatagramsAsync(CancellationToken cancellationToken)
    {
        // The client's address is not known to the proxy (RFC 1928 7 allows zeros): it relays for whoever sends first.
        var (control, relay) = await RequestAsync(UdpAssociate, new IPEndPoint(IPAddress.Any, 0), cancellationToken).ConfigureAwait(false);
        try
        {
            // A relay address of all zeros means "the proxy's own".
            if (relay.Address.Equals(IPAddress.Any) || relay.Address.Equals(IPAddress.IPv6Any))
                relay = new IPEndPoint(proxy.Address, relay.Port);
            var socket = sockets.Create(SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
            return new RelayedDatagrams(control, socket, HostSockets.DualMode(relay));
        }
        catch
        {
            control.Dispose();
            throw;
        }
    }

    /// <summary>Greets, authenticates and sends one request; returns the connected control socket and the proxy's bound address.</summary>
    async Task<(Socket Socket, IPEndPoint Bound)> RequestAsync(byte command, IPEndPoint destination, CancellationToken cancellationToken)
    {
        var socket = await sockets.ConnectAsync(proxy, timeout, $"connecting to the SOCKS5 proxy {proxy}", cancellationToken).ConfigureAwait(false);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await NegotiateAsync(socket, limit.Token).ConfigureAwait(false);
            var request = new byte[4 + 16 + 2];
            request[0] = Version;
            request[1] = command;
            int length = 3 + WriteAddress(request.AsSpan(3), destination);
            await socket.SendAsync(request.AsMemory(0, length), limit.Token).ConfigureAwait(false);

            var reply = new byte[4];
            await ReadExactlyAsync(socket, reply, limit.Token).ConfigureAwait(false);
            if (reply[0] != Version)
                throw new UpstreamException(UpstreamFailure.HostUnreachable, $"the SOCKS5 proxy {proxy} answered with version {reply[0]}");
            var bound = await ReadAddressAsync(socket, reply[3], limit.Token).ConfigureAwait(false);
            if (reply[1] != 0)
                throw new UpstreamException(FailureOf(reply[1]), $"the SOCKS5 proxy {proxy} answered {ReplyName(reply[1])} for {destination}");
            return (socket, bound);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw UpstreamException.FromSocket(e, $"talking to the SOCKS5 proxy {proxy}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new UpstreamException(UpstreamFailure.HostUnreachable, $"the SOCKS5 proxy {proxy} did not answer within {timeout.TotalSeconds:0.#} s");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    async Task NegotiateAsync(Socket socket, CancellationToken cancellationToken)
    {
        byte[] greeting = credential is null ? [Version, 1, NoAuthentication] : [Version, 2, NoAuthentication, UsernamePassword];
        await socket.SendAsync(greeting, cancellationToken).ConfigureAwait(false);
        var choice = new byte[2];
        await ReadExactlyAsync(socket, choice, cancellationToken).ConfigureAwait(false);
        if (choice[0] != Version || choice[1] == NoAcceptableMethod || (choice[1] == UsernamePassword && credential is null)
            || choice[1] is not (NoAuthentication or UsernamePassword))
            throw new UpstreamException(UpstreamFailure.Prohibited, $"the SOCKS5 proxy {proxy} accepts none of our authentication methods");
        if (choice[1] == NoAuthentication)
            return;
        // RFC 1929 2: version 1, then the name and the password, each with a one-byte length.
        byte[] user = Encoding.UTF8.GetBytes(credential!.UserName), password = Encoding.UTF8.GetBytes(credential.Password);
        await socket.SendAsync((byte[])[1, (byte)user.Length, .. user, (byte)password.Length, .. password], cancellationToken).ConfigureAwait(false);
        var status = new byte[2];
        await ReadExactlyAsync(socket, status, cancellationToken).ConfigureAwait(false);
        if (status[1] != 0)
            throw new UpstreamException(UpstreamFailure.Prohibited, $"the SOCKS5 proxy {proxy} refused our username and password");
    }

    /// <summary>ATYP, address and port (RFC 1928 4 and 7); returns the bytes written.</summary>
    static int WriteAddress(Span<byte> destination, IPEndPoint endPoint)
    {
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        bool ipv4 = address.AddressFamily == AddressFamily.InterNetwork;
        destination[0] = ipv4 ? AddressIpv4 : AddressIpv6;
        address.TryWriteBytes(destination[1..], out int written);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(1 + written)..], (ushort)endPoint.Port);
        return 1 + written + 2;
    }

    /// <summary>Reads an address of type <paramref name="type"/> and a port; a domain name reads as the unspecified address.</summary>
    static async Task<IPEndPoint> ReadAddressAsync(Socket socket, byte type, CancellationToken cancellationToken)
    {
        int length = type switch
        {
            AddressIpv4 => 4,
            AddressIpv6 => 16,
            AddressDomain => -1,
            _ => throw new UpstreamException(UpstreamFailure.HostUnreachable, $"a SOCKS5 reply with address type {type}"),
        };
        if (length < 0)
        {
            var size = new byte[1];
            await ReadExactlyAsync(socket, size, cancellationToken).ConfigureAwait(false);
            var skipped = new byte[size[0] + 2];
            await ReadExactlyAsync(socket, skipped, cancellationToken).ConfigureAwait(false);
            return new IPEndPoint(IPAddress.Any, BinaryPrimitives.ReadUInt16BigEndian(skipped.AsSpan(size[0])));
        }
        var bytes = new byte[length + 2];
        await ReadExactlyAsync(socket, bytes, cancellationToken).ConfigureAwait(false);
        return new IPEndPoint(new IPAddress(bytes.AsSpan(0, length)), BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(length)));
    }

    static async Task ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            int read = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
                throw new UpstreamException(UpstreamFailure.HostUnreachable, "the SOCKS5 proxy closed the connection mid-reply");
            buffer = buffer[read..];
        }
    }

    /// <summary>RFC 1928 6's reply codes as the client should see them.</summary>
    static UpstreamFailure FailureOf(byte reply) => reply switch
    {
        2 => UpstreamFailure.Prohibited,
        3 => UpstreamFailure.NetworkUnreachable,
        5 => UpstreamFailure.Refused,
        _ => UpstreamFailure.HostUnreachable,
    };

    static string ReplyName(byte reply) => reply switch
    {
        1 => "general failure",
        2 => "not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => $"reply {reply}",
    };

    /// <summary>A UDP association: datagrams to the relay behind RFC 1928 7's header; it lives while the control connection does.</summary>
    sealed class RelayedDatagrams(Socket control, Socket socket, IPEndPoint relay) : UpstreamDatagrams
    {
        static readonly IPEndPoint AnyEndPoint = new(IPAddress.IPv6Any, 0);

        public override async ValueTask SendAsync(ReadOnlyMemory<byte> payload, IPEndPoint destination, CancellationToken cancellationToken)
        {
            // The header and the payload go out as one datagram: a buffer is borrowed for each, none kept while idle.
            var datagram = ArrayPool<byte>.Shared.Rent(3 + 19 + payload.Length);
            try
            {
                // RSV (2), FRAG 0 (no fragmentation, RFC 1928 7), then the destination.
                datagram[0] = datagram[1] = datagram[2] = 0;
                int header = 3 + WriteAddress(datagram.AsSpan(3), destination);
                payload.CopyTo(datagram.AsMemory(header));
                await socket.SendToAsync(datagram.AsMemory(0, header + payload.Length), SocketFlags.None, relay, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(datagram);
            }
        }

        public override async ValueTask WaitAsync(CancellationToken cancellationToken) =>
            await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);

        public override async ValueTask<(int Length, IPEndPoint From)> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            while (true)
            {
                var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, AnyEndPoint, cancellationToken).ConfigureAwait(false);
                var datagram = buffer.Span[..result.ReceivedBytes];
                // Only the relay speaks for the association; anything else, or a fragment, is dropped.
                if (!HostSockets.DualMode((IPEndPoint)result.RemoteEndPoint).Equals(relay) || datagram.Length < 10 || datagram[2] != 0)
                    continue;
                int addressLength = datagram[3] switch { AddressIpv4 => 4, AddressIpv6 => 16, _ => -1 };
                int header = 4 + addressLength + 2;
                if (addressLength < 0 || datagram.Length < header)
                    continue;
                var from = new IPEndPoint(new IPAddress(datagram.Slice(4, addressLength)), BinaryPrimitives.ReadUInt16BigEndian(datagram[(4 + addressLength)..]));
                // The payload moves to the front of the buffer, where the caller reads it.
                datagram[header..].CopyTo(buffer.Span);
                return (datagram.Length - header, HostSockets.Unmapped(from));
            }
        }

        public override ValueTask DisposeAsync()
        {
            socket.Dispose();
            control.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
