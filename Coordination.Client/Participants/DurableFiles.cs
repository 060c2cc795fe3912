using System.Runtime.InteropServices;

namespace Coordination.Client.Participants;

/// <summary>
/// Small durability helpers for files a participant keeps: a whole-file replace that survives a crash
/// (write a temporary file, fsync it, rename it over the old one, fsync the directory).
/// </summary>
public static partial class DurableFiles
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="contents"/> atomically and durably: after a crash it holds either the old or the new contents.</summary>
    public static void ReplaceAtomically(string path, ReadOnlySpan<byte> contents)
    {
        var full = Path.GetFullPath(path);
        var temporary = full + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(contents);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, full, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(full)!);
    }

    /// <summary>
    /// Makes a created, renamed or removed name in <paramref name="directory"/> durable: POSIX needs an fsync of
    /// the directory itself; Windows journals names and has no such call.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = Open(directory, 0);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (FSync(fd) != 0)
            {
                throw new IOException($"fsync of directory {directory} failed with errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
