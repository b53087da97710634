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
}
