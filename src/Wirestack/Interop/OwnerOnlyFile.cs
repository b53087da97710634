using System.Security.Cryptography;

namespace Wirestack.Interop;

/// <summary>
/// Files that hold secrets (pcap captures; the device's passwords, keys, settings and firmware) are readable by
/// their owner only and never written through a link someone planted: each is written to a new temporary file (O_EXCL, which refuses an existing name
/// or link) under an unpredictable name, flushed to disk, then renamed over the old one, so a reader sees the old
/// file or the new one, never half of either.
/// </summary>
internal static class OwnerOnlyFile
{
    /// <summary>Replaces <paramref name="path"/> with what <paramref name="write"/> puts in the stream, atomically.</summary>
    public static void Replace(string path, Action<Stream> write)
    {
        string temporary = $"{path}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp";
        try
        {
            using (var file = CreateNew(temporary))
            {
                write(file);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public static void Replace(string path, ReadOnlySpan<byte> content)
    {
        byte[] copy = content.ToArray();
        Replace(path, stream => stream.Write(copy));
    }

    /// <summary>
    /// A new, empty owner-only file at <paramref name="path"/>; whatever was there (a file, or a link, which is removed
    /// and not followed) is gone first. <paramref name="access"/> ReadWrite lets the writer read back what it wrote.
    /// </summary>
    public static FileStream CreateFresh(string path, FileShare share = FileShare.None, int bufferSize = 4096, FileAccess access = FileAccess.Write)
    {
        File.Delete(path);
        return CreateNew(path, share, bufferSize, access);
    }

    static FileStream CreateNew(string path, FileShare share = FileShare.None, int bufferSize = 4096, FileAccess access = FileAccess.Write)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = access, Share = share, BufferSize = bufferSize };
        if (OperatingSystem.IsLinux())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        return new FileStream(path, options);
    }
}
