using System.Buffers.Binary;
using System.Globalization;
using Coordination.Consensus;
using Coordination.Grains;

namespace Coordination.Silo.Storage;

/// <summary>
/// Snapshots on disk, one file each, named by index and term. A snapshot becomes visible only
/// whole: it is written to a temporary file, synced, renamed into place, and the directory synced.
/// Every file ends with a CRC-32C of all its bytes; a file that fails it is never loaded.
/// Used by <see cref="WriteAheadLog"/> from the node's driving thread; not thread-safe.
/// </summary>
public sealed class SnapshotStore
{
    /// <summary>"CSNP" read as a little-endian u32.</summary>
    private const uint Magic = 0x504E5343;
    private const uint FormatVersion = 1;
    private const string Extension = ".snap";
    private const string TemporaryExtension = ".snap.tmp";
    private const string CorruptExtension = ".snap.corrupt";

    // magic, version, index, term, membership length ... data length ... crc
    private const int FixedBytes = 4 + 4 + 8 + 8 + 4 + 8 + 4;

    private readonly IFileSystem _fileSystem;
    private readonly string _directory;
    private readonly int _snapshotsKeptMax;
    private readonly long _snapshotBytesMax;

    public SnapshotStore(IFileSystem fileSystem, string directory, int snapshotsKeptMax, long snapshotBytesMax)
    {
        Invariant.Require(snapshotsKeptMax >= 1, "at least one snapshot is kept");
        _fileSystem = fileSystem;
        _directory = directory;
        _snapshotsKeptMax = snapshotsKeptMax;
        _snapshotBytesMax = snapshotBytesMax;
        _fileSystem.CreateDirectory(directory);
        RemoveTemporaryFiles();
    }

    /// <summary>A snapshot file found on disk, not yet verified.</summary>
    public sealed record StoredSnapshot(ulong Index, ulong Term, string Path);

    /// <summary>Snapshot files by descending index (then term); unverified.</summary>
    public IReadOnlyList<StoredSnapshot> List() =>
        [.. _fileSystem.ListFiles(_directory)
            .Select(name => TryParseName(name, out var index, out var term) ? new StoredSnapshot(index, term, System.IO.Path.Combine(_directory, name)) : null)
            .OfType<StoredSnapshot>()
            .OrderByDescending(s => s.Index)
            .ThenByDescending(s => s.Term)];

    /// <summary>Writes <paramref name="snapshot"/> durably: temporary file, sync, rename, directory sync.</summary>
    public void Save(Snapshot snapshot)
    {
        var bytes = Encode(snapshot);
        Invariant.Require(bytes.Length <= _snapshotBytesMax, $"snapshot of {bytes.Length} bytes exceeds SnapshotBytesMax {_snapshotBytesMax}");
        var name = FileName(snapshot.Metadata.Index, snapshot.Metadata.Term);
        var temporary = System.IO.Path.Combine(_directory, name[..^Extension.Length] + TemporaryExtension);
        using (var file = _fileSystem.Open(temporary))
        {
            file.SetLength(0);
            file.Write(0, bytes);
            file.Sync();
        }

        _fileSystem.Rename(temporary, System.IO.Path.Combine(_directory, name));
        _fileSystem.SyncDirectory(_directory);
    }

    /// <summary>Loads and verifies a snapshot; null with <paramref name="problem"/> set when it is corrupt.</summary>
    public Snapshot? TryLoad(StoredSnapshot stored, out string? problem)
    {
        using var file = _fileSystem.Open(stored.Path);
        var length = file.Length;
        if (length < FixedBytes || length > _snapshotBytesMax)
        {
            problem = $"{stored.Path}: length {length} outside [{FixedBytes}, {_snapshotBytesMax}]";
            return null;
        }

        var bytes = new byte[length];
        if (file.Read(0, bytes) != length)
        {
            problem = $"{stored.Path}: short read";
            return null;
        }

        problem = Decode(bytes, stored, out var snapshot);
        return snapshot;
    }

