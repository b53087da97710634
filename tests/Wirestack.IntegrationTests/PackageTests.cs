namespace Wirestack.IntegrationTests;

/// <summary>The NuGet packages as a user gets them: packed from this tree, restored into a new project, used.</summary>
public sealed class PackageTests
{
    static Task<ProcessResult> DotnetAsync(string arguments, string directory, string environment = "") =>
        ProcessRunner.RunAsync("bash", ["-c", $"cd '{directory}' && DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 {environment} dotnet {arguments}"], TimeSpan.FromMinutes(5));

    /// <summary>A nuget.config in <paramref name="directory"/> naming <paramref name="feed"/> as the only package source.</summary>
    static void WriteLocalFeedConfig(string directory, string feed) =>
        File.WriteAllText(Path.Combine(directory, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources><clear /><add key="local" value="{feed}" /></packageSources>
            </configuration>
            """);

    [Fact(DisplayName = "NuGet packages: Wirestack and Wirestack.AspNetCore, packed from this tree with licence, readme, XML docs and symbols, restore into a new project from a local feed alone and serve a Kestrel app to an HttpClient over an in-memory link")]
    public async Task PackagesWorkInANewProject()
    {
        string root = Wirestack.Testing.RepositoryRoot.Path;
        string work = Directory.CreateTempSubdirectory("wirestack-packages").FullName;
        try
        {
            string feed = Path.Combine(work, "feed");
            foreach (string project in new[] { "src/Wirestack/Wirestack.csproj", "src/Wirestack.AspNetCore/Wirestack.AspNetCore.csproj" })
            {
                // Built already (the test project references them): packing is what is tested.
                var pack = await DotnetAsync($"pack {project} -c Release --no-build -o {feed}", root);
                Assert.True(pack.ExitCode == 0, pack.Output + pack.Error);
            }
            // Wirestack.<version>.nupkg, whatever the version (not Wirestack.AspNetCore.<version>.nupkg).
            static bool Core(string path) => char.IsAsciiDigit(Path.GetFileName(path)["Wirestack.".Length]);
            string package = Directory.GetFiles(feed, "Wirestack.*.nupkg").Single(Core);
            using (var archive = System.IO.Compression.ZipFile.OpenRead(package))
            {
                var entries = archive.Entries.Select(e => e.FullName).ToList();
                Assert.Contains("LICENSE", entries);
                Assert.Contains("PACKAGE.md", entries);
                Assert.Contains("lib/net10.0/Wirestack.dll", entries);
                Assert.Contains("lib/net10.0/Wirestack.xml", entries);
            }
            Assert.Single(Directory.GetFiles(feed, "Wirestack.*.snupkg"), Core);

            string app = Directory.CreateDirectory(Path.Combine(work, "app")).FullName;
            // Only the local feed: the packages must bring everything they need (the rest is the SDK's).
            WriteLocalFeedConfig(app, feed);
            File.WriteAllText(Path.Combine(app, "app.csproj"), """
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                  <ItemGroup>
                    <FrameworkReference Include="Microsoft.AspNetCore.App" />
                    <PackageReference Include="Wirestack.AspNetCore" Version="*" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), """
                using Microsoft.AspNetCore.Builder;
                using Microsoft.AspNetCore.Hosting;
                using Wirestack;
                using Wirestack.Devices;

                var (serverSide, clientSide) = InMemoryLink.CreatePair();
                await using var server = await NetworkStack.StartAsync(serverSide, new StackOptions { Ipv4 = Ipv4Settings.Static("10.0.0.1/24"), MacAddress = Wirestack.Wire.MacAddress.Parse("02:00:00:00:00:01") });
                await using var client = await NetworkStack.StartAsync(clientSide, new StackOptions { Ipv4 = Ipv4Settings.Static("10.0.0.2/24") });
                var builder = WebApplication.CreateSlimBuilder();
                builder.WebHost.UseWirestack(server, listen => listen.Listen(80));
                var web = builder.Build();
                web.MapGet("/", () => "hello from the packages");
                await web.StartAsync();
                using var http = new HttpClient(client.CreateHttpMessageHandler());
                Console.WriteLine(await http.GetStringAsync("http://10.0.0.1/"));
                await web.StopAsync();
                """);
            // A package cache of its own, so a package of the same version from an earlier run is not reused.
            var run = await DotnetAsync("run -c Release", app, $"NUGET_PACKAGES='{Path.Combine(work, "cache")}'");
            Assert.True(run.ExitCode == 0, run.Output + run.Error);
            Assert.Contains("hello from the packages", run.Output);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact(DisplayName = "dotnet tool: wirestack-device packs as a .NET tool, installs from a local feed alone and runs (--version)")]
    public async Task DeviceInstallsAsATool()
    {
        string root = Wirestack.Testing.RepositoryRoot.Path;
        string work = Directory.CreateTempSubdirectory("wirestack-tool").FullName;
        try
        {
            string feed = Path.Combine(work, "feed");
            var pack = await DotnetAsync($"pack src/Wirestack.Device/Wirestack.Device.csproj -c Release --no-build -o {feed}", root);
            Assert.True(pack.ExitCode == 0, pack.Output + pack.Error);
            WriteLocalFeedConfig(work, feed);
            string tools = Path.Combine(work, "tools");
            var install = await DotnetAsync($"tool install wirestack-device --tool-path {tools} --configfile nuget.config", work,
                $"NUGET_PACKAGES='{Path.Combine(work, "cache")}'");
            Assert.True(install.ExitCode == 0, install.Output + install.Error);
            var version = await ProcessRunner.RunAsync(Path.Combine(tools, "wirestack-device"), ["--version"], TimeSpan.FromSeconds(30));
            Assert.True(version.ExitCode == 0, version.All);
            Assert.Matches(@"^\d+\.\d+\.\d+", version.Output.Trim());
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
