using System.Security.Cryptography;
using System.Text;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// Salted slow password hashes: PBKDF2-HMAC-SHA256 from the framework with 600,000 iterations (OWASP's 2023 figure
/// for SHA-256), a 16-byte random salt and a 32-byte result, stored as
/// <c>pbkdf2-sha256$ITERATIONS$SALT$HASH</c> (base64). Verification is constant-time in the hash comparison.
/// </summary>
internal static class PasswordHash
{
    public const int Iterations = 600_000;
    const string Scheme = "pbkdf2-sha256";

    public static string Create(string password, int iterations = Iterations)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        return $"{Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>True when <paramref name="encoded"/> has the form <see cref="Create"/> writes.</summary>
    public static bool IsHash(string encoded) => TryParse(encoded, out _, out _, out _);

    public static bool Verify(string password, string encoded)
    {
        if (!TryParse(encoded, out int iterations, out var salt, out var expected))
            return false;
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    static bool TryParse(string encoded, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = hash = [];
        var parts = encoded.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme || !int.TryParse(parts[1], out iterations) || iterations is < 1000 or > 10_000_000)
            return false;
        try
        {
            salt = Convert.FromBase64String(parts[2]);
            hash = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return false;
        }
        return salt.Length >= 8 && hash.Length >= 16;
    }

    /// <summary>A random password of 20 characters from an alphabet without look-alikes (about 114 bits).</summary>
    public static string Generate()
    {
        const string Alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        var chars = new char[20];
        for (int i = 0; i < chars.Length; i++)
            chars[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        return new string(chars);
    }
}
