using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Wirestack.Device.Dashboard;

/// <summary>
/// The query of POST /api/firmware/upload, parsed strictly: each parameter once, numbers as plain digits within
/// range, the image name from a safe set (it is shown in the status and the event log, and names a file nowhere),
/// the session id as the device gave it.
/// </summary>
internal readonly partial record struct FirmwareUpload(string Name, long Offset, long Total, string? Id)
{
    public const int MaxName = 64;

    /// <summary>The upload the query describes, or why it is not one.</summary>
    public static (FirmwareUpload Upload, string? Error) Parse(IQueryCollection query)
    {
        foreach (var (key, _) in query)
        {
            if (key is not ("name" or "offset" or "total" or "id"))
                return (default, $"unknown query parameter '{Printable(key)}' (expected name, offset, total and id)");
        }
        if (One(query, "name", out string? name) is { } nameError)
            return (default, nameError);
        if (name is null || !SafeName().IsMatch(name))
            return (default, $"name must be 1 to {MaxName} letters, digits, '.', '-' or '_', not starting with '.'");
        if (Number(query, "offset", 0, out long offset) is { } offsetError)
            return (default, offsetError);
        if (Number(query, "total", 1, out long total) is { } totalError)
            return (default, totalError);
        if (total > Firmware.MaxImage)
            return (default, $"total must be between 1 byte and {Firmware.MaxImage >> 20} MiB");
        if (offset > total)
            return (default, $"offset {offset} is past total {total}");
        if (One(query, "id", out string? id) is { } idError)
            return (default, idError);
        if (id is not null && !SessionId().IsMatch(id))
            return (default, "id must be the 32 hexadecimal digits of an Upload-Id");
        return (new FirmwareUpload(name, offset, total, id), null);
    }

    static string? One(IQueryCollection query, string key, out string? value)
    {
        value = null;
        if (!query.TryGetValue(key, out var values))
            return null;
        if (values.Count != 1)
            return $"{key} is given {values.Count} times";
        value = values[0];
        return null;
    }

    static string? Number(IQueryCollection query, string key, long least, out long value)
    {
        value = 0;
        if (One(query, key, out string? text) is { } error)
            return error;
        if (text is null)
            return $"{key} is missing";
        if (!PlainNumber().IsMatch(text) || !long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value) || value < least)
            return $"{key} must be a whole number of bytes in plain digits, at least {least}";
        return null;
    }

    static string Printable(string text) => new([.. text.Take(40).Select(c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c)]);

    [GeneratedRegex(@"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex SafeName();

    [GeneratedRegex(@"^(0|[1-9][0-9]{0,17})\z")]
    private static partial Regex PlainNumber();

    [GeneratedRegex(@"^[0-9a-f]{32}\z")]
    private static partial Regex SessionId();
}
