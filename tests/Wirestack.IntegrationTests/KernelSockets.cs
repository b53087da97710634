using System.Net;
using System.Net.Sockets;

namespace Wirestack.IntegrationTests;

/// <summary>
/// Kernel sockets created inside a test namespace from this process (the socket keeps the namespace it was made in),
/// so one process can drive thousands of kernel-side connections without spawning tools.
/// </summary>
internal static class KernelSockets
{
    public static Socket Listen(TestNamespace ns, IPEndPoint endPoint, int backlog = 4096) =>
        Interop.NetworkNamespace.Run(ns.Name, () =>
        {
            var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        });

    public static Socket NewStreamSocket(TestNamespace ns) =>
        Interop.NetworkNamespace.Run(ns.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));

    /// <summary>Accepts until cancelled; each connection echoes everything back and closes after the peer's FIN.</summary>
    public static async Task ServeEchoAsync(Socket listener, CancellationToken cancellationToken)
    {
        var handlers = new List<Task>();
        try
        {
            while (true)
            {
                var connection = await listener.AcceptAsync(cancellationToken);
                handlers.Add(Task.Run(async () =>
                {
                    using (connection)
                    {
                        var buffer = new byte[65536];
                        try
                        {
                            int n;
                            while ((n = await connection.ReceiveAsync(buffer, cancellationToken)) > 0)
                                await connection.SendAsync(buffer.AsMemory(0, n), cancellationToken);
                            connection.Shutdown(SocketShutdown.Send);
                        }
                        catch (Exception e) when (e is SocketException or OperationCanceledException)
                        {
                        }
                    }
                }, CancellationToken.None));
                handlers.RemoveAll(t => t.IsCompleted);
            }
        }
        catch (OperationCanceledException)
        {
        }
        await Task.WhenAll(handlers);
    }
}
