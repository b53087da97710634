using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Wirestack.IntegrationTests;

/// <summary>The device's dashboard driven by the kernel side's curl and ab, over TAP, inside a test namespace.</summary>
[Trait("Category", "Device")]
public sealed class DashboardTests
{
    const string Device = "192.168.0.2";
    const string Auth = "-u admin:secret";

    static void WritePemCertificate(string certPath, string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=wirestack", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Parse(Device));
        names.AddDnsName("wirestack");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
    }

    [Fact(DisplayName = "Dashboard over TAP: curl gets the page over HTTP and HTTPS (pinned), logs in, edits settings, uploads 5 MiB firmware, downloads 100 MiB; HTTP/2; ab -n 1000 -c 10; sessions end at logout and an HTTPS session is refused over HTTP")]
    public async Task CurlAndAb()
    {
        Prerequisites.Require("curl", "ab", "sha256sum", "dd", "bash");
        var ct = TestContext.Current.CancellationToken;
        string dir = Directory.CreateTempSubdirectory("wirestack-dashboard").FullName;
        try
        {
            // The device serves --web-root as the unprivileged user it becomes once the TAP is open.
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
            string web = Directory.CreateDirectory(Path.Combine(dir, "web")).FullName;
            string big = Path.Combine(web, "big.bin");
            using (var file = File.Create(big))
            {
                var chunk = new byte[1 << 20];
                var random = new Random(100);
                for (int i = 0; i < 100; i++)
                {
                    random.NextBytes(chunk);
                    file.Write(chunk);
                }
            }
            string bigHash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(big)));
            string firmware = Path.Combine(dir, "firmware.bin");
            File.WriteAllBytes(firmware, RandomNumberGenerator.GetBytes(5 << 20));
            string firmwareHash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(firmware)));
            string cert = Path.Combine(dir, "cert.pem"), key = Path.Combine(dir, "key.pem");
            WritePemCertificate(cert, key);

            await using var ns = await TestNamespace.CreateAsync();
            await using var device = ProgramProcess.Start(ns, "--ip", $"{Device}/24", "--host-address", "192.168.0.1/24", "--user", "admin:secret",
                "--data-dir", Path.Combine(dir, "data"), "--web-root", web, "--cert", cert, "--cert-key", key);
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            await device.WaitForLogAsync("-> Ready", TimeSpan.FromSeconds(30));

            var page = await ns.CheckAsync($"curl -s -f -m 10 http://{Device}/");
            Assert.Contains("Wirestack device", page.Output);
            var pinned = await ns.CheckAsync($"curl -s -f -m 10 --cacert {cert} https://{Device}/index.html");
            Assert.Contains("Wirestack device", pinned.Output);
            await ns.CheckAsync($"curl -s -f -m 10 -k https://{Device}/app.js");

            // A foreign Host (DNS rebinding) gets 421; every response carries the security headers.
            var rebound = await ns.ExecAsync($"curl -s -m 10 -o /dev/null -w '%{{http_code}}' -H 'Host: attacker.example' http://{Device}/");
            Assert.Equal("421", rebound.Output.Trim());
            var headers = await ns.CheckAsync($"curl -s -f -m 10 -D - -o /dev/null http://{Device}/");
            Assert.Contains("Content-Security-Policy: default-src 'self'", headers.Output);
            Assert.Contains("X-Content-Type-Options: nosniff", headers.Output);
            Assert.Contains("X-Frame-Options: DENY", headers.Output);

            // Unauthenticated API calls get 403; a login cookie then works alone.
            var denied = await ns.ExecAsync($"curl -s -m 10 -o /dev/null -w '%{{http_code}}' http://{Device}/api/settings/get");
            Assert.Equal("403", denied.Output.Trim());
            string jar = Path.Combine(dir, "jar");
            var login = await ns.CheckAsync($"curl -s -f -m 10 -c {jar} -D - {Auth} -X POST http://{Device}/api/login");
            Assert.Contains("HttpOnly; SameSite=Strict", login.Output);
            Assert.Contains("{\"user\":\"admin\"}", login.Output);
            var settings = await ns.CheckAsync($"curl -s -f -m 10 -b {jar} http://{Device}/api/settings/get");
            Assert.Contains("\"device_name\"", settings.Output);
            var set = await ns.CheckAsync($"curl -s -f -m 10 -b {jar} -H 'Content-Type: application/json' -X POST -d '{{\"device_name\":\"kitchen\",\"brightness\":80}}' http://{Device}/api/settings/set");
            Assert.Contains("\"status\":true", set.Output);
            var check = await ns.CheckAsync($"curl -s -f -m 10 {Auth} http://{Device}/api/settings/get");
            Assert.Contains("\"device_name\":\"kitchen\"", check.Output);
            Assert.Contains("\"brightness\":80", check.Output);
            var tooLong = await ns.ExecAsync($"curl -s -m 10 -w ' %{{http_code}}' {Auth} -H 'Content-Type: application/json' -X POST -d '{{\"device_name\":\"{new string('x', 41)}\"}}' http://{Device}/api/settings/set");
            Assert.EndsWith("400", tooLong.Output.Trim());
            Assert.Contains("application/problem+json", (await ns.ExecAsync($"curl -s -m 10 -o /dev/null -w '%{{content_type}}' {Auth} -H 'Content-Type: application/json' -X POST -d '{{\"brightness\":\"80\"}}' http://{Device}/api/settings/set")).Output);
            Assert.Contains("device_name: at most 40 characters", tooLong.Output);

            // The API's OpenAPI document, behind login.
            Assert.Contains("\"openapi\": \"3.1", (await ns.CheckAsync($"curl -s -f -m 10 {Auth} http://{Device}/openapi/v1.json")).Output);
            Assert.Equal("403", (await ns.ExecAsync($"curl -s -o /dev/null -w '%{{http_code}}' -m 10 http://{Device}/openapi/v1.json")).Output.Trim());

            // Firmware: 5 MiB in 64 KiB chunks, the first opening an upload session whose id the others carry, an
            // empty chunk to finish, verified by hash, then committed.
            string sendChunk = "dd if=" + firmware + " bs=65536 skip=$i count=1 2>/dev/null | curl -s -f -m 10 " + Auth + " --data-binary @- ";
            string url = "\"http://" + Device + "/api/firmware/upload?name=fw.bin&offset=$((i*65536))&total=$total$id\"";
            var upload = await ns.CheckAsync("bash -c 'total=" + (5 << 20) + "; i=0; id=$(" + sendChunk + "-D - -o /dev/null " + url +
                " | tr -d \"\\r\" | sed -n \"s/^[Uu]pload-[Ii]d: /\\&id=/p\"); [ -n \"$id\" ] || exit 1; for i in $(seq 1 79); do " + sendChunk + url +
                " || exit 1; done; i=80; curl -s -f -m 10 " + Auth + " -X POST " + url + "'", TimeSpan.FromMinutes(2));
            var status = await ns.CheckAsync($"curl -s -f -m 10 {Auth} http://{Device}/api/firmware/status");
            Assert.Contains(firmwareHash, status.Output);
            var gap = await ns.ExecAsync($"curl -s -m 10 -w ' %{{http_code}}' {Auth} --data-binary xx 'http://{Device}/api/firmware/upload?name=fw.bin&offset=99&total=100'");
            Assert.EndsWith("400", gap.Output.Trim());
            await ns.CheckAsync($"curl -s -f -m 10 {Auth} -X POST http://{Device}/api/firmware/commit");
            var committed = await ns.CheckAsync($"curl -s -f -m 10 {Auth} http://{Device}/api/firmware/status");
            Assert.Contains("\"staged\":null", committed.Output);
            Assert.Contains(firmwareHash, committed.Output);

            // 100 MiB from --web-root, streamed.
            var download = await ns.CheckAsync($"bash -c 'curl -s -f -m 120 http://{Device}/big.bin | sha256sum'", TimeSpan.FromMinutes(3));
            Assert.StartsWith(bigHash, download.Output.Trim());

            // HTTP/2 over TLS by ALPN; Connection: close and HTTP/1.0 answered.
            var h2 = await ns.CheckAsync($"curl -s -f -m 10 --http2 -k -o /dev/null -w '%{{http_version}}' {Auth} https://{Device}/api/stats/get");
            Assert.Equal("2", h2.Output.Trim());
            await ns.CheckAsync($"curl -s -f -m 10 -H 'Connection: close' {Auth} http://{Device}/api/stats/get");
            await ns.CheckAsync($"curl -s -f -m 10 -0 {Auth} http://{Device}/api/stats/get");

            // A stable-length route: ab counts a response whose length differs from the first as a failure, and the
            // live sensor values in /api/stats/get change length from one second to the next.
            var ab = await ns.ExecAsync($"ab -n 1000 -c 10 -A admin:secret http://{Device}/api/settings/get", TimeSpan.FromMinutes(2));
            Assert.Contains("Complete requests:      1000", ab.Output);
            Assert.Contains("Failed requests:        0", ab.Output);
            Assert.DoesNotContain("Non-2xx responses:", ab.Output);

            // The event log pages, the live stream, logout.
            var events = await ns.CheckAsync($"curl -s -f -m 10 {Auth} -X POST -d '{{\"page\":1}}' http://{Device}/api/events/get");
            Assert.Contains("\"totalCount\":", events.Output);
            Assert.Contains("Firmware fw.bin", events.Output);
            var live = await ns.ExecAsync($"curl -s -N -m 3 {Auth} http://{Device}/api/live");
            Assert.Contains("event: stats", live.Output);
            // CSRF: a cookie-authenticated state change must say JSON; what a cross-site form sends is refused.
            var forged = await ns.ExecAsync($"curl -s -m 10 -o /dev/null -w '%{{http_code}}' -b {jar} -X POST -d brightness=1 http://{Device}/api/settings/set");
            Assert.Equal("415", forged.Output.Trim());
            var logout = await ns.CheckAsync($"curl -s -f -m 10 -D - -b {jar} -H 'Content-Type: application/json' -X POST http://{Device}/api/logout");
            Assert.Contains("Max-Age=0", logout.Output);
            // The session ended with the logout: its cookie no longer works, and logout by GET is refused.
            Assert.Equal("403", (await ns.ExecAsync($"curl -s -m 10 -o /dev/null -w '%{{http_code}}' -b {jar} http://{Device}/api/settings/get")).Output.Trim());
            Assert.NotEqual("200", (await ns.ExecAsync($"curl -s -m 10 -o /dev/null -w '%{{http_code}}' {Auth} http://{Device}/api/logout")).Output.Trim());
            // A session begun over HTTPS is refused over plain HTTP, even with its token in hand.
            var secure = await ns.CheckAsync($"curl -s -f -k -m 10 -D - {Auth} -X POST https://{Device}/api/login");
            string secureToken = secure.Output.Split("secure_access_token=")[1].Split(';')[0];
            Assert.Equal("200", (await ns.ExecAsync($"curl -s -k -m 10 -o /dev/null -w '%{{http_code}}' -H 'Cookie: secure_access_token={secureToken}' https://{Device}/api/settings/get")).Output.Trim());
            Assert.Equal("403", (await ns.ExecAsync($"curl -s -m 10 -o /dev/null -w '%{{http_code}}' -H 'Cookie: access_token={secureToken}' http://{Device}/api/settings/get")).Output.Trim());

            Assert.Equal(0, await device.StopAsync());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory(DisplayName = "Dashboard over TAP with and without the virtio-net header (--no-offloads): ping of 56 and 8,000 bytes, a 32 MiB download through Kestrel (64 KiB segments to the kernel with offloads) and the JSON API all work; the log says which mode")]
    [InlineData(true)]
    [InlineData(false)]
    public async Task WorksInBothOffloadModes(bool offloads)
    {
        Prerequisites.Require("curl", "ping", "sha256sum", "bash");
        string dir = Directory.CreateTempSubdirectory("wirestack-modes").FullName;
        try
        {
            // The device serves --web-root as the unprivileged user it becomes once the TAP is open.
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
            string web = Directory.CreateDirectory(Path.Combine(dir, "web")).FullName;
            var content = new byte[32 << 20];
            new Random(31).NextBytes(content);
            await File.WriteAllBytesAsync(Path.Combine(web, "file.bin"), content, TestContext.Current.CancellationToken);
            await using var ns = await TestNamespace.CreateAsync();
            string[] mode = offloads ? [] : ["--no-offloads"];
            await using var device = ProgramProcess.Start(ns, ["--ip", $"{Device}/24", "--host-address", "192.168.0.1/24", "--user", "admin:secret",
                "--data-dir", Path.Combine(dir, "data"), "--web-root", web, "--https-port", "0", .. mode]);
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            Assert.Contains(device.Log, line => line.Contains(offloads ? "Offloads on" : "Offloads off", StringComparison.Ordinal));
            Assert.Contains("3 received", (await ns.CheckAsync($"ping -c 3 -i 0.2 -W 2 {Device}")).Output);
            Assert.Contains("3 received", (await ns.CheckAsync($"ping -c 3 -i 0.2 -W 2 -s 8000 {Device}")).Output);
            var download = await ns.CheckAsync($"bash -c 'curl -s -f -m 60 http://{Device}/file.bin | sha256sum'", TimeSpan.FromMinutes(2));
            Assert.StartsWith(Convert.ToHexStringLower(SHA256.HashData(content)), download.Output.Trim());
            var network = await ns.CheckAsync($"curl -s -f -m 10 {Auth} http://{Device}/api/network");
            Assert.Contains($"\"ipv4\":\"{Device}\"", network.Output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Dashboard over TAP: a device reset restarts the stack, which comes back Ready and answers again")]
    public async Task ResetRestartsStack()
    {
        Prerequisites.Require("curl", "ping");
        string dir = Directory.CreateTempSubdirectory("wirestack-reset").FullName;
        try
        {
            await using var ns = await TestNamespace.CreateAsync();
            await using var device = ProgramProcess.Start(ns, "--ip", $"{Device}/24", "--host-address", "192.168.0.1/24", "--user", "admin:secret",
                "--data-dir", dir, "--https-port", "0");
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            await ns.CheckAsync($"curl -s -f -m 10 {Auth} -X POST http://{Device}/api/device/reset");
            await device.WaitForLogAsync("Reset: restarting the stack", TimeSpan.FromSeconds(15));
            for (int i = 0; i < 100 && device.Log.Count(l => l.Contains("-> Ready", StringComparison.Ordinal)) < 2; i++)
                await Task.Delay(100, TestContext.Current.CancellationToken);
            Assert.Equal(2, device.Log.Count(l => l.Contains("-> Ready", StringComparison.Ordinal)));
            var after = await ns.CheckAsync($"curl -s -f -m 10 --retry 5 --retry-connrefused {Auth} http://{Device}/api/stats/get");
            Assert.Contains("temperature", after.Output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Dashboard over IPv6 on TAP: with --ip6 and --host-address6 the log shows the address preferred, curl -g gets the page over HTTP and HTTPS, /api/network lists the addresses")]
    public async Task ServesOverIpv6()
    {
        Prerequisites.Require("curl");
        string dir = Directory.CreateTempSubdirectory("wirestack-ipv6").FullName;
        try
        {
            await using var ns = await TestNamespace.CreateAsync();
            await using var device = ProgramProcess.Start(ns, "--ip", $"{Device}/24", "--host-address", "192.168.0.1/24", "--ip6", "2001:db8:1::2/64",
                "--host-address6", "2001:db8:1::1/64", "--user", "admin:secret", "--data-dir", dir);
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
            Assert.Contains(device.Log, l => l.Contains("Host side of tap0: 2001:db8:1::1/64", StringComparison.Ordinal));
            // The kernel checks its new address for duplicates before it may send from it.
            for (int i = 0; i < 50 && (await ns.CheckAsync("ip -6 addr show dev tap0 tentative")).Output.Trim().Length > 0; i++)
                await Task.Delay(100, TestContext.Current.CancellationToken);
            await device.WaitForLogAsync("IPv6 address 2001:db8:1::2/64 (static) preferred", TimeSpan.FromSeconds(10));
            var page = await ns.CheckAsync("curl -g -s -f -m 10 --retry 5 --retry-connrefused http://[2001:db8:1::2]/");
            Assert.Contains("<html", page.Output, StringComparison.OrdinalIgnoreCase);
            var https = await ns.CheckAsync("curl -g -k -s -f -m 10 https://[2001:db8:1::2]/");
            Assert.Contains("<html", https.Output, StringComparison.OrdinalIgnoreCase);
            var network = await ns.CheckAsync($"curl -g -s -f -m 10 {Auth} http://[2001:db8:1::2]/api/network");
            Assert.Contains("\"2001:db8:1::2\"", network.Output);
            Assert.Contains("\"preferred\"", network.Output);
            Assert.Contains("\"linklocal\"", network.Output);
            Assert.True(File.Exists(Path.Combine(dir, "ipv6-stable-secret")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "No default password over TAP: the first start generates a password into an owner-only file (not the log) that works while admin:admin gets 403; the sixth wrong password in a row gets 429 with Retry-After and the failures are in the event log; a restart keeps the password")]
    public async Task GeneratedPasswordAndThrottle()
    {
        Prerequisites.Require("curl");
        string dir = Directory.CreateTempSubdirectory("wirestack-password").FullName;
        try
        {
            await using var ns = await TestNamespace.CreateAsync();
            string password;
            await using (var device = ProgramProcess.Start(ns, "--ip", $"{Device}/24", "--host-address", "192.168.0.1/24", "--data-dir", dir, "--https-port", "0"))
            {
                await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
                // Not in the log (a service's log is its journal): in an owner-only file of the data directory.
                Assert.DoesNotContain(device.Log, l => l.Contains("generated password", StringComparison.Ordinal));
                string file = Path.Combine(dir, "initial-password");
                Assert.Contains(device.Log, l => l.Contains(file, StringComparison.Ordinal));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
                password = File.ReadAllText(file).Trim();
                Assert.Equal(20, password.Length);
                string Status(string credentials) => $"curl -s -o /dev/null -w '%{{http_code}}' -m 10 --retry 5 --retry-connrefused -u {credentials} http://{Device}/api/stats/get";
                Assert.Equal("403", (await ns.CheckAsync(Status("admin:admin"))).Output.Trim());
                Assert.Equal("200", (await ns.CheckAsync(Status($"admin:{password}"))).Output.Trim());
                // A success cleared the source; five wrong passwords now, and the sixth attempt is held back.
                for (int i = 0; i < 5; i++)
                    Assert.Equal("403", (await ns.CheckAsync(Status($"admin:wrong{i}"))).Output.Trim());
                var held = await ns.CheckAsync($"curl -s -D - -o /dev/null -m 10 -u admin:wrong9 http://{Device}/api/stats/get");
                Assert.Contains("429", held.Output.Split('\n')[0]);
                Assert.Contains("Retry-After:", held.Output, StringComparison.OrdinalIgnoreCase);
                await Task.Delay(TimeSpan.FromSeconds(2.2), TestContext.Current.CancellationToken);
                var events = await ns.CheckAsync($"curl -s -f -m 10 -u admin:{password} -H 'Content-Type: application/json' -d '{{\"page\":1}}' http://{Device}/api/events/get");
                Assert.Contains("Failed login from 192.168.0.1", events.Output);
                Assert.Contains("held back", events.Output);
            }
            await using (var restarted = ProgramProcess.Start(ns, "--ip", $"{Device}/24", "--host-address", "192.168.0.1/24", "--data-dir", dir, "--https-port", "0"))
            {
                await restarted.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));
                Assert.DoesNotContain(restarted.Log, l => l.Contains("generated password", StringComparison.Ordinal));
                var ok = await ns.CheckAsync($"curl -s -o /dev/null -w '%{{http_code}}' -m 10 --retry 5 --retry-connrefused -u admin:{password} http://{Device}/api/stats/get");
                Assert.Equal("200", ok.Output.Trim());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
