// A namespace's traffic through a policy of your own, with the forwarding API directly: every TCP connection and
// UDP datagram that enters a TUN is checked against a deny list, carried on the host's sockets when allowed, and
// counted per flow. wirestack-tunnel does the same with proxies and options; this is the part you would change.
//   dotnet run --project samples/FlowPolicy -- tun0 0x77 203.0.113.0/28 2001:db8::/32
// Arguments: the TUN (created when missing), the firewall mark for the program's own sockets (route marked packets
// around the TUN: ip rule add fwmark 0x77 lookup 100), then the destination prefixes to deny. Then, in the namespace:
//   ip route add default dev tun0
using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Wirestack;
using Wirestack.Devices;

string device = args.Length > 0 ? args[0] : "tun0";
int mark = args.Length > 1 ? int.Parse(args[1].Replace("0x", "", StringComparison.OrdinalIgnoreCase), NumberStyles.HexNumber, CultureInfo.InvariantCulture) : 0x77;
var denied = args.Skip(2).Select(IPNetwork.Parse).ToArray();

using var stop = new CancellationTokenSource();
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

using var tun = TunDevice.Open(device);
tun.ConfigureHostSide(IPAddress.Parse("198.18.0.1"), 15);
tun.BringHostSideUp();
await using var stack = await NetworkStack.StartAsync(tun, new StackOptions
{
    // The stack's own address matters only for traffic to itself; everything else is forwarded to the handlers.
    Ipv4 = Ipv4Settings.Static("198.18.0.2/15"),
    Forwarding = new ForwardingSettings { UdpIdleTimeout = TimeSpan.FromSeconds(30) },
});
await using var tcp = await stack.ForwardTcpAsync();
await using var udp = await stack.ForwardUdpAsync();
Console.WriteLine($"Routing {device} through the policy: {denied.Length} prefixes denied");
try
{
    await Task.WhenAll(AcceptTcpAsync(), AcceptUdpAsync());
}
catch (OperationCanceledException)
{
}
Console.WriteLine("Stopped");

bool Allows(IPAddress destination) => !denied.Any(prefix => prefix.Contains(destination.IsIPv4MappedToIPv6 ? destination.MapToIPv4() : destination));

// The program's own sockets carry the mark, so that policy routing sends them out of the namespace, not into the TUN.
Socket MarkedSocket(SocketType type, ProtocolType protocol)
{
    var socket = new Socket(AddressFamily.InterNetworkV6, type, protocol) { DualMode = true };
    socket.SetRawSocketOption(1 /* SOL_SOCKET */, 36 /* SO_MARK */, BitConverter.GetBytes(mark));
    return socket;
}

async Task AcceptTcpAsync()
{
    while (true)
    {
        var request = await tcp.AcceptAsync(stop.Token);
        _ = CarryTcpAsync(request);
    }
}

async Task CarryTcpAsync(TcpForwardRequest request)
{
    string flow = $"tcp {request.Source} -> {request.Destination}";
    if (!Allows(request.Destination.Address))
    {
        // The client hears "administratively prohibited", as from a firewall on the path.
        request.Unreachable(ForwardUnreachable.Prohibited);
        Console.WriteLine($"{flow} denied");
        return;
    }
    var server = MarkedSocket(SocketType.Stream, ProtocolType.Tcp);
    try
    {
        // Upstream first: the client's handshake completes only if the destination's did.
        await server.ConnectAsync(request.Destination, stop.Token);
    }
    catch (SocketException e)
    {
        server.Dispose();
        if (e.SocketErrorCode == SocketError.ConnectionRefused)
            request.Refuse();
        else
            request.Unreachable(ForwardUnreachable.Host);
        Console.WriteLine($"{flow} failed upstream: {e.SocketErrorCode}");
        return;
    }
    await using var client = await request.AcceptAsync(stop.Token);
    using (server)
    await using (var upstream = new NetworkStream(server, ownsSocket: false))
    {
        var toServer = CopyAsync(client, upstream, () => server.Shutdown(SocketShutdown.Send));
        var toClient = CopyAsync(upstream, client, client.ShutdownSend);
        long up = 0, down = 0;
        try
        {
            up = await toServer;
            down = await toClient;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            client.Abort();
        }
        Console.WriteLine($"{flow} allowed, {up} bytes up, {down} bytes down");
    }
}

// Bytes one way until the source ends, then that end passed on (a half-close); returns how many.
async Task<long> CopyAsync(Stream from, Stream to, Action finished)
{
    var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    try
    {
        long total = 0;
        int read;
        while ((read = await from.ReadAsync(buffer, stop.Token)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, read), stop.Token);
            total += read;
        }
        finished();
        return total;
    }
    finally
    {
        ArrayPool<byte>.Shared.Return(buffer);
    }
}

async Task AcceptUdpAsync()
{
    while (true)
    {
        var session = await udp.AcceptAsync(stop.Token);
        _ = CarryUdpAsync(session);
    }
}

// One host socket per client end point, whatever it sends to: replies come back from their true sources.
async Task CarryUdpAsync(UdpForwardSession session)
{
    await using var _ = session;
    using var socket = MarkedSocket(SocketType.Dgram, ProtocolType.Udp);
    socket.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
    long up = 0, down = 0, dropped = 0;
    using var ended = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
    var replies = Task.Run(async () =>
    {
        var buffer = new byte[65536];
        while (true)
        {
            var result = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.IPv6Any, 0), ended.Token);
            var from = (IPEndPoint)result.RemoteEndPoint;
            from = new IPEndPoint(from.Address.IsIPv4MappedToIPv6 ? from.Address.MapToIPv4() : from.Address, from.Port);
            await session.SendAsync(buffer.AsMemory(0, result.ReceivedBytes), from, ended.Token);
            down += result.ReceivedBytes;
        }
    });
    try
    {
        // Ends when the session idles out (UdpIdleTimeout) or the stack stops.
        while (true)
        {
            var datagram = await session.ReceiveAsync(stop.Token);
            if (!Allows(datagram.Destination.Address))
            {
                dropped++;
                continue;
            }
            var destination = datagram.Destination.AddressFamily == AddressFamily.InterNetwork
                ? new IPEndPoint(datagram.Destination.Address.MapToIPv6(), datagram.Destination.Port) : datagram.Destination;
            await socket.SendToAsync(datagram.Payload, destination, stop.Token);
            up += datagram.Payload.Length;
        }
    }
    catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
    {
    }
    await ended.CancelAsync();
    try
    {
        await replies;
    }
    catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
    {
    }
    Console.WriteLine($"udp {session.Client}: {up} bytes up, {down} bytes down, {dropped} datagrams denied");
}

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}
