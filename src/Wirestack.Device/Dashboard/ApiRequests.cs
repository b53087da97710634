using System.Text.Json;
using System.Text.Json.Serialization;

namespace Wirestack.Device.Dashboard;

// The API's request bodies as records the framework binds (source-generated JSON, DashboardJson) and that say what
// is wrong with their values (checked by ApiProblems.Validated before a handler runs): a body that does not fit is a
// 400 problem naming the field, never an exception in a handler. Unknown fields, duplicate keys, numbers in strings
// and JSON null where a value is expected are refused while binding (ApiProblems' options and NotNull).
//
// The checks are code rather than DataAnnotations under ASP.NET Core 10's AddValidation: its source generator found
// no endpoint of this project (a plain SDK project with internal records) without the evaluation-only
// [ValidatableType], and reflection-based validation does not belong in a NativeAOT build.

/// <summary>The ranges of the requests' values: checked by the records, published in the API's schema (ApiDocument).</summary>
internal static class ApiLimits
{
    public const int MaxLogLevel = 4;
    public const int MaxBrightness = 100;

    /// <summary>A field's bounds for the schema: least and greatest value, or longest string.</summary>
    public static (int? Minimum, int? Maximum, int? MaxLength) Of(Type record, string property) => (record.Name, property) switch
    {
        (nameof(DebugRequest), nameof(DebugRequest.Level)) or (nameof(SettingsPatch), nameof(SettingsPatch.LogLevel)) => (0, MaxLogLevel, null),
        (nameof(SettingsPatch), nameof(SettingsPatch.Brightness)) => (0, MaxBrightness, null),
        (nameof(SettingsPatch), nameof(SettingsPatch.DeviceName)) => (null, null, SettingsStore.MaxDeviceName),
        (nameof(EventsRequest), nameof(EventsRequest.Page)) => (1, null, null),
        (nameof(PasswordRequest), _) => (null, null, Users.MaxPasswordLength),
        _ => (null, null, null),
    };
}

/// <summary>A request body that can say what is wrong with its values.</summary>
internal interface IValidatedRequest
{
    /// <summary>Null when every value is in range, else which field is wrong and why.</summary>
    string? Problem();
}

/// <summary>POST /api/debug: the log level, 0 (none) to 4 (verbose).</summary>
internal sealed record DebugRequest(int Level) : IValidatedRequest
{
    public string? Problem() => Level is < 0 or > ApiLimits.MaxLogLevel ? "level: must be 0 (none) to 4 (verbose)" : null;
}

/// <summary>POST /api/events/get: the page, 1-based (20 events a page); an empty body asks for the first.</summary>
internal sealed record EventsRequest(int Page = 1) : IValidatedRequest
{
    public string? Problem() => Page < 1 ? "page: must be 1 or more" : null;
}

/// <summary>POST /api/password: the current password and the new one.</summary>
internal sealed record PasswordRequest(string OldPassword, string NewPassword) : IValidatedRequest
{
    public string? Problem() => OldPassword.Length > Users.MaxPasswordLength || NewPassword.Length > Users.MaxPasswordLength
        ? $"passwords have at most {Users.MaxPasswordLength} characters"
        : null;
}

/// <summary>POST /api/settings/set: the fields to change; those left out keep their values.</summary>
internal sealed record SettingsPatch : IValidatedRequest
{
    [JsonConverter(typeof(NotNull<bool>))]
    public bool? LogEnabled { get; init; }

    [JsonConverter(typeof(NotNull<int>))]
    public int? LogLevel { get; init; }

    [JsonConverter(typeof(NotNull<int>))]
    public int? Brightness { get; init; }

    [JsonConverter(typeof(NotNullString))]
    public string? DeviceName { get; init; }

    public string? Problem() => this switch
    {
        { LogLevel: < 0 or > ApiLimits.MaxLogLevel } => "log_level: must be 0 (none) to 4 (verbose)",
        { Brightness: < 0 or > ApiLimits.MaxBrightness } => "brightness: must be 0 to 100",
        { DeviceName.Length: > SettingsStore.MaxDeviceName } => $"device_name: at most {SettingsStore.MaxDeviceName} characters",
        _ => null,
    };

    public DeviceSettingsModel ApplyTo(DeviceSettingsModel settings) => settings with
    {
        LogEnabled = LogEnabled ?? settings.LogEnabled,
        LogLevel = LogLevel ?? settings.LogLevel,
        Brightness = Brightness ?? settings.Brightness,
        DeviceName = DeviceName ?? settings.DeviceName,
    };
}

/// <summary>
/// An optional integer or Boolean field that, when present, must hold a value: left out means "unchanged", but an explicit null is a
/// mistake the client should hear about rather than a silent no-op.
/// </summary>
internal sealed class NotNull<T> : JsonConverter<T?> where T : struct
{
    public override bool HandleNull => true;

    public override T? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
            throw new JsonException("null is not a value for this field");
        // Read here rather than through a nested Deserialize, so that a wrong value's error keeps the field's path
        // (a JsonException without a message gets the serializer's, path included).
        object? value = typeof(T) == typeof(int) && reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int number) ? number
            : typeof(T) == typeof(bool) && reader.TokenType is JsonTokenType.True or JsonTokenType.False ? reader.GetBoolean()
            : throw new JsonException();
        return (T)value;
    }

    public override void Write(Utf8JsonWriter writer, T? value, JsonSerializerOptions options)
    {
        if (value is { } present)
            JsonSerializer.Serialize(writer, present, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)options.GetTypeInfo(typeof(T)));
        else
            writer.WriteNullValue();
    }
}

/// <summary><see cref="NotNull{T}"/> for a string.</summary>
internal sealed class NotNullString : JsonConverter<string?>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.Null => throw new JsonException("null is not a value for this field"),
        _ => throw new JsonException($"expected a string, not {reader.TokenType}"),
    };

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
