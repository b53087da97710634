using System.Net;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Wirestack.Transport.Buffers;

namespace Wirestack.Tests;

/// <summary>
/// Kestrel writes its responses straight into the connection's send ring (the pipe writer hands out the ring's own
/// memory). The engine tops that ring up and trims it on its own thread at the same time; these tests loop the
/// exchange until a race between the two would show as corrupt, missing or hanging responses.
/// </summary>
public sealed class KestrelOutputStressTests
{
    /// <summary>The body for a size and seed: the client checks every byte against it.</summary>
    static byte[] Body(int size, int seed)
    {
        var body = new byte[size];
        new Random(seed).NextBytes(body);
        return body;
    }

    [Fact(DisplayName = "Kestrel output written in place into the send ring: 3,000 keep-alive exchanges of 0 B to 300 KiB on 8 connections at once, with Content-Length or chunked, written in random pieces and flushes, and JSON of up to 3 MB serialized into the pipe, all arrive intact")]
    public async Task ManyExchangesArriveIntact()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await StackPair.StartAsync("10.7.0", ct);
        var (client, server) = (pair.Left, pair.Right);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseWirestack(server, listen => listen.Listen(80));
        await using var app = builder.Build();

        app.MapGet("/data/{size:int}/{seed:int}", async (HttpContext context, int size, int seed) =>
        {
            var body = Body(size, seed);
            var pieces = new Random(~seed);
            // Half with Content-Length, half chunked: Kestrel's chunked writer asks for memory again before it
            // advances and expects what it wrote there to stay.
            if (seed % 2 == 0)
                context.Response.ContentLength = size;
            var writer = context.Response.BodyWriter;
            int offset = 0;
            while (offset < size)
            {
                // Pieces through GetSpan/Advance with and without a size hint, and through Write; flushes between some.
                int piece = Math.Min(size - offset, pieces.Next(3) switch { 0 => pieces.Next(1, 100), 1 => pieces.Next(100, 6000), _ => pieces.Next(6000, 70000) });
                if (pieces.Next(2) == 0)
                {
                    var span = writer.GetSpan(pieces.Next(2) == 0 ? 0 : Math.Min(piece, 8192));
                    piece = Math.Min(piece, span.Length);
                    body.AsSpan(offset, piece).CopyTo(span);
                    writer.Advance(piece);
                }
                else
                {
                    await context.Response.Body.WriteAsync(body.AsMemory(offset, piece));
                }
                offset += piece;
                if (pieces.Next(3) == 0)
                    await writer.FlushAsync();
            }
            // Kestrel flushes at the end of a Content-Length response only what went through its own writes since
            // the last flush, not bytes advanced on BodyWriter: an application that advances must flush.
            await writer.FlushAsync();
        });
        app.MapGet("/json/{count:int}", (int count) => Results.Json(new { points = Enumerable.Range(0, count).Select(i => new { a = i, b = "p" + i }).ToArray() }));
        await app.StartAsync(ct);

        using var handler = client.CreateHttpMessageHandler();
        handler.MaxConnectionsPerServer = 8;
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        const int Exchanges = 3000;
        int next = 0;
        var failures = new List<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 8), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (_, token) =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) <= Exchanges)
            {
                var sizes = new Random(i);
                int size = sizes.Next(4) switch { 0 => sizes.Next(0, 100), 1 => sizes.Next(100, 5000), 2 => sizes.Next(5000, 70000), _ => sizes.Next(70000, 300_000) };
                var received = await http.GetByteArrayAsync($"http://10.7.0.2/data/{size}/{i}", token);
                if (!received.AsSpan().SequenceEqual(Body(size, i)))
                {
                    lock (failures)
                        failures.Add($"exchange {i}: {received.Length} of {size} bytes, first difference at {received.AsSpan().CommonPrefixLength(Body(size, i))}");
                }
            }
        });
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
        foreach (int count in new[] { 0, 10, 1000, 20_000, 120_000 })
        {
            using var json = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://10.7.0.2/json/{count}", ct));
            var points = json.RootElement.GetProperty("points");
            Assert.Equal(count, points.GetArrayLength());
            if (count > 0)
                Assert.Equal("p" + (count - 1), points[count - 1].GetProperty("b").GetString());
        }
        await app.StopAsync(ct);
    }

    [Fact(DisplayName = "The connection's pipe writer hands out the send ring's own memory where the ring has room, and its pooled buffer where it has none")]
    public async Task PipeWriterWritesInPlace()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = await StackPair.StartAsync("10.7.1", ct);
        await using var listener = await pair.Right.ListenTcpAsync(80);
        await using var connection = await pair.Left.ConnectTcpAsync(new IPEndPoint(pair.RightAddress, 80), ct);
        await using var accepted = await listener.AcceptAsync(ct);

        // The first write finds no room reserved: it is gathered in the writer's buffer and copied at the flush,
        // which also asks the engine for room.
        var first = connection.Output.GetMemory(100);
        Assert.False(OwnedByRing(first, connection));
        connection.Output.Advance(100);
        await connection.Output.FlushAsync(ct);

        // Now the ring has room: the writer hands out the ring's memory itself.
        var memory = connection.Output.GetMemory(100);
        Assert.True(OwnedByRing(memory, connection));
        memory.Span[..100].Fill(9);
        connection.Output.Advance(100);
        await connection.Output.FlushAsync(ct);

        var received = new byte[200];
        int total = 0;
        while (total < received.Length)
            total += await accepted.ReadAsync(received.AsMemory(total), ct);
        Assert.All(received[100..], value => Assert.Equal(9, value));
    }

    /// <summary>True when <paramref name="memory"/> lies in a chunk of the connection's send ring.</summary>
    static bool OwnedByRing(Memory<byte> memory, TcpConnection connection)
    {
        Assert.True(MemoryMarshal.TryGetArray<byte>(memory, out var segment));
        var ring = connection.SendRing!;
        // The writer holds the ring's writing side while it hands out in-place memory: the ring's chunk at the tail
        // is then the same array.
        return segment.Array!.Length == BufferChunk.Size && ReferenceEquals(segment.Array, MemoryMarshal.TryGetArray<byte>(ring.WritableMemory(0), out var chunk) ? chunk.Array : null);
    }
}