    /// <summary>Renames a corrupt snapshot out of the way (kept for inspection, never loaded again).</summary>
    public void Quarantine(StoredSnapshot stored)
    {
        _fileSystem.Rename(stored.Path, stored.Path[..^Extension.Length] + CorruptExtension);
        _fileSystem.SyncDirectory(_directory);
    }

    /// <summary>Deletes all but the newest <c>SnapshotsKeptMax</c> snapshots.</summary>
    public void Prune()
    {
        var stale = List().Skip(_snapshotsKeptMax).ToList();
        foreach (var snapshot in stale)
        {
            _fileSystem.Delete(snapshot.Path);
        }

        if (stale.Count > 0)
        {
            _fileSystem.SyncDirectory(_directory);
        }
    }

    private void RemoveTemporaryFiles()
    {
        var temporary = _fileSystem.ListFiles(_directory).Where(n => n.EndsWith(TemporaryExtension, StringComparison.Ordinal)).ToList();
        foreach (var name in temporary)
        {
            _fileSystem.Delete(System.IO.Path.Combine(_directory, name));
        }

        if (temporary.Count > 0)
        {
            _fileSystem.SyncDirectory(_directory);
        }
    }

    private static string FileName(ulong index, ulong term) => $"{index:D20}-{term:D20}{Extension}";

    private static bool TryParseName(string name, out ulong index, out ulong term)
    {
        index = term = 0;
        return name.Length == 20 + 1 + 20 + Extension.Length && name.EndsWith(Extension, StringComparison.Ordinal) && name[20] == '-' &&
            ulong.TryParse(name.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out index) &&
            ulong.TryParse(name.AsSpan(21, 20), NumberStyles.None, CultureInfo.InvariantCulture, out term);
    }

    private static byte[] Encode(Snapshot snapshot)
    {
        var membership = snapshot.Metadata.Membership.Encode();
        var bytes = new byte[FixedBytes + membership.Length + snapshot.Data.Length];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], FormatVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], snapshot.Metadata.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], snapshot.Metadata.Term);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], membership.Length);
        membership.CopyTo(span[28..]);
        var at = 28 + membership.Length;
        BinaryPrimitives.WriteInt64LittleEndian(span[at..], snapshot.Data.Length);
        snapshot.Data.CopyTo(span[(at + 8)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[^4..], Crc32C.Compute(span[..^4]));
        return bytes;
    }

    private static string? Decode(byte[] bytes, StoredSnapshot stored, out Snapshot? snapshot)
    {
        snapshot = null;
        var span = bytes.AsSpan();
        if (BinaryPrimitives.ReadUInt32LittleEndian(span[^4..]) != Crc32C.Compute(span[..^4]))
        {
            return $"{stored.Path}: checksum mismatch";
        }

        // The checksum matched, so what follows is what this code wrote; the checks below catch a
        // file renamed by hand or written by another format version.
        var membershipLength = BinaryPrimitives.ReadInt32LittleEndian(span[24..]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(span) != Magic || BinaryPrimitives.ReadUInt32LittleEndian(span[4..]) != FormatVersion ||
            membershipLength < 0 || membershipLength > bytes.Length - FixedBytes)
        {
            return $"{stored.Path}: not a snapshot of format {FormatVersion}";
        }

        var index = BinaryPrimitives.ReadUInt64LittleEndian(span[8..]);
        var term = BinaryPrimitives.ReadUInt64LittleEndian(span[16..]);
        var at = 28 + membershipLength;
        var dataLength = BinaryPrimitives.ReadInt64LittleEndian(span[at..]);
        if (index != stored.Index || term != stored.Term || dataLength != bytes.Length - FixedBytes - membershipLength)
        {
            return $"{stored.Path}: contents do not match its name or length";
        }

        try
        {
            var membership = Membership.Decode(span.Slice(28, membershipLength));
            snapshot = new Snapshot(new SnapshotMetadata(index, term, membership), span.Slice(at + 8, (int)dataLength).ToArray());
            return null;
        }
        catch (InvariantViolationException e)
        {
            return $"{stored.Path}: {e.Message}";
        }
    }
}
