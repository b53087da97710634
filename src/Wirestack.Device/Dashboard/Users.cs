using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Wirestack.Device.Platform;
using Wirestack.Interop;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// The dashboard's users: salted slow password hashes (<see cref="PasswordHash"/>), never a built-in password. A
/// request is authenticated by Basic credentials, or by a session (<see cref="Sessions"/>) the login started, sent as
/// its cookie or as a Bearer token.
/// </summary>
/// <remarks>
/// A slow hash on every Basic-authenticated request would cost a third of a second each, so a password that verified
/// once is remembered as an HMAC under a key that lives only in this process; a changed password forgets it.
/// </remarks>
internal sealed class Users
{
    sealed class Account(string hash)
    {
        public string Hash = hash;
        public byte[]? Verified;
    }

    readonly Dictionary<string, Account> _accounts = new(StringComparer.Ordinal);

    /// <summary>
    /// Slow hashes computed at once, at most: guesses from many addresses (each within its own throttle's free
    /// failures, easy with IPv6) queue for one core instead of taking them all, and give up after
    /// <see cref="HashWait"/> as "busy"; the network stack keeps the other cores. Only sources without a recent
    /// failure queue: one that has failed gets the slot when it is free or "busy" at once, so a guesser's sources
    /// cannot fill the queue ahead of a genuine login.
    /// </summary>
    public const int MaxConcurrentHashes = 1;

    /// <summary>The longest password the API takes: far past any passphrase, short enough to hash at once.</summary>
    public const int MaxPasswordLength = 1024;

    public static readonly TimeSpan HashWait = TimeSpan.FromSeconds(5);

    readonly SemaphoreSlim _hashSlots = new(MaxConcurrentHashes);
    int _hashing;

    /// <summary>Tests only: slow hashes running now.</summary>
    internal int HashesRunning => Volatile.Read(ref _hashing);

    /// <summary>Tests only: the most slow hashes seen running at once for logins.</summary>
    internal int PeakConcurrentHashes { get; private set; }

    /// <summary>Failed logins per source address (kept across stack resets, as the users are).</summary>
    public LoginThrottle Throttle { get; } = new(TimeProvider.System);

    /// <summary>Logged-in sessions: 30 minutes idle, 12 hours at most (tests may shorten them).</summary>
    public Sessions Sessions { get; set; } = new(TimeProvider.System, TimeSpan.FromMinutes(30), TimeSpan.FromHours(12));

    readonly byte[] _cacheKey = RandomNumberGenerator.GetBytes(32);
    readonly string? _storePath;
    readonly Lock _lock = new();

    /// <param name="users">Names with a password or a <see cref="PasswordHash"/> string.</param>
    /// <param name="storePath">Where changed passwords are kept (the generated-user file), or null when the users are given (no change then).</param>
    public Users(IEnumerable<(string Name, string Secret)> users, string? storePath = null)
    {
        foreach (var (name, secret) in users)
            _accounts[name] = new Account(PasswordHash.IsHash(secret) ? secret : PasswordHash.Create(secret));
        _storePath = storePath;
    }

