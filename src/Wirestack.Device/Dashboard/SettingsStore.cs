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

    /// <summary>Applies the fields the patch gives (validated when it was bound) and keeps the result.</summary>
    public void Update(SettingsPatch patch)
    {
        lock (_lock)
        {
            var next = patch.ApplyTo(_current);
            OwnerOnlyFile.Replace(_path, JsonSerializer.SerializeToUtf8Bytes(next, DashboardJson.Default.DeviceSettingsModel));
            _current = next;
        }
    }
}
