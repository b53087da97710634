// UDP and TCP echo (RFC 862, port 7) on Wirestack: the smallest program that serves something over a TAP device.
//   dotnet run --project samples/Echo -- tap0 192.168.0.2/24
// Then, from the host side of tap0:  nc 192.168.0.2 7   /   nc -u 192.168.0.2 7
using System.Runtime.InteropServices;
using Wirestack;
using Wirestack.Devices;

string interfaceName = args.Length > 0 ? args[0] : "tap0";
string address = args.Length > 1 ? args[1] : "192.168.0.2/24";

// Ctrl-C and SIGTERM (systemctl stop, kill) end the program through the same orderly path.
using var stop = new CancellationTokenSource();
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

using var device = TapDevice.Open(interfaceName);
await using var stack = await NetworkStack.StartAsync(device, new StackOptions { Ipv4 = Ipv4Settings.Static(address) });
await stack.WaitUntilReadyAsync(stop.Token);
Console.WriteLine($"Echo on {address} (UDP and TCP port 7) through {device}");

using var udp = await stack.BindUdpAsync(7);
await using var tcp = await stack.ListenTcpAsync(7);
try
{
    await Task.WhenAll(EchoUdpAsync(udp, stop.Token), AcceptTcpAsync(tcp, stop.Token));
}
catch (OperationCanceledException)
{
}
Console.WriteLine("Stopped");

static async Task EchoUdpAsync(UdpSocket socket, CancellationToken cancellationToken)
{
    while (true)
    {
        var datagram = await socket.ReceiveAsync(cancellationToken);
        await socket.SendToAsync(datagram.Buffer, datagram.RemoteEndPoint, cancellationToken);
    }
}

static async Task AcceptTcpAsync(TcpListener listener, CancellationToken cancellationToken)
{
    while (true)
    {
        var connection = await listener.AcceptAsync(cancellationToken);
        _ = EchoTcpAsync(connection, cancellationToken);
    }
}

static async Task EchoTcpAsync(TcpConnection connection, CancellationToken cancellationToken)
{
    await using (connection)
    {
        try
        {
            // CopyToAsync ends when the peer closes its side; then this side closes too.
            await connection.CopyToAsync(connection, cancellationToken);
            connection.ShutdownSend();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
        }
    }
}

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}
