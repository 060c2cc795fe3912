using Coordination.Consensus;
using Microsoft.Extensions.Logging;

namespace Coordination.Silo.Storage;

/// <summary>
/// The durable <see cref="ILogStorage"/>: a segmented write-ahead log of frames under
/// <c>{directory}/wal</c> plus a <see cref="SnapshotStore"/> under <c>{directory}/snapshots</c>.
/// It behaves exactly like <see cref="MemoryLogStorage"/> (the shared contract tests prove it), and
/// every mutating call is durable when it returns: one frame written and one <c>fdatasync</c> per
/// call (group commit). Live entries are also kept in memory, so reads never touch the disk.
/// Open with <see cref="Open"/>; call everything from the one thread that drives the node; dispose
/// to close the active segment. Format and rules: docs/storage.md.
/// </summary>
public sealed partial class WriteAheadLog : ILogStorage, IDisposable
{
    private readonly IFileSystem _fileSystem;
    private readonly string _walDirectory;
    private readonly WriteAheadLogOptions _options;
    private readonly SnapshotStore _snapshots;
    private static readonly byte[] s_zeros = new byte[1024 * 1024];

    private readonly FrameWriter _frame = new();

    // _entries[0] is a sentinel at the snapshot's index and term, as in MemoryLogStorage.
    private readonly List<LogEntry> _entries;

    // Segments oldest first; the last one is active.
    private readonly List<Segment> _segments;
    private IStorageFile _active = null!;
    private long _writeOffset;
    private long _allocatedEnd;
    private bool _failed;

    private sealed class Segment(ulong sequence, string path)
    {
        public ulong Sequence { get; } = sequence;

        public string Path { get; } = path;

        /// <summary>Highest entry index ever written to this segment; it may be deleted once a snapshot covers it.</summary>
        public ulong EntryIndexMax { get; set; }
    }

    public HardState HardState { get; private set; }

    public Snapshot Snapshot { get; private set; }

    /// <summary>What recovery found when this log was opened.</summary>
    public RecoveryReport Recovery { get; }

    private ulong Offset => _entries[0].Index;

    public ulong FirstIndex => Offset + 1;

    public ulong LastIndex => Offset + (ulong)_entries.Count - 1;

    public ulong Term(ulong index)
    {
        Invariant.Require(index >= Offset && index <= LastIndex, $"term of {index} asked outside [{Offset}, {LastIndex}]");
        return _entries[(int)(index - Offset)].Term;
    }

    public IReadOnlyList<LogEntry> Entries(ulong low, ulong high, long maxBytes)
    {
        Invariant.Require(low >= FirstIndex && high <= LastIndex + 1 && low <= high, $"entries [{low}, {high}) asked outside [{FirstIndex}, {LastIndex}]");
        var result = new List<LogEntry>((int)Math.Min(high - low, 1024));
        long bytes = 0;
        for (var index = low; index < high; index++)
        {
            var entry = _entries[(int)(index - Offset)];
            bytes += entry.SizeBytes;
            if (result.Count > 0 && bytes > maxBytes)
            {
                break;
            }

            result.Add(entry);
        }

        return result;
    }

    public void Save(HardState? hardState, IReadOnlyList<LogEntry> entries)
    {
        ThrowIfFailed();
        if (hardState is { } state)
        {
            Invariant.Require(state.Term >= HardState.Term, "the term never goes back");
        }

        if (entries.Count == 0 && (hardState is null || hardState == HardState))
        {
            return;
        }

        ulong first = 0;
        if (entries.Count > 0)
        {
            first = entries[0].Index;
            Invariant.Require(first > Offset, $"append at {first} would overwrite the snapshot at {Offset}");
            Invariant.Require(first <= LastIndex + 1, $"append at {first} leaves a gap after {LastIndex}");
            for (var i = 0; i < entries.Count; i++)
            {
                Invariant.Require(entries[i].Index == first + (ulong)i, "appended entries must be contiguous");
            }
        }

        _frame.Begin(FrameKind.Save);
        _frame.U8(hardState is null ? (byte)0 : (byte)1);
        _frame.HardState(hardState ?? HardState.Empty);
        _frame.U32((uint)entries.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            _frame.Entry(entries[i]);
        }

        if (_frame.PayloadBytes > _options.RecordBytesMax)
        {
            throw new ArgumentException($"a save of {entries.Count} entries takes {_frame.PayloadBytes} bytes, over RecordBytesMax {_options.RecordBytesMax}; nothing was written");
        }

        AppendFrame(_frame, entries.Count > 0 ? entries[^1].Index : 0);

        if (hardState is { } saved)
        {
            HardState = saved;
        }

        if (entries.Count > 0)
        {
            _entries.RemoveRange((int)(first - Offset), _entries.Count - (int)(first - Offset));
            _entries.AddRange(entries);
        }
    }

