using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Wirestack.Interop;

namespace Wirestack.Device.Dashboard;

/// <summary>An image's description for /api/firmware/status.</summary>
internal sealed record FirmwareImage(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("time")] long Time);

/// <summary>What a firmware request came to: an HTTP status, and the reason when it is not 200.</summary>
internal readonly record struct FirmwareOutcome(int Status, string? Error = null, string? UploadId = null, bool Staged = false)
{
    public static readonly FirmwareOutcome Done = new(StatusCodes.Status200OK);

    public static FirmwareOutcome Refused(string error) => new(StatusCodes.Status400BadRequest, error);

    public static FirmwareOutcome Conflict(string error) => new(StatusCodes.Status409Conflict, error);
}

/// <summary>
/// The simulated OTA as a state machine no request can stall: an upload is a session with an id and a staging file
/// of its own, fed chunk by chunk in order; its empty final chunk verifies the size and stages the image; commit
/// makes the staged image current, rollback discards it. The state (which image is current and staged) is a file
/// beside the images, so it survives restarts.
/// </summary>
/// <remarks>
/// No request waits on another's body: a chunk holds only its own session, and the staged and current images are
/// changed under a gate held for a rename and a small write, which commit, rollback and a finishing upload await
/// (a bounded while, then 409). A second upload of a name while one is open is refused (409), as is a chunk of a
/// session while another chunk of it is arriving, so two clients can never interleave one image. Each session's file
/// is created afresh owner-only (a link planted at its name is removed, not followed) and held open for the whole
/// upload; a chunk that fails half-way (the connection drops, the body runs past the total) is cut off again,
/// leaving the same offset open for a retry.
/// </remarks>
internal sealed class Firmware
{
    /// <summary>Space the disk must keep free beyond the uploads' totals before one starts.</summary>
    public const long FreeSpaceMargin = 16L << 20;

    /// <summary>The largest image.</summary>
    public const long MaxImage = 64L << 20;

    /// <summary>Uploads open at once (of different names).</summary>
    public const int MaxSessions = 4;

    /// <summary>A session with no chunk for this long is abandoned: its name can be uploaded again.</summary>
    public static readonly TimeSpan SessionIdle = TimeSpan.FromMinutes(2);

    /// <summary>How long commit, rollback and a finishing upload wait for the images before answering 409.</summary>
    public static readonly TimeSpan StateWait = TimeSpan.FromSeconds(2);

    /// <summary>Files the firmware folder may hold: the images, their state, and open sessions' uploads.</summary>
    public static bool IsOwnFile(string name) =>
        name is StagedName or CurrentName or StateName
        || (name.StartsWith(UploadPrefix, StringComparison.Ordinal) && name.EndsWith(UploadSuffix, StringComparison.Ordinal));

    const string StagedName = "staged.bin", CurrentName = "current.bin", StateName = "firmware.json", UploadPrefix = "upload-", UploadSuffix = ".part";

    readonly string _directory;
    readonly TimeProvider _time;
    readonly SemaphoreSlim _images = new(1, 1);
    readonly Lock _sessionsLock = new();
    readonly Dictionary<string, Session> _sessions = [];
    volatile FirmwareStatusReply _state;

    sealed class Session(string id, string name, long total, FileStream file, long now)
    {
        public readonly string Id = id, Name = name;
        public readonly long Total = total;
        public readonly FileStream File = file;
        public readonly SemaphoreSlim Gate = new(1, 1);
        public long Length;
        public long LastActive = now;
        public bool Closed;
    }

    public Firmware(string directory, TimeProvider? time = null)
    {
        _directory = directory;
        _time = time ?? TimeProvider.System;
        _state = Load();
    }

    public FirmwareImage? Current => _state.Current;
    public FirmwareImage? Pending => _state.Staged;

    string PathOf(string name) => Path.Combine(_directory, name);

    /// <summary>The state as it was left: the state file where it agrees with the images on disk, else the images described afresh.</summary>
    FirmwareStatusReply Load()
    {
        if (!Directory.Exists(_directory))
            return new FirmwareStatusReply(null, null);
        // Uploads do not outlive the process that received them.
        foreach (string upload in Directory.EnumerateFiles(_directory, UploadPrefix + "*" + UploadSuffix))
            File.Delete(upload);
        FirmwareStatusReply? saved = null;
        try
        {
            if (File.Exists(PathOf(StateName)))
                saved = JsonSerializer.Deserialize(File.ReadAllBytes(PathOf(StateName)), DashboardJson.Default.FirmwareStatusReply);
        }
        catch (JsonException)
        {
            // Damaged: the images themselves say what is there.
        }
        FirmwareImage? Image(string file, FirmwareImage? described)
        {
            var info = new FileInfo(PathOf(file));
            if (!info.Exists)
                return null;
            if (described is { } known && known.Size == info.Length)
                return known;
            using var stream = File.OpenRead(info.FullName);
            return Describe(file, stream);
        }
        return new FirmwareStatusReply(Image(CurrentName, saved?.Current), Image(StagedName, saved?.Staged));
    }

