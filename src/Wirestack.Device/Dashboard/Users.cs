using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// The dashboard's users and their access tokens: a token is random per user and per start, never a fixed string.
/// A request is authenticated by Basic credentials, a Bearer token, or the token cookie the login sets.
/// </summary>
internal sealed class Users
{
    public const string CookieName = "access_token";
    public const string SecureCookieName = "secure_access_token";

    readonly Dictionary<string, (byte[] Password, string Token)> _users = new(StringComparer.Ordinal);

    public Users(IEnumerable<(string Name, string Password)> users)
    {
        foreach (var (name, password) in users)
            _users[name] = (Encoding.UTF8.GetBytes(password), Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)));
    }

    public string TokenOf(string user) => _users[user].Token;

    /// <summary>The user a request speaks for, or null.</summary>
    public string? Authenticate(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            return CheckBasic(header[6..].Trim());
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return ByToken(header[7..].Trim());
        string cookie = context.Request.IsHttps ? SecureCookieName : CookieName;
        return context.Request.Cookies.TryGetValue(cookie, out var token) ? ByToken(token) : null;
    }

    string? CheckBasic(string encoded)
    {
        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
        }
        catch (FormatException)
        {
            return null;
        }
        int colon = decoded.IndexOf(':');
        if (colon <= 0)
            return null;
        string name = decoded[..colon];
        var given = Encoding.UTF8.GetBytes(decoded[(colon + 1)..]);
        return _users.TryGetValue(name, out var user) && CryptographicOperations.FixedTimeEquals(user.Password, given) ? name : null;
    }

    string? ByToken(string token)
    {
        var given = Encoding.ASCII.GetBytes(token);
        foreach (var (name, user) in _users)
        {
            if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(user.Token), given))
                return name;
        }
        return null;
    }
}
