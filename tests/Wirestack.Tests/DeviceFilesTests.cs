using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Wirestack.Device.Dashboard;
using Wirestack.Device.Platform;
using Wirestack.Interop;

namespace Wirestack.Tests;

/// <summary>The device's files (data directory, owner-only writes, firmware staging), its certificate and request rules.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DeviceFilesTests : IDisposable
{
    sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    readonly string _dir = Directory.CreateTempSubdirectory("wirestack-files").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static Posix.Account Me => Privileges.Current;

    [Fact(DisplayName = "Data directory: created owner-only (0700); a link, a group-writable directory or one of another user is refused with the reason")]
    public void DataDirectoryChecks()
    {
        string fresh = Path.Combine(_dir, "fresh", "data");
        DataDirectory.Prepare(fresh, Me);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(fresh));

        string link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, fresh);
        Assert.Contains("symbolic link", Assert.Throws<IOException>(() => DataDirectory.Prepare(link, Me)).Message);

        string shared = Directory.CreateDirectory(Path.Combine(_dir, "shared")).FullName;
        File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_101); // 0775
        Assert.Contains("writable by its group or others", Assert.Throws<IOException>(() => DataDirectory.Prepare(shared, Me)).Message);

        // Readable by others but not writable: tightened to 0700.
        string open = Directory.CreateDirectory(Path.Combine(_dir, "open")).FullName;
        File.SetUnixFileMode(open, (UnixFileMode)0b111_101_101);
        DataDirectory.Prepare(open, Me);
        Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(open));

        var stranger = new Posix.Account("stranger", 54321, 54321, "/");
        if (Posix.EffectiveUserId != 0)
            Assert.Contains("belongs to uid", Assert.Throws<IOException>(() => DataDirectory.Prepare(open, stranger)).Message);
    }

    [Fact(DisplayName = "Data directory started as root for another user: a root-owned directory holding only the device's own files is handed over name by name, a link at one of those names is not followed; one holding anything else (--data-dir /var/lib) or writable by others changes no hands")]
    public void DataDirectoryHandOver()
    {
        Assert.SkipUnless(Posix.EffectiveUserId == 0, "needs root (CI runs as root)");
        var nobody = Posix.FindAccount("nobody") ?? throw new InvalidOperationException("no nobody account");
        string victim = Path.Combine(_dir, "victim");
        File.WriteAllText(victim, "root's");

        string data = Directory.CreateDirectory(Path.Combine(_dir, "data")).FullName;
        File.WriteAllText(Path.Combine(data, "settings.json"), "{}");
        File.WriteAllText(Path.Combine(data, "settings.json.0123456789abcdef.tmp"), "{");
        Directory.CreateDirectory(Path.Combine(data, "firmware"));
        File.WriteAllText(Path.Combine(data, "firmware", "current.bin"), "image");
        File.CreateSymbolicLink(Path.Combine(data, "users.json"), victim);
        DataDirectory.Prepare(data, nobody);
        Assert.Equal(nobody.Uid, Posix.Lstat(data)!.Value.Uid);
        Assert.Equal(nobody.Uid, Posix.Lstat(Path.Combine(data, "settings.json"))!.Value.Uid);
        Assert.Equal(nobody.Uid, Posix.Lstat(Path.Combine(data, "settings.json.0123456789abcdef.tmp"))!.Value.Uid);
        Assert.Equal(nobody.Uid, Posix.Lstat(Path.Combine(data, "firmware"))!.Value.Uid);
        Assert.Equal(nobody.Uid, Posix.Lstat(Path.Combine(data, "firmware", "current.bin"))!.Value.Uid);
        Assert.Equal(0u, Posix.Lstat(victim)!.Value.Uid);

        // A directory a non-root user owns is theirs to tamper with: never adopted.
        var stranger = new Posix.Account("stranger", 54321, 54321, "/");
        Assert.Contains("belongs to uid 65534", Assert.Throws<IOException>(() => DataDirectory.Prepare(data, stranger)).Message);

        // Root's directory of other things: refused, nothing given away.
        string system = Directory.CreateDirectory(Path.Combine(_dir, "system")).FullName;
        File.WriteAllText(Path.Combine(system, "users.json"), "{}");
        File.WriteAllText(Path.Combine(system, "dpkg.status"), "system");
        Assert.Contains("holds files the device did not make (dpkg.status)", Assert.Throws<IOException>(() => DataDirectory.Prepare(system, nobody)).Message);
        Assert.Equal(0u, Posix.Lstat(system)!.Value.Uid);
        Assert.Equal(0u, Posix.Lstat(Path.Combine(system, "users.json"))!.Value.Uid);

        // Writable by others: refused before anything changes hands.
        string shared = Directory.CreateDirectory(Path.Combine(_dir, "shared-root")).FullName;
        File.SetUnixFileMode(shared, (UnixFileMode)0b111_111_101);
        Assert.Contains("writable by its group or others", Assert.Throws<IOException>(() => DataDirectory.Prepare(shared, nobody)).Message);
        Assert.Equal(0u, Posix.Lstat(shared)!.Value.Uid);
    }

    [Fact(DisplayName = "Symlink attack on the device's files: a replace writes a new owner-only file under a fresh name and renames it; a link planted at the old temporary name or at a fresh file's name is not followed")]
    public void OwnerOnlyWritesFollowNoLink()
    {
        string victim = Path.Combine(_dir, "victim");
        File.WriteAllText(victim, "untouched");
        string settings = Path.Combine(_dir, "settings.json");
        File.CreateSymbolicLink(settings + ".tmp", victim);   // the name the old code wrote through
        var store = new SettingsStore(settings);
        store.Update(new SettingsPatch { Brightness = 7 });
        Assert.Equal("untouched", File.ReadAllText(victim));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(settings));
        Assert.Equal(7, new SettingsStore(settings).Current.Brightness);
        Assert.DoesNotContain(Directory.GetFiles(_dir), f => f.EndsWith(".tmp", StringComparison.Ordinal) && !f.EndsWith("settings.json.tmp", StringComparison.Ordinal));

        string fresh = Path.Combine(_dir, "capture");
        File.CreateSymbolicLink(fresh, victim);
        using (var file = OwnerOnlyFile.CreateFresh(fresh))
            file.WriteByte(1);
        Assert.Equal("untouched", File.ReadAllText(victim));
        Assert.False(new FileInfo(fresh).Attributes.HasFlag(FileAttributes.ReparsePoint));
    }

    /// <summary>A request body that delivers some bytes and then fails, as a dropped connection does.</summary>
    sealed class BrokenBody(byte[] before) : Stream
    {
        int _position;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            if (_position == before.Length)
                throw new IOException("The client reset the connection");
            int n = Math.Min(buffer.Length, before.Length - _position);
            before.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact(DisplayName = "Firmware: a chunk that fails half-way (dropped connection) or runs past the total is taken back; the same offset then completes an image whose SHA-256 is the sent one")]
    public async Task FirmwareChunksAreAtomic()
    {
        var image = RandomNumberGenerator.GetBytes(300_000);
        var firmware = new Firmware(Path.Combine(_dir, "firmware"));
        var ct = TestContext.Current.CancellationToken;
        FirmwareUpload Chunk(long offset, string? id) => new("fw", offset, image.Length, id);
        var start = await firmware.WriteAsync(Chunk(0, null), new MemoryStream(image[..100_000]), ct);
        Assert.Null(start.Error);
        string id = start.UploadId!;
        string part = Path.Combine(_dir, "firmware", $"upload-{id}.part");
        await Assert.ThrowsAsync<IOException>(() => firmware.WriteAsync(Chunk(100_000, id), new BrokenBody(image[100_000..170_000]), ct));
        Assert.Equal(100_000, new FileInfo(part).Length);
        Assert.Contains("overlaps", (await firmware.WriteAsync(Chunk(50_000, id), new MemoryStream(new byte[10]), ct)).Error);
        Assert.Contains("runs past total", (await firmware.WriteAsync(Chunk(100_000, id), new MemoryStream(new byte[image.Length]), ct)).Error);
        Assert.Equal(100_000, new FileInfo(part).Length);
        Assert.Null((await firmware.WriteAsync(Chunk(100_000, id), new MemoryStream(image[100_000..]), ct)).Error);
        Assert.True((await firmware.WriteAsync(Chunk(image.Length, id), new MemoryStream(), ct)).Staged);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(image)), firmware.Pending!.Sha256);
        Assert.Equal(image.Length, firmware.Pending.Size);
        Assert.False(File.Exists(part));
        Assert.Contains("no upload", (await firmware.WriteAsync(Chunk(10, id), new MemoryStream(new byte[1]), ct)).Error);
        Assert.Contains("id is missing", (await firmware.WriteAsync(Chunk(10, null), new MemoryStream(new byte[1]), ct)).Error);
    }

    [Fact(DisplayName = "Firmware: an upload is refused before it starts when the disk cannot hold it")]
    public async Task FirmwareChecksFreeSpace()
    {
        long free = new DriveInfo(_dir).AvailableFreeSpace;
        var firmware = new Firmware(Path.Combine(_dir, "firmware"));
        var outcome = await firmware.WriteAsync(new FirmwareUpload("fw", 0, Firmware.MaxImage, null), new MemoryStream(new byte[1]), TestContext.Current.CancellationToken);
        if (free < Firmware.MaxImage + Firmware.FreeSpaceMargin)
            Assert.Contains("not enough free space", outcome.Error);
        else
            Assert.Null(outcome.Error);
    }

    [Fact(DisplayName = "HTTPS certificate: self-signed once and kept owner-only, the same across starts; made again when an address is new (at most every 5 minutes: new addresses and mDNS conflicts are anyone's to cause) and a month before expiry, always for the same key; names host, host.local and addresses")]
    public void CertificateIsKept()
    {
        string path = Path.Combine(_dir, ServerCertificate.FileName);
        var seen = new List<(string Fingerprint, string How)>();
        void Log(X509Certificate2 c, string how) => seen.Add((ServerCertificate.Fingerprint(c), how));
        var clock = new ManualClock();
        IPAddress v4 = IPAddress.Parse("192.168.0.2"), v6 = IPAddress.Parse("2001:db8::2"), linkLocal = IPAddress.Parse("fe80::2");
        var first = ServerCertificate.SelfSigned(path, "wirestack", Log, clock).For([v4, linkLocal]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var names = first.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["wirestack", "wirestack.local"], names.EnumerateDnsNames());
        Assert.Equal([v4], names.EnumerateIPAddresses());   // a link-local address needs a zone: not named
        Assert.Matches("^([0-9A-F]{2}:){31}[0-9A-F]{2}$", seen[0].Fingerprint);

        var again = ServerCertificate.SelfSigned(path, "wirestack", Log, clock);
        Assert.Equal(seen[0].Fingerprint, ServerCertificate.Fingerprint(again.For([v4])));
        Assert.Equal("kept from an earlier start", seen[1].How);
        Assert.Same(again.For([v4]), again.For([v4]));

        var moved = again.For([v4, v6]);
        Assert.Contains(v6, moved.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateIPAddresses());
        Assert.NotEqual(seen[0].Fingerprint, ServerCertificate.Fingerprint(moved));
        // Issued again for the same key: a public-key pin holds.
        Assert.Equal(ServerCertificate.PublicKeyPin(first), ServerCertificate.PublicKeyPin(moved));

        // After an mDNS conflict the device answers as wirestack-2.local: the certificate names it too, once the
        // re-issue interval has passed (until then the current one is served).
        Assert.Same(moved, again.For([v4, v6], "wirestack-2.local"));
        clock.Now += ServerCertificate.ReissueInterval;
        var renamed = again.For([v4, v6], "wirestack-2.local");
        Assert.Contains("wirestack-2.local", renamed.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        Assert.Equal(ServerCertificate.PublicKeyPin(first), ServerCertificate.PublicKeyPin(renamed));

        clock.Now += TimeSpan.FromDays(340);
        var renewed = again.For([v4, v6], "wirestack-2.local");
        Assert.Equal("renewed before expiry", seen[^1].How);
        Assert.Equal(ServerCertificate.PublicKeyPin(first), ServerCertificate.PublicKeyPin(renewed));
        Assert.True(renewed.NotAfter.ToUniversalTime() > clock.Now.UtcDateTime.AddDays(300));
    }

    static HttpRequest Post(string path, string? contentType, string? authorization = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Path = path;
        context.Request.ContentType = contentType;
        if (authorization is not null)
            context.Request.Headers.Authorization = authorization;
        return context.Request;
    }

    [Theory(DisplayName = "CSRF attack: a state-changing POST needs a JSON (or, for firmware, octet-stream) content type or its own Authorization; the types a cross-site form sends are refused")]
    [InlineData("/api/settings/set", "application/json", null, true)]
    [InlineData("/api/settings/set", "application/json; charset=utf-8", null, true)]
    [InlineData("/api/settings/set", "application/x-www-form-urlencoded", null, false)]
    [InlineData("/api/settings/set", "text/plain", null, false)]
    [InlineData("/api/device/reset", "multipart/form-data; boundary=x", null, false)]
    [InlineData("/api/logout", null, null, false)]
    [InlineData("/api/logout", "application/json", null, true)]
    [InlineData("/api/firmware/upload", "application/octet-stream", null, true)]
    [InlineData("/api/firmware/upload", "application/json", null, false)]
    [InlineData("/api/device/reset", null, "Basic YWRtaW46c2VjcmV0", true)]
    [InlineData("/api/settings/set", "text/plain", "Bearer abc", true)]
    public void ForgedRequestsRefused(string path, string? contentType, string? authorization, bool allowed) =>
        Assert.Equal(allowed, WebSurface.RefuseForgery(Post(path, contentType, authorization)) is null);

    [Fact(DisplayName = "DNS rebinding attack: the name mDNS settled on after a conflict (wirestack-2.local) is the device's too; other .local names are not")]
    public void MdnsNameAllowed()
    {
        Assert.True(WebSurface.IsAllowedHost(new HostString("wirestack-2.local"), "wirestack", [], [], "wirestack-2.local"));
        Assert.False(WebSurface.IsAllowedHost(new HostString("printer.local"), "wirestack", [], [], "wirestack-2.local"));
    }

    [Fact(DisplayName = "Request size limits per route: JSON routes take 16 KiB, a firmware chunk 1 MiB; --https-only redirects to the same resource on the HTTPS port")]
    public void LimitsAndRedirect()
    {
        Assert.Equal(16 << 10, WebSurface.MaxBody("/api/settings/set"));
        Assert.Equal(1 << 20, WebSurface.MaxBody("/api/firmware/upload"));
        var request = Post("/index.html", null);
        request.Host = new HostString("192.168.0.2", 80);
        request.QueryString = new QueryString("?a=1");
        Assert.Equal("https://192.168.0.2/index.html?a=1", WebSurface.HttpsLocation(request, 443));
        request.Host = new HostString("[2001:db8::2]");
        Assert.Equal("https://[2001:db8::2]:8443/index.html?a=1", WebSurface.HttpsLocation(request, 8443));
    }
}
