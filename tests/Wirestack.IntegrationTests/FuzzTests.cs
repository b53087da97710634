namespace Wirestack.IntegrationTests;

/// <summary>CI's burst of coverage-guided fuzzing: on its own, so that it takes no CPU from timed network tests.</summary>
[CollectionDefinition("Fuzzing", DisableParallelization = true)]
public sealed class FuzzingCollection;

[Collection("Fuzzing")]
public sealed class FuzzTests
{
    [Fact(DisplayName = "Fuzzing burst (afl++ through SharpFuzz): the frame target for 60 s and every parser target for 10 s find no crash, hang or broken invariant")]
    public async Task Burst()
    {
        Prerequisites.Require("afl-fuzz");
        string root = Wirestack.Testing.RepositoryRoot.Path;
        var result = await ProcessRunner.RunAsync("bash", [Path.Combine(root, "scripts", "fuzz.sh"), "--burst"], TimeSpan.FromMinutes(10));
        TestContext.Current.TestOutputHelper?.WriteLine(result.All);
        Assert.True(result.ExitCode == 0, $"scripts/fuzz.sh --burst exited {result.ExitCode}:\n{result.All}");
        Assert.Equal(Directory.GetDirectories(Path.Combine(root, "fuzz", "corpus")).Length,
            result.Output.Split('\n').Count(line => line.Contains(" executions in ", StringComparison.Ordinal)));
    }
}
