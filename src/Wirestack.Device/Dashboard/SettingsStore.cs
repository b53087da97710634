using System.Text.Json;
using System.Text.Json.Serialization;
using Wirestack.Device.Platform;
using Wirestack.Interop;

namespace Wirestack.Device.Dashboard;

/// <summary>The device settings the dashboard edits (the seed's fields, snake_case on the wire).</summary>
internal sealed record DeviceSettingsModel
{
    [JsonPropertyName("log_enabled")] public bool LogEnabled { get; init; } = true;
    [JsonPropertyName("log_level")] public int LogLevel { get; init; } = 2;
    [JsonPropertyName("brightness")] public int Brightness { get; init; } = 50;
    [JsonPropertyName("device_name")] public string DeviceName { get; init; } = "wirestack-device";
}

/// <summary>Settings that survive restarts: an owner-only JSON file, replaced atomically (<see cref="OwnerOnlyFile"/>).</summary>
internal sealed class SettingsStore
{
    public const int MaxDeviceName = 40;
    readonly string _path;
    readonly object _lock = new();
    DeviceSettingsModel _current;

    public SettingsStore(string path)
    {
        _path = path;
        _current = Load(_path);
    }

    public DeviceSettingsModel Current
    {
        get
        {
            lock (_lock)
                return _current;
        }
    }

    static DeviceSettingsModel Load(string path)
    {
        try
        {
            if (File.Exists(path))
                return JsonSerializer.Deserialize(File.ReadAllText(path), DashboardJson.Default.DeviceSettingsModel) ?? new DeviceSettingsModel();
        }
        catch (JsonException)
        {
            // A damaged file falls back to defaults rather than stopping the device.
        }
        return new DeviceSettingsModel();
    }

    /// <summary>Applies the fields present in <paramref name="update"/>; returns an error message or null.</summary>
    public string? Update(JsonElement update)
    {
        if (update.ValueKind != JsonValueKind.Object)
            return "expected a JSON object";
        lock (_lock)
        {
            var next = _current;
            foreach (var property in update.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "log_enabled" when property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                        next = next with { LogEnabled = property.Value.GetBoolean() };
                        break;
                    case "log_level" when property.Value.TryGetInt32(out int level) && level is >= 0 and <= 4:
                        next = next with { LogLevel = level };
                        break;
                    case "brightness" when property.Value.TryGetInt32(out int brightness) && brightness is >= 0 and <= 100:
                        next = next with { Brightness = brightness };
                        break;
                    case "device_name" when property.Value.ValueKind == JsonValueKind.String:
                        string name = property.Value.GetString()!;
                        if (name.Length > MaxDeviceName)
                            return $"device_name is longer than {MaxDeviceName} characters";
                        next = next with { DeviceName = name };
                        break;
                    default:
                        return $"invalid value for {property.Name}";
                }
            }
            OwnerOnlyFile.Replace(_path, JsonSerializer.SerializeToUtf8Bytes(next, DashboardJson.Default.DeviceSettingsModel));
            _current = next;
            return null;
        }
    }
}
