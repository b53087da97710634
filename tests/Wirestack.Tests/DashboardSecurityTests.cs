using System.Net;
using Wirestack.Device.Dashboard;

namespace Wirestack.Tests;

public sealed class DashboardSecurityTests
{
    sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 2, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact(DisplayName = "Password hashes: PBKDF2-SHA256 with a per-hash salt verifies the right password only; malformed hashes never verify")]
    public void PasswordHashes()
    {
        string a = PasswordHash.Create("correct horse battery", iterations: 10_000);
        string b = PasswordHash.Create("correct horse battery", iterations: 10_000);
        Assert.NotEqual(a, b); // salted
        Assert.StartsWith("pbkdf2-sha256$10000$", a);
        Assert.True(PasswordHash.Verify("correct horse battery", a));
        Assert.False(PasswordHash.Verify("correct horse batterY", a));
        Assert.False(PasswordHash.Verify("x", "pbkdf2-sha256$10$AAAA$AAAA"));
        Assert.False(PasswordHash.Verify("x", "plain"));
        Assert.Equal(PasswordHash.Iterations, int.Parse(PasswordHash.Create("y").Split('$')[1]));
        var generated = Enumerable.Range(0, 20).Select(_ => PasswordHash.Generate()).ToHashSet();
        Assert.Equal(20, generated.Count);
        Assert.All(generated, p => Assert.Equal(20, p.Length));
    }

    [Fact(DisplayName = "Password guessing attack: from the fifth failure per source a wait that doubles from 1 s to 15 min; success and an hour of quiet clear it")]
    public void ThrottleBacksOff()
    {
        var clock = new ManualClock();
        var throttle = new LoginThrottle(clock);
        var source = IPAddress.Parse("192.168.0.66");
        for (int i = 0; i < LoginThrottle.FreeFailures - 1; i++)
            Assert.Equal(TimeSpan.Zero, throttle.Fail(source));
        Assert.Equal(TimeSpan.Zero, throttle.RetryAfter(source));
        Assert.Equal(TimeSpan.FromSeconds(1), throttle.Fail(source));
        Assert.Equal(TimeSpan.FromSeconds(1), throttle.RetryAfter(source));
        Assert.Equal(TimeSpan.FromSeconds(2), throttle.Fail(source));
        Assert.Equal(TimeSpan.FromSeconds(4), throttle.Fail(source));
        for (int i = 0; i < 20; i++)
            throttle.Fail(source);
        Assert.Equal(LoginThrottle.MaxDelay, throttle.RetryAfter(source));
        // Another source is not held back.
        Assert.Equal(TimeSpan.Zero, throttle.RetryAfter(IPAddress.Parse("192.168.0.67")));
        clock.Now += TimeSpan.FromMinutes(16);
        Assert.Equal(TimeSpan.Zero, throttle.RetryAfter(source));
        clock.Now += LoginThrottle.Forget;
        Assert.Equal(TimeSpan.Zero, throttle.Fail(source)); // forgotten: free again
        Assert.Equal(TimeSpan.Zero, throttle.RetryAfter(source));
        throttle.Succeed(source);
        Assert.Equal(0, throttle.Count);
    }

    [Fact(DisplayName = "Password guessing attack over rotating IPv6 addresses: failures count per /64, so a host that changes its address within its prefix each try is held back as one")]
    public void ThrottleCountsPrefixes()
    {
        var throttle = new LoginThrottle(new ManualClock());
        for (int i = 1; i <= LoginThrottle.FreeFailures; i++)
            throttle.Fail(IPAddress.Parse($"2001:db8:1:2::{i:x}"));
        Assert.Equal(TimeSpan.FromSeconds(1), throttle.RetryAfter(IPAddress.Parse("2001:db8:1:2:abcd::1")));
        Assert.Equal(TimeSpan.Zero, throttle.RetryAfter(IPAddress.Parse("2001:db8:1:3::1")));
        Assert.Equal(1, throttle.Count);
    }

    [Fact(DisplayName = "Connection flood attack on the dashboard: a source (an IPv4 address, or an IPv6 /64 however many addresses it uses) holds at most its share; past it new connections are refused, other sources still get in, and a closed connection frees its place")]
    public void ConnectionSharesPerSource()
    {
        var shares = new Wirestack.Device.Dashboard.ConnectionShares(perSource: 3);
        var attacker = Wirestack.Device.Dashboard.ConnectionShares.SourceOf(System.Net.IPAddress.Parse("192.168.0.66"));
        for (int i = 0; i < 3; i++)
            Assert.True(shares.TryOpen(attacker));
        Assert.False(shares.TryOpen(attacker));
        // The same host over IPv4-mapped IPv6 is the same source.
        Assert.False(shares.TryOpen(Wirestack.Device.Dashboard.ConnectionShares.SourceOf(System.Net.IPAddress.Parse("::ffff:192.168.0.66"))));
        // A /64: every address in it is one source; the next /64 is another.
        for (int i = 1; i <= 3; i++)
            Assert.True(shares.TryOpen(Wirestack.Device.Dashboard.ConnectionShares.SourceOf(System.Net.IPAddress.Parse($"2001:db8:1:2::{i:x}"))));
        Assert.False(shares.TryOpen(Wirestack.Device.Dashboard.ConnectionShares.SourceOf(System.Net.IPAddress.Parse("2001:db8:1:2:ffff::9"))));
        Assert.True(shares.TryOpen(Wirestack.Device.Dashboard.ConnectionShares.SourceOf(System.Net.IPAddress.Parse("2001:db8:1:3::1"))));
        Assert.True(shares.TryOpen(Wirestack.Device.Dashboard.ConnectionShares.SourceOf(System.Net.IPAddress.Parse("192.168.0.67"))));
        Assert.Equal(3, shares.Refused);
        shares.Close(attacker);
        Assert.True(shares.TryOpen(attacker));
        for (int i = 0; i < 3; i++)
            shares.Close(attacker);
        Assert.Equal(3, shares.Sources);
    }

    [Fact(DisplayName = "Login throttle attack from many addresses: the table stays at its bound")]
    public void ThrottleIsBounded()
    {
        var clock = new ManualClock();
        var throttle = new LoginThrottle(clock, capacity: 100);
        for (int i = 0; i < 1000; i++)
        {
            clock.Now += TimeSpan.FromMilliseconds(1);
            throttle.Fail(new IPAddress([10, 0, (byte)(i >> 8), (byte)i]));
        }
        Assert.Equal(100, throttle.Count);
    }

    [Fact(DisplayName = "No default password: the first start makes a hashed users file (owner-only) with a generated admin password; the next start reads it")]
    public void GeneratedUsers()
    {
        string dir = Directory.CreateTempSubdirectory("wirestack-users").FullName;
        try
        {
            string path = Path.Combine(dir, "users.json");
            var (users, password) = Users.LoadOrCreate(path);
            Assert.NotNull(password);
            Assert.DoesNotContain(password, File.ReadAllText(path));
            if (OperatingSystem.IsLinux())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.True(users.Verify("admin", password));
            Assert.False(users.Verify("admin", "admin"));
            var (again, none) = Users.LoadOrCreate(path);
            Assert.Null(none);
            Assert.True(again.Verify("admin", password));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "Changing the password needs the old one and 12 characters, is stored, and ends every session of the user; wrong old passwords are guesses the login throttle holds back")]
    public async Task ChangePassword()
    {
        var ct = TestContext.Current.CancellationToken;
        var source = IPAddress.Parse("192.168.0.66");
        string dir = Directory.CreateTempSubdirectory("wirestack-users").FullName;
        try
        {
            string path = Path.Combine(dir, "users.json");
            var (users, password) = Users.LoadOrCreate(path);
            string token = users.Sessions.Create("admin", https: false);
            Assert.NotNull((await users.ChangePasswordAsync("admin", "wrong", "a long new password", source, ct)).Error);
            Assert.NotNull((await users.ChangePasswordAsync("admin", password!, "short", source, ct)).Error);
            Assert.Null((await users.ChangePasswordAsync("admin", password!, "a long new password", source, ct)).Error);
            Assert.Null(users.Sessions.Validate(token, https: false));
            Assert.False(users.Verify("admin", password!));
            Assert.True(Users.LoadOrCreate(path).Users.Verify("admin", "a long new password"));

            // Guessing the old password from a stolen session: from the fifth wrong one (the first was above) the
            // source is held back, and then even the right one waits.
            for (int i = 1; i < LoginThrottle.FreeFailures; i++)
                Assert.Equal("the old password is wrong", (await users.ChangePasswordAsync("admin", $"guess {i}", "another long password", source, ct)).Error);
            Assert.Contains("retry later", (await users.ChangePasswordAsync("admin", "a long new password", "another long password", source, ct)).Error);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "A live stream outlasts no logout: a request's session (cookie or token) or Basic password is rechecked without a hash, and fails once the session ends or the password changes")]
    public async Task LiveStreamRechecksItsUser()
    {
        string dir = Directory.CreateTempSubdirectory("wirestack-live").FullName;
        try
        {
            var (users, password) = Users.LoadOrCreate(Path.Combine(dir, "users.json"));
            var withCookie = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            string token = users.Sessions.Create("admin", https: false);
            withCookie.Request.Headers.Cookie = $"{Sessions.CookieName}={token}";
            Assert.True(users.StillAuthenticated(withCookie));
            users.Sessions.Revoke(token);
            Assert.False(users.StillAuthenticated(withCookie));

            var withBasic = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            withBasic.Request.Headers.Authorization = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"admin:{password}"));
            Assert.True(users.Verify("admin", password!));
            Assert.True(users.StillAuthenticated(withBasic));
            Assert.Null((await users.ChangePasswordAsync("admin", password!, "a long new password", IPAddress.Loopback, TestContext.Current.CancellationToken)).Error);
            Assert.False(users.StillAuthenticated(withBasic));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(DisplayName = "A password change for users given with --user or --users-file is refused with the reason, not kept in memory until the next start while reported a success")]
    public async Task ChangePasswordOfGivenUsers()
    {
        var users = new Users([("admin", "a long given password")]);
        var (error, _) = await users.ChangePasswordAsync("admin", "a long given password", "a longer new password", IPAddress.Loopback, TestContext.Current.CancellationToken);
        Assert.Contains("--user or --users-file", error);
        Assert.True(users.Verify("admin", "a long given password"));
    }

    [Fact(DisplayName = "Users from a file or variable: NAME:PASSWORD or NAME:hash per line or item; malformed entries are errors")]
    public void ParseUsers()
    {
        string hash = PasswordHash.Create("from a hash", iterations: 10_000);
        var parsed = Users.Parse($"# comment\nalice:secret one\nbob:{hash}\n", "users.txt");
        Assert.Equal(["alice", "bob"], parsed.Select(p => p.Name));
        var users = new Users(parsed);
        Assert.True(users.Verify("alice", "secret one"));
        Assert.True(users.Verify("bob", "from a hash"));
        Assert.False(users.Verify("carol", "anything"));
        var malformed = Assert.Throws<FormatException>(() => Users.Parse("admin:fine,hunter2secret", "WIRESTACK_USERS"));
        Assert.Contains("entry 2", malformed.Message);
        Assert.DoesNotContain("hunter2", malformed.Message);
        Assert.Throws<FormatException>(() => Users.Parse("", "WIRESTACK_USERS"));
    }

    [Fact(DisplayName = "Sessions: a token per login, ended by logout, by idle time and by absolute age; an HTTPS session is refused over HTTP; the table is bounded")]
    public void SessionLifetimes()
    {
        var clock = new ManualClock();
        var sessions = new Sessions(clock, TimeSpan.FromMinutes(30), TimeSpan.FromHours(12), capacity: 3);
        string a = sessions.Create("admin", https: false), b = sessions.Create("admin", https: false);
        Assert.NotEqual(a, b);
        Assert.Equal("admin", sessions.Validate(a, https: false));
        Assert.Equal("admin", sessions.Validate(a, https: true)); // an HTTP session may move up to HTTPS
        sessions.Revoke(a);
        Assert.Null(sessions.Validate(a, https: false));

        clock.Now += TimeSpan.FromMinutes(31);
        Assert.Null(sessions.Validate(b, https: false)); // idle

        string c = sessions.Create("admin", https: true);
        Assert.Null(sessions.Validate(c, https: false));
        for (int i = 0; i < 30; i++)
        {
            clock.Now += TimeSpan.FromMinutes(25);
            Assert.Equal(i * 25 + 25 <= 12 * 60 ? "admin" : null, sessions.Validate(c, https: true)); // used, yet 12 h at most
        }

        for (int i = 0; i < 10; i++)
            sessions.Create("user" + i, https: false);
        Assert.Equal(3, sessions.Count);
        Assert.Contains("SameSite=Strict", sessions.Cookie("x", https: true));
        Assert.StartsWith("secure_access_token=x; Path=/; HttpOnly", sessions.Cookie("x", https: true));
        Assert.EndsWith("; Secure", sessions.Cookie("x", https: true));
    }

    [Fact(DisplayName = "Distributed password guessing attack: logins from many sources queue for one slow hash at a time; a remembered password needs none")]
    public async Task HashingIsSerialized()
    {
        var users = new Users([("admin", PasswordHash.Create("the right password", iterations: 200_000))]);
        static Microsoft.AspNetCore.Http.DefaultHttpContext Request(string credentials)
        {
            var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            context.Request.Headers.Authorization = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(credentials));
            return context;
        }
        var attempts = Enumerable.Range(0, 6).Select(i => Task.Run(() => users.AuthenticateAsync(Request($"admin:guess{i}")), TestContext.Current.CancellationToken)).ToList();
        var results = await Task.WhenAll(attempts);
        Assert.All(results, r => Assert.True(r.BadPassword && !r.Busy && r.User is null));
        Assert.Equal(1, users.PeakConcurrentHashes);
        Assert.Equal("admin", (await users.AuthenticateAsync(Request("admin:the right password"))).User);
        Assert.Equal("admin", (await users.AuthenticateAsync(Request("admin:the right password"))).User);
    }

    [Fact(DisplayName = "Distributed password guessing attack against genuine logins: a source that has already failed does not queue for the hash slot (busy at once), so a guesser's sources cannot keep a genuine login waiting behind them")]
    public async Task FailedSourcesDoNotQueue()
    {
        var users = new Users([("admin", PasswordHash.Create("the right password", iterations: 600_000))]);
        static Microsoft.AspNetCore.Http.DefaultHttpContext Request(string credentials, string from)
        {
            var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            context.Request.Headers.Authorization = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(credentials));
            context.Connection.RemoteIpAddress = IPAddress.Parse(from);
            return context;
        }
        users.Throttle.Fail(IPAddress.Parse("192.168.0.66"));
        // A clean source holds the slot with a slow hash...
        var first = Task.Run(() => users.AuthenticateAsync(Request("admin:guess", "192.168.0.10")), TestContext.Current.CancellationToken);
        Assert.True(SpinWait.SpinUntil(() => users.HashesRunning > 0, TimeSpan.FromSeconds(10)));
        // ...the failed source is told "busy" at once instead of queueing; a clean one queues and gets its turn.
        var guesser = await users.AuthenticateAsync(Request("admin:guess again", "192.168.0.66"));
        Assert.True(guesser.Busy);
        var genuine = await users.AuthenticateAsync(Request("admin:the right password", "192.168.0.20"));
        Assert.Equal("admin", genuine.User);
        Assert.True((await first).BadPassword);
    }

    [Theory(DisplayName = "DNS rebinding attack: the Host header must name the device (its addresses, host name, name.local, localhost or an allowed name)")]
    [InlineData("192.168.0.2", true)]
    [InlineData("192.168.0.2:8443", true)]
    [InlineData("[2001:db8::2]", true)]
    [InlineData("[2001:db8::2]:443", true)]
    [InlineData("wirestack", true)]
    [InlineData("WIRESTACK.local", true)]
    [InlineData("localhost:80", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("device.example", true)]
    [InlineData("attacker.example", false)]
    [InlineData("192.168.0.3", false)]
    [InlineData("wirestack.attacker.example", false)]
    public void HostAllowList(string host, bool allowed)
    {
        IPAddress[] addresses = [IPAddress.Parse("192.168.0.2"), IPAddress.Parse("2001:db8::2")];
        Assert.Equal(allowed, WebSurface.IsAllowedHost(new Microsoft.AspNetCore.Http.HostString(host), "wirestack", addresses, ["device.example"]));
    }
}
