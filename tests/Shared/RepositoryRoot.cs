namespace Wirestack.Testing;

/// <summary>The checkout the tests run from: the directory above the test binaries that holds Wirestack.slnx.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    static string Find()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(System.IO.Path.Combine(directory.FullName, "Wirestack.slnx")))
            directory = directory.Parent;
        return directory?.FullName ?? throw new DirectoryNotFoundException("the repository root (Wirestack.slnx) is not above the test binaries");
    }
}
