using Wirestack.Devices;
using Wirestack.Transport.Tcp;

namespace Wirestack.Tests;

/// <summary>Two engines over an impaired in-memory link on a virtual clock: each seed replays exactly.</summary>
public sealed class TcpSimulationTests(ITestOutputHelper output)
{
    internal static (bool Ok, string Detail, long SimulatedMicroseconds) Transfer(int seed, int bytesEachWay, ImpairmentOptions impairment, TimeSpan limit)
    {
        using var net = new TwoEngines(impairment with { Seed = seed * 2 }, impairment with { Seed = seed * 2 + 1 });
        var listener = new RecordingListener();
        net.B.ListenTcp(80, 16, listener);
        var client = new RecordingConnection();
        if (!net.RunUntil(() => net.A.State == StackState.Ready && net.B.State == StackState.Ready, TimeSpan.FromSeconds(5)))
            return (false, "not ready", net.Now);
        var connection = net.A.ConnectTcp(TwoEngines.AddressB, 80, client);
        client.Connection = connection;
        if (!net.RunUntil(() => listener.Accepted.Count == 1, TimeSpan.FromSeconds(60)))
            return (false, $"no accept; client {connection.State} {client.ClosedWith}", net.Now);
        var server = listener.Accepted[0];
        var up = Frames.RandomBytes(bytesEachWay, seed);
        var down = Frames.RandomBytes(bytesEachWay, seed + 100_000);
        var upFeeder = new Feeder(connection, up);
        var downFeeder = new Feeder(server.Connection!, down);
        bool shutA = false, shutB = false;
        bool done = net.RunUntil(() =>
        {
            upFeeder.Pump();
            downFeeder.Pump();
            if (upFeeder.Done && !shutA)
            {
                connection.Shutdown();
                shutA = true;
            }
            if (downFeeder.Done && !shutB)
            {
                server.Connection!.Shutdown();
                shutB = true;
            }
            return client.ClosedWith is not null && server.ClosedWith is not null;
        }, limit);
        string detail = $"seed {seed}: up {server.Received.Length}/{up.Length}, down {client.Received.Length}/{down.Length}, " +
            $"client {connection.State} {client.ClosedWith}, server {server.Connection!.State} {server.ClosedWith}, t={net.Now / 1e6:0.0}s " +
            $"client {connection.GetInfo()}";
        if (!done)
            return (false, "timeout: " + detail, net.Now);
        bool ok = server.Received.ToArray().AsSpan().SequenceEqual(up) && client.Received.ToArray().AsSpan().SequenceEqual(down)
            && client.ClosedWith == System.Net.Sockets.SocketError.Success && server.ClosedWith == System.Net.Sockets.SocketError.Success;
        return (ok, detail, net.Now);
    }

    [Fact(DisplayName = "RFC 9293 + RFC 6298/5681/2018 simulation: 200 seeds, 0-10% loss, duplication, reordering, corruption: 1 MiB each way arrives byte-exact and closes cleanly")]
    public void ManySeedsArriveIntact()
    {
        var failures = new List<string>();
        long worst = 0;
        for (int seed = 1; seed <= 200; seed++)
        {
            var impairment = new ImpairmentOptions
            {
                LossRate = (seed % 11) / 100.0,
                DuplicationRate = seed % 3 == 0 ? 0.02 : 0,
                ReorderRate = seed % 4 == 0 ? 0.05 : 0,
                CorruptionRate = seed % 5 == 0 ? 0.01 : 0,
                DelayMicroseconds = 1_000 + seed % 7 * 1_000,
                JitterMicroseconds = seed % 2 == 0 ? 500 : 0,
            };
            var (ok, detail, time) = Transfer(seed, 1 << 20, impairment, TimeSpan.FromSeconds(600));
            worst = Math.Max(worst, time);
            if (!ok)
                failures.Add(detail);
        }
        output.WriteLine($"longest simulated transfer: {worst / 1e6:0.0} s");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }
}
