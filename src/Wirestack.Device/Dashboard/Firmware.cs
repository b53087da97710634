using System.Security.Cryptography;
using System.Text.Json.Serialization;

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
internal sealed class Firmware(string directory)
{
    readonly SemaphoreSlim _gate = new(1, 1);
    string? _uploadName;
    long _uploadTotal;
    long _uploadLength;

    string Upload => Path.Combine(directory, "upload.bin");
    string Staged => Path.Combine(directory, "staged.bin");
    string CurrentFile => Path.Combine(directory, "current.bin");

    public FirmwareImage? Current { get; private set; }
    public FirmwareImage? Pending { get; private set; }

    /// <summary>
    /// Takes one chunk from <paramref name="body"/>, streamed to the upload file (never held whole in memory);
    /// returns an error text for a 400, or null. An empty chunk at the end finishes the upload.
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
            Directory.CreateDirectory(directory);
            if (offset == 0)
            {
                _uploadName = name;
                _uploadTotal = total;
                _uploadLength = 0;
                File.WriteAllBytes(Upload, []);
            }
            if (_uploadName != name || _uploadTotal != total)
                return "no upload of this name and total is in progress (start at offset 0)";
            if (offset != _uploadLength)
                return offset < _uploadLength ? $"offset {offset} overlaps data already received ({_uploadLength} bytes)" : $"gap: offset {offset}, expected {_uploadLength}";
            long written = 0;
            await using (var file = new FileStream(Upload, FileMode.Append, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    if (offset + written + n > total)
                    {
                        file.SetLength(_uploadLength);
                        return $"chunk runs past total {total}";
                    }
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                    written += n;
                }
            }
            _uploadLength += written;
            if (written > 0)
                return null;
            if (_uploadLength != total)
                return $"upload incomplete: {_uploadLength} of {total} bytes";
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