    public void InstallSnapshot(Snapshot snapshot)
    {
        ThrowIfFailed();
        var meta = snapshot.Metadata;
        Invariant.Require(meta.Index > Offset, "an installed snapshot must be newer than the one held");
        var hardState = HardState.Commit < meta.Index ? HardState with { Commit = meta.Index } : HardState;

        // The snapshot is durable before the log says it exists; a crash in between leaves a newer
        // snapshot than the log records, which recovery adopts (docs/storage.md, "Recovery").
        _snapshots.Save(snapshot);
        _frame.Begin(FrameKind.SnapshotInstalled);
        _frame.U64(meta.Index);
        _frame.U64(meta.Term);
        _frame.HardState(hardState);
        AppendFrame(_frame, 0);

        _entries.Clear();
        _entries.Add(new LogEntry(meta.Index, meta.Term, EntryKind.NoOp, []));
        Snapshot = snapshot;
        HardState = hardState;
        DeleteSegmentsCoveredBySnapshot();
        _snapshots.Prune();
    }

    public void Compact(SnapshotMetadata metadata, byte[] data)
    {
        ThrowIfFailed();
        Invariant.Require(metadata.Index > Offset && metadata.Index <= LastIndex, $"compaction to {metadata.Index} outside ({Offset}, {LastIndex}]");
        Invariant.Require(Term(metadata.Index) == metadata.Term, "a snapshot's term must match the entry it replaces");
        var snapshot = new Snapshot(metadata, data);
        _snapshots.Save(snapshot);
        _frame.Begin(FrameKind.Compacted);
        _frame.U64(metadata.Index);
        _frame.U64(metadata.Term);
        AppendFrame(_frame, 0);

        _entries.RemoveRange(0, (int)(metadata.Index - Offset));
        _entries[0] = new LogEntry(metadata.Index, metadata.Term, EntryKind.NoOp, []);
        Snapshot = snapshot;
        DeleteSegmentsCoveredBySnapshot();
        _snapshots.Prune();
    }

    public void Dispose() => _active.Dispose();

    /// <summary>
    /// Writes the frame in <see cref="_frame"/> at the end of the active segment and syncs it. This is
    /// the only place the log writes frames, which keeps the rule recovery relies on: at most one
    /// frame, the last, is ever unsynced.
    /// </summary>
    private void AppendFrame(FrameWriter writer, ulong entryIndexMax)
    {
        var frame = writer.Seal();
        if (_writeOffset + frame.Length > _options.SegmentBytes)
        {
            Rotate();
        }

        try
        {
            Preallocate(_writeOffset + frame.Length);
            _active.Write(_writeOffset, frame);
            _active.Sync();
        }
        catch (IOException)
        {
            // After a failed write or sync the file's contents are unknown: refuse further writes
            // rather than acknowledge data that may not be on disk. Reopening recovers.
            _failed = true;
            throw;
        }

        _writeOffset += frame.Length;
        var segment = _segments[^1];
        segment.EntryIndexMax = Math.Max(segment.EntryIndexMax, entryIndexMax);
    }

    /// <summary>Zero-fills the active segment up to at least <paramref name="end"/>, a whole <c>PreallocateBytes</c> chunk at a time.</summary>
    private void Preallocate(long end)
    {
        if (end <= _allocatedEnd)
        {
            return;
        }

        // The frame itself fills [_writeOffset, end); only the space beyond it needs zeros.
        var target = Math.Min(Math.Max(end, _allocatedEnd + _options.PreallocateBytes), Math.Max(end, _options.SegmentBytes));
        for (var at = end; at < target; at += s_zeros.Length)
        {
            _active.Write(at, s_zeros.AsSpan(0, (int)Math.Min(s_zeros.Length, target - at)));
        }

        _allocatedEnd = target;
    }

    /// <summary>Closes the active segment at its exact length and starts the next one.</summary>
    private void Rotate()
    {
        _active.SetLength(_writeOffset);
        _active.Sync();
        _active.Dispose();
        StartSegment(_segments[^1].Sequence + 1);
    }

    /// <summary>Creates a segment whose first frame records the hard state and snapshot point now in force.</summary>
    private void StartSegment(ulong sequence)
    {
        var segment = new Segment(sequence, Path.Combine(_walDirectory, WalFormat.SegmentName(sequence)));
        _active = _fileSystem.Open(segment.Path);
        _active.SetLength(0);
        _segments.Add(segment);
        _writeOffset = 0;
        _allocatedEnd = 0;
        // A writer of its own: a rotation happens while _frame holds the frame that caused it.
        var start = new FrameWriter(initialBytes: 128);
        start.Begin(FrameKind.SegmentStart);
        start.U32(WalFormat.SegmentMagic);
        start.U32(WalFormat.FormatVersion);
        start.U64(sequence);
        start.HardState(HardState);
        start.U64(Snapshot.Metadata.Index);
        start.U64(Snapshot.Metadata.Term);
        AppendFrame(start, 0);
        _fileSystem.SyncDirectory(_walDirectory);
    }

    /// <summary>Deletes the oldest segments while every entry they hold is covered by the snapshot.</summary>
    private void DeleteSegmentsCoveredBySnapshot()
    {
        var deleted = 0;
        while (_segments.Count > 1 && _segments[0].EntryIndexMax <= Snapshot.Metadata.Index)
        {
            _fileSystem.Delete(_segments[0].Path);
            _segments.RemoveAt(0);
            deleted++;
        }

        if (deleted > 0)
        {
            _fileSystem.SyncDirectory(_walDirectory);
        }
    }

    private void ThrowIfFailed()
    {
        if (_failed)
        {
            throw new IOException("the write-ahead log failed a write or sync earlier; reopen it to recover");
        }
    }
}
