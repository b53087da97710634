using System.Net;
using System.Net.Sockets;
using Wirestack.Wire;

namespace Wirestack.IntegrationTests;

public sealed class SntpTests
{
    [Fact(DisplayName = "RFC 4330 over TAP: the clock synchronises from an SNTP server on the host side; the offset is within 50 ms of truth")]
    public async Task SynchronisesWithinFiftyMilliseconds()
    {
        Prerequisites.Require();
        await using var tap = await TapStack.StartAsync();
        // A kernel-side SNTP server in the namespace whose clock runs 5 s ahead of this machine's.
        var truth = TimeSpan.FromSeconds(5);
        using var socket = Interop.NetworkNamespace.Run(tap.Namespace.Name, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Parse(TapStack.KernelAddress), 123));
            return s;
        });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = Task.Run(async () =>
        {
            var buffer = new byte[512];
            var reply = new byte[48];
            try
            {
                while (true)
                {
                    var received = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), stop.Token);
                    var t2 = NtpTimestamp.FromDateTime(DateTimeOffset.UtcNow + truth);
                    var origin = new NtpTimestamp(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(buffer.AsSpan(40)));
                    NtpPacket.WriteReply(reply, 2, origin, t2, NtpTimestamp.FromDateTime(DateTimeOffset.UtcNow + truth));
                    await socket.SendToAsync(reply, received.RemoteEndPoint, stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);

        await using var clock = new SntpClient(tap.Stack) { Server = TapStack.KernelAddress };
        var sample = await clock.SynchronizeAsync(TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        await server;
        Assert.InRange(sample.Offset.TotalMilliseconds, truth.TotalMilliseconds - 50, truth.TotalMilliseconds + 50);
        Assert.True(clock.IsSynchronized);
        Assert.InRange((clock.GetUtcNow() - DateTimeOffset.UtcNow - truth).Duration(), TimeSpan.Zero, TimeSpan.FromMilliseconds(50));
    }
}
