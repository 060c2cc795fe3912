using Coordination.Consensus;
using Coordination.Silo.Storage;

namespace Coordination.Tests.Storage;

public class SnapshotStoreTests
{
    private const string Data = "/data";
    private static readonly string s_snapshots = Path.Combine(Data, "snapshots");
    private static readonly WriteAheadLogOptions s_options = WriteAheadLogContractTests.SmallSegments;
    private static readonly Membership s_members = new([1, 2, 3], [4]);

    private readonly SimulatedFileSystem _disk = new(seed: 11);

    private WriteAheadLog Reopen()
    {
        _disk.Crash(tear: false);
        return WriteAheadLog.Open(_disk, Data, s_options);
    }

    private WriteAheadLog LogWithEntries(ulong last)
    {
        var log = WriteAheadLog.Open(_disk, Data, s_options);
        for (ulong first = 1; first <= last; first += 10)
        {
            log.Save(new HardState(1, 1, 0), LogStorageContract.Run(first, Math.Min(first + 9, last), 1));
        }

        return log;
    }

    /// <summary>A log of entries 1..<paramref name="last"/>, then a snapshot saved as Compact or InstallSnapshot would, and a crash before the log recorded it.</summary>
    private WriteAheadLog ReopenAfterSavingAnUnrecordedSnapshot(ulong last, SnapshotMetadata metadata)
    {
        LogWithEntries(last);
        new SnapshotStore(_disk, s_snapshots, 2, s_options.SnapshotBytesMax).Save(new Snapshot(metadata, [(byte)metadata.Index]));
        return Reopen();
    }

    private string SnapshotFile(ulong index) => Path.Combine(s_snapshots, _disk.ListFiles(s_snapshots).Single(n => n.StartsWith($"{index:D20}-", StringComparison.Ordinal)));

    [Fact]
    public void A_saved_snapshot_loads_back_intact()
    {
        var store = new SnapshotStore(_disk, s_snapshots, 2, s_options.SnapshotBytesMax);
        store.Save(new Snapshot(new SnapshotMetadata(9, 2, s_members), [1, 2, 3, 4]));
        _disk.Crash(tear: true);

        var stored = Assert.Single(store.List());
        var loaded = store.TryLoad(stored, out var problem);
        Assert.Null(problem);
        Assert.Equal(new SnapshotMetadata(9, 2, s_members), loaded!.Metadata);
        Assert.Equal([1, 2, 3, 4], loaded.Data);
    }

    [Fact]
    public void Every_flipped_bit_in_a_snapshot_is_detected()
    {
        var store = new SnapshotStore(_disk, s_snapshots, 2, s_options.SnapshotBytesMax);
        store.Save(new Snapshot(new SnapshotMetadata(9, 2, s_members), [.. Enumerable.Range(0, 100).Select(i => (byte)i)]));
        var path = store.List()[0].Path;
        for (var offset = 0L; offset < _disk.LengthOf(path); offset++)
        {
            _disk.FlipBit(path, offset, (int)(offset % 8));
            Assert.Null(store.TryLoad(store.List()[0], out var problem));
            Assert.Contains(path, problem);
            _disk.FlipBit(path, offset, (int)(offset % 8));
        }
    }

    [Fact]
    public void Only_the_newest_snapshots_are_kept()
    {
        var log = LogWithEntries(40);
        foreach (var index in new ulong[] { 10, 20, 30, 35 })
        {
            log.Compact(new SnapshotMetadata(index, 1, s_members), [(byte)index]);
        }

        Assert.Equal(s_options.SnapshotsKeptMax, _disk.ListFiles(s_snapshots).Count);
        Assert.Equal(35ul, Reopen().Snapshot.Metadata.Index);
    }

    [Fact]
    public void A_corrupt_newest_snapshot_is_never_loaded_and_an_older_one_is_used_when_the_log_covers_the_gap()
    {
        var log = LogWithEntries(30);
        log.Compact(new SnapshotMetadata(10, 1, s_members), [10]);
        log.Compact(new SnapshotMetadata(20, 1, s_members), [20]);
        _disk.FlipBit(SnapshotFile(20), 30, 1);

        log = Reopen();
        Assert.Equal(10ul, log.Snapshot.Metadata.Index);
        Assert.Equal([10], log.Snapshot.Data);
        Assert.Equal(11ul, log.FirstIndex);
        LogStorageContract.AssertEntries(LogStorageContract.Run(11, 30, 1), log.Entries(11, 31, long.MaxValue));
        Assert.Single(log.Recovery.CorruptSnapshots);
        Assert.Contains(_disk.ListFiles(s_snapshots), name => name.EndsWith(".corrupt", StringComparison.Ordinal));
    }

    [Fact]
    public void A_corrupt_snapshot_the_log_no_longer_bridges_is_a_hard_error_that_changes_nothing()
    {
        var log = LogWithEntries(10);
        log.Compact(new SnapshotMetadata(5, 1, s_members), [5]);
        var last = 10ul;
        while (_disk.ListFiles(Path.Combine(Data, "wal")).Count < 3)
        {
            log.Save(null, LogStorageContract.Run(last + 1, last + 50, 1));
            last += 50;
        }

        log.Compact(new SnapshotMetadata(last - 1, 1, s_members), [9]);
        _disk.FlipBit(SnapshotFile(last - 1), 12, 0);
        var files = _disk.ListFiles(s_snapshots);

        var error = Assert.Throws<StorageCorruptionException>(Reopen);
        Assert.Contains($"snapshot at index {last - 1}", error.Message);
        Assert.Equal(files, _disk.ListFiles(s_snapshots));
    }

    [Fact]
    public void A_snapshot_saved_just_before_a_crash_that_the_log_never_recorded_is_adopted()
    {
        var log = ReopenAfterSavingAnUnrecordedSnapshot(20, new SnapshotMetadata(12, 1, s_members));
        Assert.Equal(12ul, log.Snapshot.Metadata.Index);
        LogStorageContract.AssertEntries(LogStorageContract.Run(13, 20, 1), log.Entries(13, 21, long.MaxValue));
    }

    [Fact]
    public void An_unrecorded_snapshot_from_another_history_replaces_the_log_and_raises_the_commit_index()
    {
        // Raft §7: a log that does not hold the snapshot's last entry is discarded.
        var log = ReopenAfterSavingAnUnrecordedSnapshot(20, new SnapshotMetadata(15, 2, s_members));
        Assert.Equal(16ul, log.FirstIndex);
        Assert.Equal(15ul, log.LastIndex);
        Assert.Equal(new HardState(1, 1, 15), log.HardState);
        Assert.Equal(2ul, log.Term(15));
    }

    [Fact]
    public void A_leftover_temporary_snapshot_is_removed_at_open()
    {
        _disk.CreateDirectory(s_snapshots);
        using (var file = _disk.Open(Path.Combine(s_snapshots, "00000000000000000007-00000000000000000001.snap.tmp")))
        {
            file.Write(0, [1, 2, 3]);
        }

        _ = WriteAheadLog.Open(_disk, Data, s_options);
        Assert.Empty(_disk.ListFiles(s_snapshots));
    }
}
