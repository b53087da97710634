using Wirestack.Fuzz;

namespace Wirestack.Tests;

/// <summary>
/// Every fuzzing target's committed corpus (seeds from real traffic, and every input a campaign found) replayed with
/// the target's invariants, so that a regression of anything fuzzing once reached fails here.
/// </summary>
public sealed class FuzzCorpusTests
{
    public static TheoryData<string> Targets => [.. FuzzTarget.All.Select(t => t.Name)];

    [Theory(DisplayName = "Fuzzing corpus replay: each input of the target's corpus keeps its invariants (no exception, bounds, resources back, stream intact)")]
    [MemberData(nameof(Targets))]
    public void CorpusKeepsInvariants(string target)
    {
        var fuzz = FuzzTarget.Find(target)!;
        var inputs = Directory.GetFiles(Path.Combine(Testing.RepositoryRoot.Path, "fuzz", "corpus", target));
        Assert.NotEmpty(inputs);
        foreach (string path in inputs)
        {
            try
            {
                fuzz.Run(File.ReadAllBytes(path));
            }
            catch (Exception e)
            {
                Assert.Fail($"{Path.GetFileName(path)}: {e}");
            }
        }
    }

    [Fact(DisplayName = "Fuzzing: every target has a corpus, and every corpus a target")]
    public void CorporaMatchTargets()
    {
        var corpora = Directory.GetDirectories(Path.Combine(Testing.RepositoryRoot.Path, "fuzz", "corpus")).Select(Path.GetFileName).Order();
        Assert.Equal(FuzzTarget.All.Select(t => t.Name).Order(), corpora);
    }

    [Fact(DisplayName = "Fuzzing: the frames target's forwarding configuration (bit 3) reaches the forwarders: its seed's four SYNs to another address are offered, its datagram opens a session, and the invariants hold after the run")]
    public void ForwardingSeedReachesTheForwarders()
    {
        byte[] input = File.ReadAllBytes(Path.Combine(Testing.RepositoryRoot.Path, "fuzz", "corpus", "frames", "forwarding-tcp-udp"));
        FuzzTarget.Find("frames")!.Run(input);
        using var lan = new FuzzedLan(input[0]);
        lan.Run(TimeSpan.FromSeconds(3));
        for (int at = 1; at + 3 <= input.Length;)
        {
            int length = input[at + 1] << 8 | input[at + 2];
            lan.Inject(input.AsSpan(at + 3, length), default);
            lan.Run(TimeSpan.FromMilliseconds(50));
            at += 3 + length;
        }
        Assert.Equal(4, lan.A.Counters[StackCounter.TcpForwardRequests]);
        Assert.Equal(1, lan.A.Counters[StackCounter.UdpForwardSessions]);
    }
}
