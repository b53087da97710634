using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Wirestack.IntegrationTests;

/// <summary>
/// wirestack-device as a program left on a LAN: least privilege, its files, its sessions and its TLS, driven over
/// TAP inside test namespaces with the real binary.
/// </summary>
[Trait("Category", "Device")]
public sealed class DeviceSecurityTests
{
    const string Device = "192.168.0.2";
    const string Auth = "-u admin:secretsecret";

    static string[] Args(string data, params string[] extra) =>
        ["--ip", $"{Device}/24", "--host-address", "192.168.0.1/24", "--user", "admin:secretsecret", "--data-dir", data, .. extra];

    /// <summary>The fields of /proc/PID/status the least-privilege check reads.</summary>
    static Dictionary<string, string> Status(int pid) =>
        File.ReadAllLines($"/proc/{pid}/status").Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1].Trim());

    [Fact(DisplayName = "Least privilege over TAP: started as root the device runs as nobody with no capabilities (real and effective ids, /proc/PID/status) and a reset still works; its data directory is 0700 and its files 0600")]
    public async Task DropsRoot()
    {
        Prerequisites.Require("curl");
        string dir = Directory.CreateTempSubdirectory("wirestack-privilege").FullName;
        try
        {
            string data = Path.Combine(dir, "data");
            await using var ns = await TestNamespace.CreateAsync();
            await using var device = ProgramProcess.Start(ns, Args(data));
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            var status = Status(device.Id);
            Assert.All(status["Uid"].Split('\t'), id => Assert.Equal("65534", id));   // real, effective, saved, filesystem
            Assert.All(status["Gid"].Split('\t'), id => Assert.Equal("65534", id));
            Assert.Equal("0000000000000000", status["CapEff"]);
            Assert.Equal("0000000000000000", status["CapPrm"]);
            Assert.Equal("0000000000000000", status["CapAmb"]);
            Assert.Equal("1", status["NoNewPrivs"]);
            Assert.Contains(device.Log, l => l.Contains("Running as nobody", StringComparison.Ordinal));

            Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(data));
            foreach (string file in Directory.GetFiles(data))
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            Assert.True(File.Exists(Path.Combine(data, "https.pfx")));

            // The reset reuses the open TAP: nothing in it needs root.
            await ns.CheckAsync($"curl -s -f -m 10 {Auth} -X POST http://{Device}/api/device/reset");
            await device.WaitForLogAsync("Reset: restarting the stack", TimeSpan.FromSeconds(15));
            var after = await ns.CheckAsync($"curl -s -f -m 10 --retry 10 --retry-connrefused --retry-all-errors {Auth} http://{Device}/api/stats/get");
            Assert.Contains("temperature", after.Output);
            Assert.Equal(0, await device.StopAsync());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Runs the device as nobody through <paramref name="privileges"/> (setpriv options) in <paramref name="ns"/>.
    /// With <paramref name="openTunNode"/> it sees a world-usable /dev/net/tun, as Debian's udev rules make it,
    /// bound over the real node in a mount namespace of its own (the host's node is left as it is).
    /// </summary>
    static ProgramProcess StartAsNobody(TestNamespace ns, string data, string privileges, bool openTunNode, params string[] extra)
    {
        string device = string.Join(' ', ProgramProcess.Command.Concat(Args(data, extra)));
        string run = $"ip netns exec {ns.Name} env HOME=/tmp DOTNET_CLI_HOME=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups {privileges} {device}";
        if (openTunNode)
        {
            string node = Path.Combine(Path.GetDirectoryName(data)!, "tun");
            run = $"unshare --mount --propagation private sh -c 'mknod -m 666 {node} c 10 200 && mount --bind {node} /dev/net/tun && exec {run}'";
        }
        return ProgramProcess.StartCommand(run);
    }

    [Fact(DisplayName = "Least privilege over TAP: started as nobody with only CAP_NET_ADMIN (ambient, as a systemd unit gives it) the device opens the TAP, configures its host side, then starts itself again holding no capability; ping and a reset work")]
    public async Task ShedsCapabilities()
    {
        Prerequisites.Require("curl", "ping", "setpriv", "unshare", "mknod");
        string dir = Directory.CreateTempSubdirectory("wirestack-caps").FullName;
        try
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
            string data = Directory.CreateDirectory(Path.Combine(dir, "data")).FullName;
            await ProcessRunner.RunAsync("chown", ["65534:65534", data], TimeSpan.FromSeconds(5));
            await using var ns = await TestNamespace.CreateAsync();
            await using var device = StartAsNobody(ns, data, "--inh-caps=+net_admin --ambient-caps=+net_admin", openTunNode: true);
            await device.WaitForLogAsync("Started again without capabilities", TimeSpan.FromSeconds(30));
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            Assert.Contains(device.Log, l => l.Contains("Host side of tap0: 192.168.0.1/24, up", StringComparison.Ordinal));
            // Every wrapper execs the next, and so does the device when it starts again: the PID is the device's.
            var status = Status(device.Id);
            Assert.All(status["Uid"].Split('\t'), id => Assert.Equal("65534", id));
            foreach (string set in new[] { "CapInh", "CapPrm", "CapEff", "CapAmb" })
                Assert.Equal("0000000000000000", status[set]);
            Assert.Equal("1", status["NoNewPrivs"]);
            Assert.Contains("3 received", (await ns.CheckAsync($"ping -c 3 -i 0.2 -W 2 {Device}")).Output);
            await ns.CheckAsync($"curl -s -f -m 10 {Auth} -X POST http://{Device}/api/device/reset");
            await device.WaitForLogAsync("Reset: restarting the stack", TimeSpan.FromSeconds(15));
            await ns.CheckAsync($"curl -s -f -m 10 --retry 10 --retry-connrefused --retry-all-errors {Auth} http://{Device}/api/stats/get");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Least privilege over TAP: with a TAP created beforehand for the user (ip tuntap add … user), the device runs as nobody with no capability at all")]
    public async Task RunsWithoutAnyPrivilege()
    {
        Prerequisites.Require("curl", "ping", "setpriv");
        string dir = Directory.CreateTempSubdirectory("wirestack-user-tap").FullName;
        try
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
            string data = Directory.CreateDirectory(Path.Combine(dir, "data")).FullName;
            await ProcessRunner.RunAsync("chown", ["65534:65534", data], TimeSpan.FromSeconds(5));
            await using var ns = await TestNamespace.CreateAsync();
            await ns.CheckAsync("ip tuntap add dev tap0 mode tap user 65534");
            await ns.CheckAsync("ip addr add 192.168.0.1/24 dev tap0");
            await ns.CheckAsync("ip link set tap0 up");
            // Opening a TAP made for the user still goes through /dev/net/tun, which must be usable (0666, as usual).
            await using var device = StartAsNobody(ns, data, "--inh-caps=-all", openTunNode: true);
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            Assert.Contains(device.Log, l => l.Contains("Opened TAP tap0 (existing)", StringComparison.Ordinal));
            Assert.DoesNotContain(device.Log, l => l.Contains("Started again", StringComparison.Ordinal));
            Assert.Contains("3 received", (await ns.CheckAsync($"ping -c 3 -i 0.2 -W 2 {Device}")).Output);
            await ns.CheckAsync($"curl -s -f -m 10 {Auth} http://{Device}/api/stats/get");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Data directory checks over TAP: one owned by another user or writable by its group is refused with the reason and exit code 1")]
    public async Task RefusesUnsafeDataDirectory()
    {
        Prerequisites.Require();
        string dir = Directory.CreateTempSubdirectory("wirestack-unsafe").FullName;
        try
        {
            await using var ns = await TestNamespace.CreateAsync();
            string foreign = Directory.CreateDirectory(Path.Combine(dir, "foreign")).FullName;
            await ProcessRunner.RunAsync("chown", ["12345:12345", foreign], TimeSpan.FromSeconds(5));
            await using (var device = ProgramProcess.Start(ns, Args(foreign, "--https-port", "0")))
            {
                Assert.Equal(1, await device.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                Assert.Contains(device.Log, l => l.Contains("belongs to uid 12345", StringComparison.Ordinal));
            }
            string shared = Directory.CreateDirectory(Path.Combine(dir, "shared")).FullName;
            File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_000);
            await using (var device = ProgramProcess.Start(ns, Args(shared, "--https-port", "0")))
            {
                Assert.Equal(1, await device.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                Assert.Contains(device.Log, l => l.Contains("writable by its group or others", StringComparison.Ordinal));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Symlink attack over TAP: links planted as the firmware upload file and the settings temp file are not followed, even by a device kept as root; an upload chunk cut off mid-body leaves the staged bytes unchanged and the retried chunk completes an image with the sent SHA-256")]
    public async Task FilesFollowNoLinksAndChunksAreAtomic()
    {
        Prerequisites.Require("curl");
        var ct = TestContext.Current.CancellationToken;
        string dir = Directory.CreateTempSubdirectory("wirestack-links").FullName;
        try
        {
            string data = Directory.CreateDirectory(Path.Combine(dir, "data")).FullName;
            Directory.CreateDirectory(Path.Combine(data, "firmware"));
            string victim = Path.Combine(dir, "victim");
            File.WriteAllText(victim, "precious");
            File.CreateSymbolicLink(Path.Combine(data, "firmware", "upload.part"), victim);
            File.CreateSymbolicLink(Path.Combine(data, "settings.json.tmp"), victim);
            var image = RandomNumberGenerator.GetBytes(200_000);
            string imagePath = Path.Combine(dir, "image.bin");
            await File.WriteAllBytesAsync(imagePath, image, ct);

            await using var ns = await TestNamespace.CreateAsync();
            // Kept as root: the attack was root writing through a link; an unprivileged device could not anyway.
            await using var device = ProgramProcess.Start(ns, Args(data, "--https-port", "0", "--run-as", "root"));
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            await ns.CheckAsync($"curl -s -f -m 10 --retry 5 --retry-connrefused {Auth} -H 'Content-Type: application/json' -d '{{\"brightness\":3}}' http://{Device}/api/settings/set");
            string id = "";
            string Upload(long offset) => $"http://{Device}/api/firmware/upload?name=fw&offset={offset}&total={image.Length}{id}";
            var first = await ns.CheckAsync($"bash -c 'head -c 100000 {imagePath} | curl -s -f -m 10 -D - -o /dev/null {Auth} -H \"Content-Type: application/octet-stream\" --data-binary @- \"{Upload(0)}\"'");
            string session = first.Output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("Upload-Id:", StringComparison.OrdinalIgnoreCase))["Upload-Id:".Length..].Trim();
            id = "&id=" + session;
            Assert.Equal("precious", await File.ReadAllTextAsync(victim, ct));

            // A chunk whose connection drops after half its body.
            using (var socket = await ConnectAsync(ns, ct))
            {
                string head = $"POST /api/firmware/upload?name=fw&offset=100000&total={image.Length}{id} HTTP/1.1\r\nHost: {Device}\r\n"
                    + $"Authorization: Basic {Convert.ToBase64String(Encoding.ASCII.GetBytes("admin:secretsecret"))}\r\n"
                    + "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n";
                await socket.SendAsync(Encoding.ASCII.GetBytes(head), ct);
                await socket.SendAsync(image.AsMemory(100_000, 50_000), ct);
                await Task.Delay(300, ct);
                socket.Close(0);   // RST: the body never completes
            }
            string part = Path.Combine(data, "firmware", $"upload-{session}.part");
            for (int i = 0; i < 50 && new FileInfo(part).Length != 100_000; i++)
                await Task.Delay(100, ct);
            Assert.Equal(100_000, new FileInfo(part).Length);
            var staged = await ns.CheckAsync($"curl -s -f -m 10 {Auth} http://{Device}/api/firmware/status");
            Assert.Contains("\"staged\":null", staged.Output);

            // The same offset again, then the end: the staged image is exactly what was sent.
            await ns.CheckAsync($"bash -c 'tail -c 100000 {imagePath} | curl -s -f -m 10 {Auth} -H \"Content-Type: application/octet-stream\" --data-binary @- \"{Upload(100_000)}\"'");
            await ns.CheckAsync($"curl -s -f -m 10 {Auth} -H 'Content-Type: application/octet-stream' -X POST \"{Upload(image.Length)}\"");
            var done = await ns.CheckAsync($"curl -s -f -m 10 {Auth} http://{Device}/api/firmware/status");
            Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(image)), done.Output);
            Assert.Equal(image, await File.ReadAllBytesAsync(Path.Combine(data, "firmware", "staged.bin"), ct));
            Assert.Equal("precious", await File.ReadAllTextAsync(victim, ct));
            Assert.Contains("\"brightness\":3", await File.ReadAllTextAsync(Path.Combine(data, "settings.json"), ct));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static async Task<System.Net.Sockets.Socket> ConnectAsync(TestNamespace ns, CancellationToken ct)
    {
        var socket = KernelSockets.NewStreamSocket(ns);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(Device), 80), ct);
        return socket;
    }

    [Fact(DisplayName = "Sessions and TLS over TAP: --https-only redirects HTTP and sends HSTS; a session ends after its idle time (--session-idle); the certificate's fingerprint is the printed one and the same after a restart; testssl.sh finds nothing older than TLS 1.2 and no weak cipher")]
    public async Task SessionsAndTls()
    {
        Prerequisites.Require("curl", "openssl", "testssl");
        var ct = TestContext.Current.CancellationToken;
        string dir = Directory.CreateTempSubdirectory("wirestack-tls").FullName;
        try
        {
            string data = Path.Combine(dir, "data");
            await using var ns = await TestNamespace.CreateAsync();
            string fingerprint;
            await using (var device = ProgramProcess.Start(ns, Args(data, "--https-only", "--session-idle", "3s")))
            {
                await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
                await device.WaitForLogAsync("-> Ready", TimeSpan.FromSeconds(30));
                // The certificate served is one the log printed (a first start may print two: one made before the
                // address was bound, one made again to name it).
                fingerprint = await ServedFingerprintAsync(ns);
                await device.WaitForLogAsync($"SHA-256 fingerprint {fingerprint}", TimeSpan.FromSeconds(5));

                var redirect = await ns.CheckAsync($"curl -s -m 10 -D - -o /dev/null http://{Device}/index.html?x=1");
                Assert.StartsWith("HTTP/1.1 308", redirect.Output);
                Assert.Contains($"Location: https://{Device}/index.html?x=1", redirect.Output);
                var page = await ns.CheckAsync($"curl -s -f -k -m 10 -D - -o /dev/null https://{Device}/");
                Assert.Contains("strict-transport-security: max-age=31536000", page.Output, StringComparison.OrdinalIgnoreCase);

                string jar = Path.Combine(dir, "jar");
                await ns.CheckAsync($"curl -s -f -k -m 10 -c {jar} {Auth} -X POST https://{Device}/api/login");
                string Get() => $"curl -s -k -m 10 -o /dev/null -w '%{{http_code}}' -b {jar} https://{Device}/api/settings/get";
                Assert.Equal("200", (await ns.CheckAsync(Get())).Output.Trim());
                await Task.Delay(TimeSpan.FromSeconds(1.5), ct);
                Assert.Equal("200", (await ns.CheckAsync(Get())).Output.Trim());   // use refreshes the idle time
                await Task.Delay(TimeSpan.FromSeconds(4), ct);
                Assert.Equal("403", (await ns.CheckAsync(Get())).Output.Trim());

                // testssl.sh: protocols and cipher categories.
                string report = Path.Combine(dir, "testssl.json");
                await ns.ExecAsync($"testssl --quiet --color 0 --warnings off -p -s -f --jsonfile {report} {Device}:443", TimeSpan.FromMinutes(3));
                var findings = JsonDocument.Parse(await File.ReadAllTextAsync(report, ct)).RootElement.EnumerateArray()
                    .ToDictionary(f => f.GetProperty("id").GetString()!, f => (Severity: f.GetProperty("severity").GetString()!, Finding: f.GetProperty("finding").GetString()!));
                foreach (string old in new[] { "SSLv2", "SSLv3", "TLS1", "TLS1_1" })
                    Assert.StartsWith("not offered", findings[old].Finding);
                Assert.StartsWith("offered", findings["TLS1_2"].Finding);
                Assert.StartsWith("offered", findings["TLS1_3"].Finding);
                foreach (string weak in new[] { "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE" })
                    Assert.StartsWith("not offered", findings[weak].Finding);
                Assert.DoesNotContain(findings, f => f.Value.Severity is "LOW" or "MEDIUM" or "HIGH" or "CRITICAL");
                Assert.Equal(0, await device.StopAsync());
            }
            await using (var restarted = ProgramProcess.Start(ns, Args(data)))
            {
                await restarted.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
                await restarted.WaitForLogAsync("-> Ready", TimeSpan.FromSeconds(30));
                Assert.Equal(fingerprint, PrintedFingerprint(restarted));
                Assert.Contains(restarted.Log, l => l.Contains("kept from an earlier start", StringComparison.Ordinal));
                Assert.Equal(fingerprint, await ServedFingerprintAsync(ns));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static string PrintedFingerprint(ProgramProcess device) =>
        device.Log.Last(l => l.Contains("SHA-256 fingerprint ", StringComparison.Ordinal)).Split("SHA-256 fingerprint ")[1].Trim();

    static async Task<string> ServedFingerprintAsync(TestNamespace ns)
    {
        var served = await ns.CheckAsync($"bash -c 'openssl s_client -connect {Device}:443 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256'");
        return served.Output.Trim().Split('=')[1];
    }
}
