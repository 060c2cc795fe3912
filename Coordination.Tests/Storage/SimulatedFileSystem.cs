using Coordination.Silo.Storage;

namespace Coordination.Tests.Storage;

/// <summary>
/// A deterministic disk for storage tests. Each file has the bytes a reader sees now and the bytes
/// that are durable; each directory has the names a reader sees now and the names that are durable.
/// <see cref="Crash"/> throws away what was not synced, except that it may, by the seeded random
/// source, keep a prefix of the unsynced operations and tear the next write (a random prefix of it
/// reaches the disk). <see cref="FlipBit"/> corrupts durable data as a failing disk would.
/// </summary>
public sealed class SimulatedFileSystem(int seed) : IFileSystem
{
    private readonly Random _random = new(seed);
    private readonly Dictionary<string, Inode> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Inode> _durableNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _directories = new(StringComparer.Ordinal);
    private int _generation;

    /// <summary>Number of <see cref="IStorageFile.Sync"/> calls so far; lets tests check group commit.</summary>
    public int Syncs { get; private set; }

    /// <summary>
    /// When 0 or more: that many more syncs (of files or directories) succeed, and the next one
    /// throws <see cref="SimulatedPowerLoss"/> without taking effect. Negative: never.
    /// </summary>
    public int SyncsBeforePowerLoss { get; set; } = -1;

    private void CountSync()
    {
        if (SyncsBeforePowerLoss == 0)
        {
            SyncsBeforePowerLoss = -1;
            throw new SimulatedPowerLoss();
        }

        if (SyncsBeforePowerLoss > 0)
        {
            SyncsBeforePowerLoss--;
        }
    }

    private sealed class Inode
    {
        public List<byte> Current { get; } = [];

        public byte[] Durable { get; set; } = [];

        /// <summary>Writes and size changes since the last sync, in order.</summary>
        public List<(long Offset, byte[]? Data, long Length)> Pending { get; } = [];
    }

    public void CreateDirectory(string directory) => _directories.Add(directory);

    public IReadOnlyList<string> ListFiles(string directory) =>
        [.. _names.Keys.Where(p => Path.GetDirectoryName(p) == directory).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    public IStorageFile Open(string path)
    {
        Assert.Contains(Path.GetDirectoryName(path)!, _directories);
        if (!_names.TryGetValue(path, out var inode))
        {
            inode = new Inode();
            _names[path] = inode;
        }

        return new File(this, inode, _generation);
    }

    public bool Exists(string path) => _names.ContainsKey(path);

    public void Delete(string path) => Assert.True(_names.Remove(path), $"delete of missing {path}");

    public void Rename(string from, string to)
    {
        Assert.True(_names.Remove(from, out var inode), $"rename of missing {from}");
        _names[to] = inode!;
    }

    public void SyncDirectory(string directory)
    {
        CountSync();
        foreach (var path in _durableNames.Keys.Where(p => Path.GetDirectoryName(p) == directory).ToList())
        {
            _durableNames.Remove(path);
        }

        foreach (var (path, inode) in _names.Where(n => Path.GetDirectoryName(n.Key) == directory))
        {
            _durableNames[path] = inode;
        }
    }

    /// <summary>
    /// Simulates power loss: only durable names survive; each surviving file keeps its durable bytes
    /// plus, when <paramref name="tear"/> is set, a random number of its unsynced operations, the
    /// next of which, if a write, lands only partly. Files opened before the crash become unusable.
    /// </summary>
    public void Crash(bool tear)
    {
        _generation++;
        _names.Clear();
        foreach (var (path, inode) in _durableNames)
        {
            var bytes = new List<byte>(inode.Durable);
            var kept = tear ? _random.Next(inode.Pending.Count + 1) : -1;
            for (var i = 0; i < inode.Pending.Count && i <= kept; i++)
            {
                var (offset, data, length) = inode.Pending[i];
                if (data is null)
                {
                    Resize(bytes, length);
                }
                else if (i < kept)
                {
                    WriteInto(bytes, offset, data);
                }
                else
                {
                    WriteInto(bytes, offset, data.AsSpan(0, _random.Next(data.Length + 1)));
                }
            }

            inode.Pending.Clear();
            inode.Durable = [.. bytes];
            inode.Current.Clear();
            inode.Current.AddRange(bytes);
            _names[path] = inode;
        }
    }

    /// <summary>Flips one bit of a file, durably, as a failing disk would.</summary>
    public void FlipBit(string path, long offset, int bit)
    {
        var inode = _names[path];
        Assert.True(inode.Pending.Count == 0 && offset < inode.Durable.Length, "flip bits only in synced data");
        inode.Durable[offset] ^= (byte)(1 << bit);
        inode.Current[(int)offset] ^= (byte)(1 << bit);
    }

    /// <summary>Durable length of a file.</summary>
    public long LengthOf(string path) => _names[path].Durable.Length;

    /// <summary>Durable bytes of a file (a copy).</summary>
    public byte[] Read(string path) => [.. _names[path].Durable];

    private static void Resize(List<byte> bytes, long length)
    {
        if (length < bytes.Count)
        {
            bytes.RemoveRange((int)length, bytes.Count - (int)length);
        }
        else
        {
            bytes.AddRange(new byte[length - bytes.Count]);
        }
    }

    private static void WriteInto(List<byte> bytes, long offset, ReadOnlySpan<byte> data)
    {
        if (offset + data.Length > bytes.Count)
        {
            Resize(bytes, offset + data.Length);
        }

        for (var i = 0; i < data.Length; i++)
        {
            bytes[(int)offset + i] = data[i];
        }
    }

    private sealed class File(SimulatedFileSystem fileSystem, Inode inode, int generation) : IStorageFile
    {
        public long Length => Live().Current.Count;

        public int Read(long offset, Span<byte> buffer)
        {
            var current = Live().Current;
            var count = (int)Math.Clamp(current.Count - offset, 0, buffer.Length);
            for (var i = 0; i < count; i++)
            {
                buffer[i] = current[(int)offset + i];
            }

            return count;
        }

        public void Write(long offset, ReadOnlySpan<byte> data)
        {
            WriteInto(Live().Current, offset, data);
            inode.Pending.Add((offset, data.ToArray(), 0));
        }

        public void SetLength(long length)
        {
            Resize(Live().Current, length);
            inode.Pending.Add((0, null, length));
        }

        public void Sync()
        {
            fileSystem.CountSync();
            Live().Durable = [.. inode.Current];
            inode.Pending.Clear();
            fileSystem.Syncs++;
        }

        public void Dispose()
        {
        }

        private Inode Live()
        {
            Assert.True(generation == fileSystem._generation, "a file opened before a crash was used after it");
            return inode;
        }
    }
}

/// <summary>The power went out during a sync (see <see cref="SimulatedFileSystem.SyncsBeforePowerLoss"/>).</summary>
public sealed class SimulatedPowerLoss : Exception
{
    public SimulatedPowerLoss()
        : base("simulated power loss")
    {
    }
}
