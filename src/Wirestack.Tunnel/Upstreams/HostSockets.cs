using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Wirestack.Tunnel.Upstreams;

/// <summary>
/// The host's sockets as the tunnel opens them: bound to an interface (SO_BINDTODEVICE) or marked (SO_MARK) so that
/// policy routing sends them out of the host, not back into the TUN the tunnel reads.
/// </summary>
internal sealed class HostSockets(string? bindInterface, int? mark)
{
    const int SolSocket = 1, SoBindToDevice = 25, SoMark = 36;

    public string? BindInterface { get; } = bindInterface;
    public int? Mark { get; } = mark;

    /// <summary>The capabilities making these sockets takes: CAP_NET_ADMIN for a mark, CAP_NET_RAW for raw sockets and an interface.</summary>
    public IEnumerable<int> CapabilitiesNeeded(bool rawSockets)
    {
        if (Mark is not null)
            yield return PrivilegedThread.NetAdmin;
        if (rawSockets || BindInterface is not null)
            yield return PrivilegedThread.NetRaw;
    }

    /// <summary>Where sockets are made once the process gave up root (null: on the calling thread).</summary>
    public PrivilegedThread? Privileged { get; set; }

    /// <summary>A socket of <paramref name="type"/> (dual-stack unless raw), bound and marked as configured.</summary>
    public Socket Create(SocketType type, ProtocolType protocol, AddressFamily family = AddressFamily.InterNetworkV6) =>
        Privileged is { } privileged ? privileged.Run(() => CreateHere(type, protocol, family)) : CreateHere(type, protocol, family);

    Socket CreateHere(SocketType type, ProtocolType protocol, AddressFamily family)
    {
        var socket = new Socket(family, type, protocol);
        try
        {
            if (family == AddressFamily.InterNetworkV6 && type != SocketType.Raw)
                socket.DualMode = true;
            Apply(socket);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    void Apply(Socket socket)
    {
        if (Mark is { } mark)
            socket.SetRawSocketOption(SolSocket, SoMark, BitConverter.GetBytes(mark));
        if (BindInterface is { } name)
            socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(name + "\0"));
    }

    /// <summary>An end point as a dual-stack socket takes it (IPv4 as IPv4-mapped IPv6).</summary>
    public static IPEndPoint DualMode(IPEndPoint endPoint) =>
        endPoint.AddressFamily == AddressFamily.InterNetwork ? new IPEndPoint(endPoint.Address.MapToIPv6(), endPoint.Port) : endPoint;

    /// <summary>An end point as the client sees it (an IPv4-mapped address as IPv4).</summary>
    public static IPEndPoint Unmapped(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    /// <summary>A TCP connection to <paramref name="endPoint"/> within <paramref name="timeout"/>.</summary>
    /// <exception cref="UpstreamException">Refused, unreachable or timed out.</exception>
    public async Task<Socket> ConnectAsync(IPEndPoint endPoint, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        Socket socket;
        try
        {
            socket = Create(SocketType.Stream, ProtocolType.Tcp);
        }
        catch (SocketException e)
        {
            throw UpstreamException.FromSocket(e, what);
        }
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            socket.NoDelay = true;
            await socket.ConnectAsync(DualMode(endPoint), limit.Token).ConfigureAwait(false);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw UpstreamException.FromSocket(e, what);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new UpstreamException(UpstreamFailure.HostUnreachable, $"{what}: no answer within {timeout.TotalSeconds:0.#} s");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
