namespace Wirestack.Interop;

/// <summary>Runs code inside another network namespace on a short-lived thread (setns affects only the calling thread).</summary>
internal static class NetworkNamespace
{
    /// <summary>
    /// Runs <paramref name="create"/> on a new thread that has entered <paramref name="networkNamespace"/> (a name
    /// under /var/run/netns or a path). Whatever it creates (a TAP descriptor, a socket) stays bound to that namespace.
    /// </summary>
    public static T Run<T>(string networkNamespace, Func<T> create)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter(networkNamespace);
                result = create();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }) { Name = "wirestack-netns", IsBackground = true };
        thread.Start();
        thread.Join();
        if (failure is not null)
            throw failure;
        return result;
    }

    static void Enter(string networkNamespace)
    {
        string path = networkNamespace.Contains('/') ? networkNamespace : "/var/run/netns/" + networkNamespace;
        int fd = LibC.Open(path, LibC.O_CLOEXEC);
        if (fd < 0)
            throw new IOException($"Cannot open network namespace '{path}': {LibC.Describe(LibC.LastError)}.");
        try
        {
            if (LibC.SetNs(fd, LibC.CLONE_NEWNET) != 0)
            {
                int errno = LibC.LastError;
                if (errno == LibC.EPERM)
                    throw new UnauthorizedAccessException($"Entering network namespace '{path}' needs root or CAP_SYS_ADMIN.");
                throw new IOException($"Cannot enter network namespace '{path}': {LibC.Describe(errno)}.");
            }
        }
        finally
        {
            LibC.Close(fd);
        }
    }
}