    void Save(FirmwareStatusReply state)
    {
        OwnerOnlyFile.Replace(PathOf(StateName), JsonSerializer.SerializeToUtf8Bytes(state, DashboardJson.Default.FirmwareStatusReply));
        _state = state;
    }

    /// <summary>
    /// Takes one chunk from <paramref name="body"/>, streamed to the session's file (never held whole in memory).
    /// Offset 0 without an id opens a session, whose id comes back to be given with every later chunk; an empty chunk
    /// at the end finishes it and stages the image. A failure while the body is read (the connection drops) takes
    /// back what the chunk had written and is thrown on.
    /// </summary>
    public async Task<FirmwareOutcome> WriteAsync(FirmwareUpload upload, Stream body, CancellationToken cancellationToken)
    {
        bool opening = upload.Offset == 0 && upload.Id is null;
        var (session, refusal) = opening ? Open(upload) : Find(upload);
        if (session is null)
            return refusal;
        if (!session.Gate.Wait(0, cancellationToken))
            return FirmwareOutcome.Conflict("another chunk of this upload is still arriving");
        var outcome = default(FirmwareOutcome);
        try
        {
            outcome = await WriteChunkAsync(session, upload, body, cancellationToken);
            return outcome;
        }
        finally
        {
            // A session whose first chunk failed was never given to the client (no Upload-Id): it must not hold the
            // name until it expires.
            if (opening && outcome.UploadId is null && !outcome.Staged)
            {
                lock (_sessionsLock)
                {
                    if (!session.Closed)
                        Close(session);
                }
            }
            session.Gate.Release();
        }
    }

    async Task<FirmwareOutcome> WriteChunkAsync(Session session, FirmwareUpload upload, Stream body, CancellationToken cancellationToken)
    {
        if (session.Closed)
            return FirmwareOutcome.Refused("this upload has ended; start again at offset 0");
        if (upload.Offset != session.Length)
            return FirmwareOutcome.Refused(upload.Offset < session.Length
                ? $"offset {upload.Offset} overlaps data already received ({session.Length} bytes)"
                : $"gap: offset {upload.Offset}, expected {session.Length}");
        long written = await ReceiveAsync(session, body, cancellationToken);
        if (written < 0)
            return FirmwareOutcome.Refused($"chunk runs past total {session.Total}");
        session.LastActive = _time.GetTimestamp();
        if (written > 0)
            return new FirmwareOutcome(StatusCodes.Status200OK, UploadId: session.Id);
        if (session.Length != session.Total)
            return FirmwareOutcome.Refused($"upload incomplete: {session.Length} of {session.Total} bytes");
        return await StageAsync(session, cancellationToken);
    }

    (Session?, FirmwareOutcome) Open(FirmwareUpload upload)
    {
        lock (_sessionsLock)
        {
            foreach (var idle in _sessions.Values.Where(s => s.Gate.CurrentCount > 0 && _time.GetElapsedTime(s.LastActive) > SessionIdle).ToList())
                Close(idle);
            if (_sessions.Values.Any(s => s.Name == upload.Name))
                return (null, FirmwareOutcome.Conflict($"an upload of {upload.Name} is in progress (an abandoned one ends after {SessionIdle.TotalMinutes:0} minutes without a chunk)"));
            if (_sessions.Count >= MaxSessions)
                return (null, FirmwareOutcome.Conflict($"{MaxSessions} uploads are in progress; retry when one has finished"));
            Directory.CreateDirectory(_directory);
            long reserved = _sessions.Values.Sum(s => s.Total - s.Length);
            long free = new DriveInfo(Path.GetFullPath(_directory)).AvailableFreeSpace;
            if (free < upload.Total + reserved + FreeSpaceMargin)
                return (null, FirmwareOutcome.Refused($"not enough free space for {upload.Total} bytes ({free} free)"));
            string id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            var session = new Session(id, upload.Name, upload.Total, OwnerOnlyFile.CreateFresh(PathOf(UploadPrefix + id + UploadSuffix), access: FileAccess.ReadWrite), _time.GetTimestamp());
            _sessions.Add(id, session);
            return (session, default);
        }
    }

