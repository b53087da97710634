using System.Security.Cryptography;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// Dashboard sessions: a random token per login (not per user), ended by logout, by a password change, after
/// <see cref="IdleTimeout"/> without use and after <see cref="AbsoluteTimeout"/> in any case (OWASP session
/// management). A session begun over HTTPS is refused over plain HTTP, so a token sniffed on port 80 cannot have
/// come from an HTTPS login. Bounded: past <paramref name="capacity"/> the least recently used session ends.
/// </summary>
internal sealed class Sessions(TimeProvider clock, TimeSpan idleTimeout, TimeSpan absoluteTimeout, int capacity = 1024)
{
    /// <summary>The cookie of a session begun over plain HTTP (DASHBOARD-API.md's name).</summary>
    public const string CookieName = "access_token";

    /// <summary>The cookie of a session begun over HTTPS, always Secure, so a browser never sends it over plain HTTP.</summary>
    public const string SecureCookieName = "secure_access_token";

    sealed record Session(string User, bool Https, DateTimeOffset Created)
    {
        public DateTimeOffset LastUsed { get; set; }
    }

    readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    readonly Lock _lock = new();

    public TimeSpan IdleTimeout => idleTimeout;

    public TimeSpan AbsoluteTimeout => absoluteTimeout;

    public int Count
    {
        get
        {
            lock (_lock)
                return _sessions.Count;
        }
    }

    /// <summary>Starts a session for <paramref name="user"/>; returns its token.</summary>
    public string Create(string user, bool https)
    {
        string token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var now = clock.GetUtcNow();
        lock (_lock)
        {
            if (_sessions.Count >= capacity)
                _sessions.Remove(_sessions.MinBy(s => s.Value.LastUsed).Key);
            _sessions[token] = new Session(user, https, now) { LastUsed = now };
        }
        return token;
    }

    /// <summary>The user of a live session, refreshing its idle time; null when unknown, expired, or HTTPS-only over HTTP.</summary>
    public string? Validate(string token, bool https)
    {
        var now = clock.GetUtcNow();
        lock (_lock)
        {
            // A dictionary lookup by the token itself: its timing says nothing useful about other tokens.
            if (!_sessions.TryGetValue(token, out var session))
                return null;
            if (now - session.LastUsed > idleTimeout || now - session.Created > absoluteTimeout)
            {
                _sessions.Remove(token);
                return null;
            }
            if (session.Https && !https)
                return null;
            session.LastUsed = now;
            return session.User;
        }
    }

    public void Revoke(string token)
    {
        lock (_lock)
            _sessions.Remove(token);
    }

    /// <summary>Ends every session of <paramref name="user"/> (after a password change).</summary>
    public void RevokeUser(string user)
    {
        lock (_lock)
        {
            foreach (var token in _sessions.Where(s => s.Value.User == user).Select(s => s.Key).ToList())
                _sessions.Remove(token);
        }
    }

    /// <summary>The Set-Cookie value for a new session: HttpOnly, SameSite=Strict, Secure over HTTPS, living as long as the session may.</summary>
    public string Cookie(string token, bool https) =>
        $"{(https ? SecureCookieName : CookieName)}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={(int)absoluteTimeout.TotalSeconds}" + (https ? "; Secure" : "");

    /// <summary>The Set-Cookie value that removes the session cookie.</summary>
    public static string ExpiredCookie(bool https) =>
        $"{(https ? SecureCookieName : CookieName)}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" + (https ? "; Secure" : "");
}
