using System.Security.Cryptography;
using System.Text.Json.Serialization;
using Wirestack.Device.Platform;
using Wirestack.Interop;

namespace Wirestack.Device.Dashboard;

/// <summary>An image's description for /api/firmware/status.</summary>
internal sealed record FirmwareImage(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("time")] long Time);

/// <summary>
/// The simulated OTA: chunks are written in order into a staging file; the empty final chunk verifies the size and
/// stages the image; commit makes it current, rollback discards it. Files live in one directory, replaced atomically.
/// </summary>
/// <remarks>
/// The upload file is created afresh owner-only (a link planted at its name is removed, not followed) and held open
/// for the whole upload, so what is written is what was sent: each chunk goes at its exact offset, and a chunk that
/// fails half-way (the connection drops, the body runs past the total) is cut off again, leaving the staged bytes as
/// they were and the same offset open for a retry.
/// </remarks>
internal sealed class Firmware(string directory)
{
    /// <summary>Space the disk must keep free beyond an upload's total before it starts.</summary>
    public const long FreeSpaceMargin = 16L << 20;

    readonly SemaphoreSlim _gate = new(1, 1);
    string? _uploadName;
    long _uploadTotal;
    long _uploadLength;
    FileStream? _upload;

    string Upload => Path.Combine(directory, "upload.part");
    string Staged => Path.Combine(directory, "staged.bin");
    string CurrentFile => Path.Combine(directory, "current.bin");

    public FirmwareImage? Current { get; private set; }
    public FirmwareImage? Pending { get; private set; }

    /// <summary>
    /// Takes one chunk from <paramref name="body"/>, streamed to the upload file (never held whole in memory);
    /// returns an error text for a 400, or null. An empty chunk at the end finishes the upload. A failure while the
    /// body is read (the connection drops) takes back what the chunk had written and is thrown on.
    /// </summary>
    public async Task<string?> WriteAsync(string name, long offset, long total, Stream body, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 100)
            return "name is missing or too long";
        if (total <= 0 || total > 64L << 20)
            return "total must be between 1 byte and 64 MiB";
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (offset == 0)
            {
                Directory.CreateDirectory(directory);
                long free = new DriveInfo(Path.GetFullPath(directory)).AvailableFreeSpace;
                if (free < total + FreeSpaceMargin)
                    return $"not enough free space for {total} bytes ({free} free)";
                _upload?.Dispose();
                _upload = OwnerOnlyFile.CreateFresh(Upload);
                _uploadName = name;
                _uploadTotal = total;
                _uploadLength = 0;
            }
            if (_upload is null || _uploadName != name || _uploadTotal != total)
                return "no upload of this name and total is in progress (start at offset 0)";
            if (offset != _uploadLength)
                return offset < _uploadLength ? $"offset {offset} overlaps data already received ({_uploadLength} bytes)" : $"gap: offset {offset}, expected {_uploadLength}";
            long written = 0;
            bool complete = false;
            try
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    if (offset + written + n > total)
                        return $"chunk runs past total {total}";
                    await RandomAccess.WriteAsync(_upload.SafeFileHandle, buffer.AsMemory(0, n), offset + written, cancellationToken);
                    written += n;
                }
                complete = true;
            }
            finally
            {
                if (!complete)
                    _upload.SetLength(_uploadLength);
            }
            _uploadLength += written;
            if (written > 0)
                return null;
            if (_uploadLength != total)
                return $"upload incomplete: {_uploadLength} of {total} bytes";
            _upload.Flush(flushToDisk: true);
            _upload.Dispose();
            _upload = null;
            File.Move(Upload, Staged, overwrite: true);
            Pending = Describe(name, Staged);
            _uploadName = null;
            return null;
        }
        finally
        {
            _gate.Release();
        }
    }

    public bool Commit() => Locked(() =>
    {
        if (Pending is null)
            return false;
        File.Move(Staged, CurrentFile, overwrite: true);
        Current = Pending with { Time = DateTimeOffset.UtcNow.ToUnixTimeSeconds() };
        Pending = null;
        return true;
    });

    public bool Rollback() => Locked(() =>
    {
        if (Pending is null)
            return false;
        File.Delete(Staged);
        Pending = null;
        return true;
    });

    bool Locked(Func<bool> action)
    {
        _gate.Wait();
        try
        {
            return action();
        }
        finally
        {
            _gate.Release();
        }
    }

    static FirmwareImage Describe(string name, string path)
    {
        using var file = File.OpenRead(path);
        return new FirmwareImage(name, file.Length, Convert.ToHexStringLower(SHA256.HashData(file)), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
    }
}
