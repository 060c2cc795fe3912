using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Coordination.Silo.Storage;

/// <summary>
/// The few file operations the write-ahead log and the snapshot store need, so that tests can run
/// them over a simulated disk that loses unsynced data, tears writes and flips bits
/// (issue 3: storage faults in the simulator). Paths are plain strings joined with
/// <see cref="Path.Combine(string, string)"/>. Implementations need not be thread-safe: the storage
/// types call them from the one thread that drives the node.
/// </summary>
public interface IFileSystem
{
    /// <summary>Creates <paramref name="directory"/> (and its parents) if missing.</summary>
    void CreateDirectory(string directory);

    /// <summary>Names (not paths) of the files directly in <paramref name="directory"/>, in ordinal order.</summary>
    IReadOnlyList<string> ListFiles(string directory);

    /// <summary>Opens <paramref name="path"/> for reading and writing, creating it empty when missing.</summary>
    IStorageFile Open(string path);

    bool Exists(string path);

    /// <summary>Removes a file. Durable only after <see cref="SyncDirectory"/>.</summary>
    void Delete(string path);

    /// <summary>Atomically replaces <paramref name="to"/> with <paramref name="from"/>. Durable only after <see cref="SyncDirectory"/>.</summary>
    void Rename(string from, string to);

    /// <summary>Makes the directory's entries (created, renamed, deleted files) durable.</summary>
    void SyncDirectory(string directory);
}

/// <summary>An open file with positional I/O. Written data is durable only after <see cref="Sync"/>.</summary>
public interface IStorageFile : IDisposable
{
    long Length { get; }

    /// <summary>Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/>; returns how many were read (fewer only at the end).</summary>
    int Read(long offset, Span<byte> buffer);

    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Shrinks or extends the file to <paramref name="length"/> bytes. Durable only after <see cref="Sync"/>.</summary>
    void SetLength(long length);

    /// <summary>Makes every write so far durable (data and the size, as <c>fdatasync</c> does).</summary>
    void Sync();
}

/// <summary>The real disk. <see cref="IStorageFile.Sync"/> is <c>fdatasync</c> on Linux, <c>fsync</c> elsewhere on Unix, and <see cref="FileStream.Flush(bool)"/> otherwise.</summary>
public sealed class PhysicalFileSystem : IFileSystem
{
    public void CreateDirectory(string directory) => Directory.CreateDirectory(directory);

    public IReadOnlyList<string> ListFiles(string directory) =>
        [.. Directory.EnumerateFiles(directory).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    public IStorageFile Open(string path) =>
        new PhysicalFile(File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read));

    public bool Exists(string path) => File.Exists(path);

    public void Delete(string path) => File.Delete(path);

    public void Rename(string from, string to) => File.Move(from, to, overwrite: true);

    public void SyncDirectory(string directory)
    {
        // POSIX makes a new, renamed or removed name durable only when the directory itself is
        // fsynced; Windows has no such call and journals names itself.
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = NativeSync.OpenReadOnly(directory);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            NativeSync.Check(NativeSync.FSync(fd), $"fsync of directory {directory}");
        }
        finally
        {
            _ = NativeSync.Close(fd);
        }
    }

    private sealed class PhysicalFile(SafeFileHandle handle) : IStorageFile
    {
        public long Length => RandomAccess.GetLength(handle);

        public int Read(long offset, Span<byte> buffer)
        {
            var total = 0;
            while (total < buffer.Length)
            {
                var read = RandomAccess.Read(handle, buffer[total..], offset + total);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }

            return total;
        }

        public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(handle, data, offset);

        public void SetLength(long length) => RandomAccess.SetLength(handle, length);

        public void Sync() => NativeSync.DataSync(handle);

        public void Dispose() => handle.Dispose();
    }
}

/// <summary>P/Invoke to libc's sync calls; falls back when a call is missing on this platform.</summary>
internal static partial class NativeSync
{
    private static bool s_dataSyncMissing = !OperatingSystem.IsLinux();

    public static void DataSync(SafeFileHandle handle)
    {
        if (OperatingSystem.IsWindows())
        {
            using var stream = new FileStream(handle, FileAccess.ReadWrite, bufferSize: 0);
            stream.Flush(flushToDisk: true);
            return;
        }

        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            var fd = (int)handle.DangerousGetHandle();
            if (!s_dataSyncMissing)
            {
                try
                {
                    Check(FDataSync(fd), "fdatasync");
                    return;
                }
                catch (EntryPointNotFoundException)
                {
                    s_dataSyncMissing = true;
                }
            }

            Check(FSync(fd), "fsync");
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    public static void Check(int result, string call)
    {
        if (result != 0)
        {
            // A failed sync leaves the page cache in an unknown state (the "fsyncgate" lesson): the
            // caller must not retry and carry on as if the data were durable.
            throw new IOException($"{call} failed with errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>open(path, O_RDONLY); O_RDONLY is 0 on every Unix .NET runs on.</summary>
    public static int OpenReadOnly(string path) => Open(path, 0);
}
