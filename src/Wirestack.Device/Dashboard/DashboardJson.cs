using System.Text.Json.Serialization;

namespace Wirestack.Device.Dashboard;

// The dashboard's JSON, as named types a source generator serializes: the device publishes as NativeAOT, where
// reflection-based serialization (and with it anonymous types) is not available. Names are snake_case on the wire,
// as ../shared/DASHBOARD-API.md has them; the few the seed spells otherwise say so.

internal sealed record UserReply(string User);

internal sealed record StatusReply(bool Status, string Message);

internal sealed record StatsReply(int Temperature, int Humidity, int[] Points);

internal sealed record EventsReply(
    IReadOnlyList<DeviceEvent> Arr,
    [property: JsonPropertyName("totalCount")] int TotalCount);

internal sealed record FirmwareStatusReply(FirmwareImage? Current, FirmwareImage? Staged);

/// <summary>What /api/live sends every second.</summary>
internal sealed record LiveStats(
    int Temperature,
    int Humidity,
    int[] Points,
    string State,
    long FramesReceived,
    long FramesSent,
    long BytesReceived,
    long BytesSent,
    long Time);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(UserReply))]
[JsonSerializable(typeof(StatusReply))]
[JsonSerializable(typeof(StatsReply))]
[JsonSerializable(typeof(EventsReply))]
[JsonSerializable(typeof(FirmwareStatusReply))]
[JsonSerializable(typeof(LiveStats))]
[JsonSerializable(typeof(DeviceEvent))]
[JsonSerializable(typeof(DeviceSettingsModel))]
[JsonSerializable(typeof(NetworkSnapshot))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class DashboardJson : JsonSerializerContext;
