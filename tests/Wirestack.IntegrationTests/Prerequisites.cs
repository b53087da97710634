namespace Wirestack.IntegrationTests;

/// <summary>
/// What an integration test needs from the machine. Missing prerequisites skip the test on a developer's machine
/// and fail it in CI (CI=true), where every integration test must run.
/// </summary>
internal static class Prerequisites
{
    static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void Require(params string[] tools)
    {
        if (!OperatingSystem.IsLinux())
            Missing("Linux is needed");
        if (Environment.UserName != "root" && !string.Equals(Environment.GetEnvironmentVariable("USER"), "root", StringComparison.Ordinal))
            Missing("root is needed to create network namespaces and TAP devices");
        if (!File.Exists("/dev/net/tun"))
            Missing("/dev/net/tun is missing");
        foreach (var tool in new[] { "ip" }.Concat(tools))
        {
            if (!OnPath(tool))
                Missing($"'{tool}' is not installed (scripts/test.sh installs it as root)");
        }
    }

    static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin:/usr/sbin:/sbin").Split(':')
            .Concat(["/usr/sbin", "/sbin"])
            .Any(directory => File.Exists(Path.Combine(directory, tool)));

    static void Missing(string reason)
    {
        if (InCi)
            Assert.Fail($"Integration prerequisite missing in CI: {reason}.");
        Assert.Skip(reason);
    }
}
