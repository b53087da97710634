using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Wirestack.Tunnel.Upstreams;

namespace Wirestack.Tunnel;

/// <summary>
/// Forwarded ping: each echo request is sent on to its destination from the host (a raw ICMP socket, marked and bound
/// like the tunnel's other sockets) with the client's sequence number and data, and the client is
/// answered as the destination answered: a reply when it replied (so the round trip is the real one), the
/// destination unreachable a router sent, or nothing when nothing came back in time. Through a proxy, which carries
/// no ICMP, requests are dropped: a local answer would be a lie about the path.
/// </summary>
internal sealed class EchoRelay(Upstream upstream, HostSockets? sockets, DestinationPolicy policy, TunnelCounters counters, ILogger logger)
{
    const string Transport = "icmp";

    /// <summary>Pings in flight at most; more are dropped (a ping flood costs one socket per request, so it is bounded).</summary>
    const int MaxInFlight = 256;

    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    readonly SemaphoreSlim _inFlight = new(MaxInFlight);

    public Task RunAsync(EchoForwarder forwarder, CancellationToken stop) =>
        RelayLoop.RunAsync(forwarder.AcceptAsync, request => HandleAsync(request, stop), logger, stop);

    Task HandleAsync(EchoForwardRequest request, CancellationToken stop)
    {
        if (!policy.Allows(request.Destination))
        {
            counters.Denied(Transport);
            request.Unreachable(ForwardUnreachable.Prohibited);
            return Task.CompletedTask;
        }
        if (!upstream.CarriesPing || sockets is null || !_inFlight.Wait(0))
        {
            request.Drop();
            return Task.CompletedTask;
        }
        return PingAsync(request, sockets, stop);
    }

    async Task PingAsync(EchoForwardRequest request, HostSockets sockets, CancellationToken stop)
    {
        try
        {
            bool ipv4 = request.Destination.AddressFamily == AddressFamily.InterNetwork;
            using var socket = sockets.Create(SocketType.Raw, ipv4 ? ProtocolType.Icmp : ProtocolType.IcmpV6, ipv4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6);
            var message = new byte[8 + request.Data.Length];
            message[0] = ipv4 ? (byte)8 : (byte)128;
            // An identifier of our own upstream: a raw-socket ping on this host (the client, often) hears the host's
            // ICMP too, and must not take the upstream reply for one of its own.
            ushort identifier = (ushort)Random.Shared.Next(1, 65536);
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), identifier);
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), request.SequenceNumber);
            request.Data.CopyTo(message.AsMemory(8));
            // The kernel sums ICMPv6 itself (RFC 3542 3.1); ICMPv4 is summed here.
            if (ipv4)
                BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), InternetChecksum(message));
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(stop);
            limit.CancelAfter(Timeout);
            var destination = new IPEndPoint(request.Destination, 0);
            await socket.SendToAsync(message, SocketFlags.None, destination, limit.Token).ConfigureAwait(false);
            var answer = await AwaitAnswerAsync(socket, request, identifier, ipv4, limit.Token).ConfigureAwait(false);
            if (answer is null)
                request.Reply();
            else
                request.Unreachable(answer.Value);
            counters.Opened(Transport);
            counters.Closed(Transport);
        }
        catch (OperationCanceledException)
        {
            request.Drop();
        }
        catch (SocketException e)
        {
            logger.LogDebug("ping {Source} -> {Destination}: {Error}", request.Source, request.Destination, e.SocketErrorCode);
            counters.Failed(Transport, e.SocketErrorCode.ToString());
            request.Drop();
        }
        finally
        {
            _inFlight.Release();
        }
    }

    /// <summary>Null when the destination replied; the unreachable a router sent about our request otherwise.</summary>
    static async Task<ForwardUnreachable?> AwaitAnswerAsync(Socket socket, EchoForwardRequest request, ushort identifier, bool ipv4, CancellationToken cancellationToken)
    {
        var buffer = new byte[1500];
        var any = new IPEndPoint(ipv4 ? IPAddress.Any : IPAddress.IPv6Any, 0);
        while (true)
        {
            var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cancellationToken).ConfigureAwait(false);
            var icmp = buffer.AsSpan(0, result.ReceivedBytes);
            // A raw IPv4 socket hands over the IP header too; a raw IPv6 one only the message.
            if (ipv4)
            {
                if (icmp.Length < 20)
                    continue;
                icmp = icmp[((icmp[0] & 0x0F) * 4)..];
            }
            if (icmp.Length < 8)
                continue;
            var from = ((IPEndPoint)result.RemoteEndPoint).Address;
            byte type = icmp[0], code = icmp[1];
            if (type == (ipv4 ? 0 : 129) && from.Equals(request.Destination) && Matches(icmp, identifier, request))
                return null;
            if (type == (ipv4 ? 3 : 1) && QuotesOurs(icmp[8..], ipv4, identifier, request))
                return ipv4 ? Ipv4Reason(code) : Ipv6Reason(code);
        }
    }

    static bool Matches(ReadOnlySpan<byte> echo, ushort identifier, EchoForwardRequest request) =>
        BinaryPrimitives.ReadUInt16BigEndian(echo[4..]) == identifier && BinaryPrimitives.ReadUInt16BigEndian(echo[6..]) == request.SequenceNumber;

    /// <summary>True when an error's quote is our request: its IP header to the destination, then our identifier and sequence.</summary>
    static bool QuotesOurs(ReadOnlySpan<byte> quote, bool ipv4, ushort identifier, EchoForwardRequest request)
    {
        int header = ipv4 ? (quote.Length >= 20 ? (quote[0] & 0x0F) * 4 : int.MaxValue) : 40;
        if (quote.Length < header + 8)
            return false;
        var destination = new IPAddress(quote.Slice(ipv4 ? 16 : 24, ipv4 ? 4 : 16));
        return destination.Equals(request.Destination) && Matches(quote[header..], identifier, request);
    }

    static ForwardUnreachable Ipv4Reason(byte code) => code switch
    {
        0 or 6 => ForwardUnreachable.Network,
        2 or 3 => ForwardUnreachable.Port,
        9 or 10 or 13 => ForwardUnreachable.Prohibited,
        _ => ForwardUnreachable.Host,
    };

    static ForwardUnreachable Ipv6Reason(byte code) => code switch
    {
        0 => ForwardUnreachable.Network,
        1 or 5 or 6 => ForwardUnreachable.Prohibited,
        4 => ForwardUnreachable.Port,
        _ => ForwardUnreachable.Host,
    };

    static ushort InternetChecksum(ReadOnlySpan<byte> bytes)
    {
        ulong sum = 0;
        for (int i = 0; i + 1 < bytes.Length; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(bytes[i..]);
        if ((bytes.Length & 1) != 0)
            sum += (uint)bytes[^1] << 8;
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }
}