    /// <summary>
    /// The user a request speaks for, or null; BadPassword when Basic credentials were tried and wrong, Busy when they
    /// could not be checked in time (too many slow hashes queued).
    /// </summary>
    public async Task<(string? User, bool BadPassword, bool Busy)> AuthenticateAsync(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            bool failedBefore = context.Connection.RemoteIpAddress is { } source && Throttle.HasFailed(source);
            var (user, busy) = await CheckBasicAsync(header[6..].Trim(), failedBefore ? TimeSpan.Zero : HashWait, context.RequestAborted);
            return (user, user is null && !busy, busy);
        }
        return (Authenticate(context), false, false);
    }

    /// <summary>
    /// Whether a request authenticated earlier still speaks for a user, checked without a slow hash (a long-lived
    /// stream asks every tick): its session has not ended (logout, idle, age, a password change), or its Basic
    /// password is still the one verified.
    /// </summary>
    public bool StillAuthenticated(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            return Authenticate(context) is not null;
        try
        {
            string decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            int colon = decoded.IndexOf(':');
            return colon > 0 && IsRemembered(decoded[..colon], decoded[(colon + 1)..]);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>The user of a session cookie or Bearer token, or null (no password involved).</summary>
    string? Authenticate(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        bool https = context.Request.IsHttps;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return Sessions.Validate(header[7..].Trim(), https);
        return SessionToken(context) is { } token ? Sessions.Validate(token, https) : null;
    }

    /// <summary>The session cookie of the request's scheme, if any.</summary>
    public static string? SessionToken(HttpContext context) =>
        context.Request.Cookies.TryGetValue(context.Request.IsHttps ? Sessions.SecureCookieName : Sessions.CookieName, out var token) ? token : null;

    async Task<(string? User, bool Busy)> CheckBasicAsync(string encoded, TimeSpan wait, CancellationToken cancellationToken)
    {
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
        }
        catch (FormatException)
        {
            return (null, false);
        }
        int colon = decoded.IndexOf(':');
        if (colon <= 0)
            return (null, false);
        string name = decoded[..colon], password = decoded[(colon + 1)..];
        if (IsRemembered(name, password))
            return (name, false);
        if (!await _hashSlots.WaitAsync(wait, cancellationToken).ConfigureAwait(false))
            return (null, true);
        int running = Interlocked.Increment(ref _hashing);
        PeakConcurrentHashes = Math.Max(PeakConcurrentHashes, running);
        try
        {
            return (Verify(name, password) ? name : null, false);
        }
        finally
        {
            Interlocked.Decrement(ref _hashing);
            _hashSlots.Release();
        }
    }

    /// <summary>True when the password verified earlier in this process (no slow hash needed).</summary>
    bool IsRemembered(string name, string password)
    {
        byte[]? verified;
        lock (_lock)
            verified = _accounts.TryGetValue(name, out var account) ? account.Verified : null;
        return verified is not null && CryptographicOperations.FixedTimeEquals(verified, HMACSHA256.HashData(_cacheKey, Encoding.UTF8.GetBytes(password)));
    }

    /// <summary>True when <paramref name="password"/> is <paramref name="name"/>'s.</summary>
    public bool Verify(string name, string password)
    {
        if (IsRemembered(name, password))
            return true;
        Account? account;
        string hash;
        lock (_lock)
        {
            _accounts.TryGetValue(name, out account);
            hash = account?.Hash ?? DummyHash;
        }
        // An unknown name costs the same hash time as a known one, so timing does not tell which names exist.
        if (!PasswordHash.Verify(password, hash) || account is null)
            return false;
        var mac = HMACSHA256.HashData(_cacheKey, Encoding.UTF8.GetBytes(password));
        lock (_lock)
        {
            if (account.Hash == hash)
                account.Verified = mac;
        }
        return true;
    }

    static readonly string DummyHash = PasswordHash.Create(PasswordHash.Generate());

    /// <summary>
    /// Sets a new password (at least 12 characters) after checking the old one and ends the user's sessions, so every
    /// cookie and bearer token issued before stops working. The old password is a password guess like a login's:
    /// held back by <see cref="Throttle"/> for <paramref name="source"/> and checked in the same hash queue. Only
    /// users kept in the store can change theirs: a change to --user or --users-file accounts would last until the
    /// next start only.
    /// </summary>
    /// <returns>Null on success, else why not, and whether the hash queue was busy (retry shortly).</returns>
    public async Task<(string? Error, bool Busy)> ChangePasswordAsync(string name, string oldPassword, string newPassword, System.Net.IPAddress source,
        CancellationToken cancellationToken)
    {
        if (_storePath is null)
            return ("users given with --user or --users-file change their password there", false);
        if (newPassword.Length < 12)
            return ("the new password needs at least 12 characters", false);
        if (Throttle.RetryAfter(source) > TimeSpan.Zero)
            return ("too many failed passwords; retry later", false);
        if (!IsRemembered(name, oldPassword))
        {
            if (!await _hashSlots.WaitAsync(HashWait, cancellationToken).ConfigureAwait(false))
                return ("busy checking other passwords; retry in a second", true);
            bool right;
            try
            {
                right = Verify(name, oldPassword);
            }
            finally
            {
                _hashSlots.Release();
            }
            if (!right)
            {
                Throttle.Fail(source);
                return ("the old password is wrong", false);
            }
        }
        string hash = PasswordHash.Create(newPassword);
        lock (_lock)
        {
            var account = _accounts[name];
            account.Hash = hash;
            account.Verified = null;
            Save(_storePath, _accounts.ToDictionary(a => a.Key, a => a.Value.Hash));
        }
        Sessions.RevokeUser(name);
        return (null, false);
    }

    /// <summary>
    /// The users kept in <paramref name="path"/>; on first start (no file) an <c>admin</c> with a generated password,
    /// stored as a hash, the password returned so it can be shown once.
    /// </summary>
    public static (Users Users, string? GeneratedPassword) LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            var stored = JsonSerializer.Deserialize(File.ReadAllText(path), DashboardJson.Default.DictionaryStringString) ?? [];
            if (stored.Count == 0 || stored.Values.Any(h => !PasswordHash.IsHash(h)))
                throw new InvalidDataException($"{path} does not hold password hashes; remove it to have a new password generated.");
            return (new Users(stored.Select(s => (s.Key, s.Value)), path), null);
        }
        string password = PasswordHash.Generate();
        string hash = PasswordHash.Create(password);
        Save(path, new Dictionary<string, string> { ["admin"] = hash });
        return (new Users([("admin", hash)], path), password);
    }

    /// <summary>Parses NAME:PASSWORD (or NAME:HASH) lines or comma-separated items, as a users file or variable holds them.</summary>
    public static List<(string Name, string Secret)> Parse(string text, string source)
    {
        var users = new List<(string, string)>();
        int item = 0;
        foreach (var raw in text.Split(['\n', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            item++;
            if (raw.StartsWith('#'))
                continue;
            int colon = raw.IndexOf(':');
            // Named by its place, not its text: a malformed entry may be a password, and errors reach the journal.
            if (colon <= 0 || colon == raw.Length - 1)
                throw new FormatException($"{source}: entry {item} is not NAME:PASSWORD (its text is not shown: it may hold a password).");
            users.Add((raw[..colon], raw[(colon + 1)..]));
        }
        if (users.Count == 0)
            throw new FormatException($"{source}: no users.");
        return users;
    }

    /// <summary>Writes the hashes owner-only, replacing the file atomically without following a planted link.</summary>
    static void Save(string path, Dictionary<string, string> hashes) =>
        OwnerOnlyFile.Replace(path, stream => JsonSerializer.Serialize(stream, hashes, DashboardJson.Default.DictionaryStringString));
}
