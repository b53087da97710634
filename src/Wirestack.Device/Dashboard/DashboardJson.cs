using System.Text.Json.Serialization;

namespace Wirestack.Device.Dashboard;

// The dashboard's JSON, as named types a source generator serializes: the device publishes as NativeAOT, where
// reflection-based serialization (and with it anonymous types) is not available. Names are snake_case on the wire,
// as ../shared/DASHBOARD-API.md has them; the few the seed spells otherwise say so. Reading is strict (unknown
// fields, duplicate keys, null for a non-nullable field and missing required fields are errors): the same options are
// set on the requests' binding (ApiProblems.ConfigureJson), which reads with the framework's options, not these.

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

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false, RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true)]
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
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(DebugRequest))]
[JsonSerializable(typeof(EventsRequest))]
[JsonSerializable(typeof(PasswordRequest))]
[JsonSerializable(typeof(SettingsPatch))]
internal sealed partial class DashboardJson : JsonSerializerContext;