    (Session?, FirmwareOutcome) Find(FirmwareUpload upload)
    {
        if (upload.Id is null)
            return (null, FirmwareOutcome.Refused("id is missing: give the Upload-Id the first chunk's answer carried"));
        lock (_sessionsLock)
        {
            if (!_sessions.TryGetValue(upload.Id, out var session))
                return (null, FirmwareOutcome.Refused($"no upload {upload.Id} is in progress (it finished, or ended after {SessionIdle.TotalMinutes:0} idle minutes); start again at offset 0"));
            if (session.Name != upload.Name || session.Total != upload.Total)
                return (null, FirmwareOutcome.Refused($"upload {upload.Id} is of {session.Name}, {session.Total} bytes"));
            return (session, default);
        }
    }

    void Close(Session session)
    {
        // Under _sessionsLock. A chunk still arriving for it finds it closed when it next looks, and its file gone.
        session.Closed = true;
        _sessions.Remove(session.Id);
        session.File.Dispose();
        File.Delete(PathOf(UploadPrefix + session.Id + UploadSuffix));
    }

    /// <summary>Writes the chunk at the session's length; the bytes written, or -1 when the body ran past the total.</summary>
    static async Task<long> ReceiveAsync(Session session, Stream body, CancellationToken cancellationToken)
    {
        long offset = session.Length, written = 0;
        bool complete = false;
        try
        {
            var buffer = new byte[1 << 16];
            int n;
            while ((n = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                if (offset + written + n > session.Total)
                    return -1;
                await RandomAccess.WriteAsync(session.File.SafeFileHandle, buffer.AsMemory(0, n), offset + written, cancellationToken);
                written += n;
            }
            complete = true;
        }
        finally
        {
            if (!complete && !session.Closed)
                session.File.SetLength(offset);
        }
        session.Length += written;
        return written;
    }

    async Task<FirmwareOutcome> StageAsync(Session session, CancellationToken cancellationToken)
    {
        session.File.Flush(flushToDisk: true);
        string file = UploadPrefix + session.Id + UploadSuffix;
        // Hashed before the images' gate, through the session's own handle: the file is the session's while its gate is held.
        session.File.Position = 0;
        var image = Describe(session.Name, session.File);
        if (!await _images.WaitAsync(StateWait, cancellationToken))
            return FirmwareOutcome.Conflict("the firmware is busy; retry the final chunk");
        try
        {
            lock (_sessionsLock)
            {
                session.Closed = true;
                _sessions.Remove(session.Id);
            }
            session.File.Dispose();
            File.Move(PathOf(file), PathOf(StagedName), overwrite: true);
            Save(_state with { Staged = image });
            return FirmwareOutcome.Done with { Staged = true };
        }
        finally
        {
            _images.Release();
        }
    }

    /// <summary>Makes the staged image current.</summary>
    public Task<FirmwareOutcome> CommitAsync(CancellationToken cancellationToken) => ChangeImagesAsync(state =>
    {
        File.Move(PathOf(StagedName), PathOf(CurrentName), overwrite: true);
        return new FirmwareStatusReply(state.Staged! with { Time = _time.GetUtcNow().ToUnixTimeSeconds() }, null);
    }, cancellationToken);

    /// <summary>Discards the staged image.</summary>
    public Task<FirmwareOutcome> RollbackAsync(CancellationToken cancellationToken) => ChangeImagesAsync(state =>
    {
        File.Delete(PathOf(StagedName));
        return state with { Staged = null };
    }, cancellationToken);

    async Task<FirmwareOutcome> ChangeImagesAsync(Func<FirmwareStatusReply, FirmwareStatusReply> change, CancellationToken cancellationToken)
    {
        if (!await _images.WaitAsync(StateWait, cancellationToken))
            return FirmwareOutcome.Conflict("the firmware is busy; retry in a moment");
        try
        {
            if (_state.Staged is null)
                return FirmwareOutcome.Refused("no staged firmware");
            Save(change(_state));
            return FirmwareOutcome.Done;
        }
        finally
        {
            _images.Release();
        }
    }

    FirmwareImage Describe(string name, Stream image) =>
        new(name, image.Length, Convert.ToHexStringLower(SHA256.HashData(image)), _time.GetUtcNow().ToUnixTimeSeconds());
}
