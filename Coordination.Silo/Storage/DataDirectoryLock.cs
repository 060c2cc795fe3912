namespace Coordination.Silo.Storage;

/// <summary>
/// Holds the data directory for one process: two silos writing one write-ahead log would interleave
/// frames and corrupt it, so the second is refused at start. The lock is an exclusive open of
/// <c>LOCK</c> (an advisory <c>flock</c> on Linux), released by the kernel when the process ends, even
/// by SIGKILL: a crashed silo never leaves a stale lock behind. The file names the holder's pid.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = "LOCK";

    private readonly FileStream _file;

    private DataDirectoryLock(FileStream file) => _file = file;

    /// <exception cref="DataDirectoryInUseException">Another process holds the directory.</exception>
    public static DataDirectoryLock Acquire(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new DataDirectoryInUseException($"The data directory {Path.GetFullPath(directory)} is in use by another process (its pid is in {path}); one silo per data directory.", e);
        }

        file.SetLength(0);
        var pid = System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n");
        file.Write(pid);
        file.Flush();
        return new DataDirectoryLock(file);
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>Another process holds the data directory (<see cref="DataDirectoryLock"/>).</summary>
public sealed class DataDirectoryInUseException(string message, Exception inner) : IOException(message, inner);
