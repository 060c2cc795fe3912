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

    private readonly MemoryLogStorage _memory = new();

    // The state the frames on disk add up to, as recovery replays them. A new segment's start frame
    // records it, so the state seen from both sides of a rotation is the same.
    private HardState _durableHardState;
    private (ulong Index, ulong Term) _durableSnapshot;

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

    /// <summary>What recovery found when this log was opened.</summary>
    public RecoveryReport Recovery { get; }

    public HardState HardState => Memory.HardState;

    public Snapshot Snapshot => Memory.Snapshot;

    public ulong FirstIndex => Memory.FirstIndex;

    public ulong LastIndex => Memory.LastIndex;

    public ulong Term(ulong index) => Memory.Term(index);

    public IReadOnlyList<LogEntry> Entries(ulong low, ulong high, long maxBytes) => Memory.Entries(low, high, maxBytes);

    /// <summary>
    /// The in-memory index: the same state as the files, kept by the in-memory twin itself, so reads
    /// and argument checks are exactly those of <see cref="MemoryLogStorage"/>. Unreadable after a
    /// failed write or sync, when it may be ahead of the disk.
    /// </summary>
    private MemoryLogStorage Memory
    {
        get
        {
            ThrowIfFailed();
            return _memory;
        }
    }

    public void Save(HardState? hardState, IReadOnlyList<LogEntry> entries)
    {
        var unchanged = entries.Count == 0 && (hardState is null || hardState == HardState);
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

        // The twin checks the arguments (and throws before anything is written); then the frame
        // makes its new state durable before Save returns.
        Memory.Save(hardState, entries);
        if (!unchanged)
        {
            Durably(() => AppendFrame(_frame, entries.Count > 0 ? entries[^1].Index : 0));
            _durableHardState = hardState ?? _durableHardState;
        }
    }

    public void InstallSnapshot(Snapshot snapshot)
    {
        Memory.InstallSnapshot(snapshot);

        // The snapshot is durable before the log says it exists; a crash in between leaves a newer
        // snapshot than the log records, which recovery adopts (docs/storage.md, "Recovery").
        Durably(() =>
        {
            _snapshots.Save(snapshot);
            _frame.Begin(FrameKind.SnapshotInstalled);
            _frame.U64(snapshot.Metadata.Index);
            _frame.U64(snapshot.Metadata.Term);
            _frame.HardState(_memory.HardState);
            AppendFrame(_frame, 0);
            (_durableHardState, _durableSnapshot) = (_memory.HardState, (snapshot.Metadata.Index, snapshot.Metadata.Term));
            DeleteSegmentsCoveredBySnapshot();
            _snapshots.Prune();
        });
    }

    public void Compact(SnapshotMetadata metadata, byte[] data)
    {
        Memory.Compact(metadata, data);
        Durably(() =>
        {
            _snapshots.Save(_memory.Snapshot);
            _frame.Begin(FrameKind.Compacted);
            _frame.U64(metadata.Index);
            _frame.U64(metadata.Term);
            AppendFrame(_frame, 0);
            _durableSnapshot = (metadata.Index, metadata.Term);
            DeleteSegmentsCoveredBySnapshot();
            _snapshots.Prune();
        });
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

        Preallocate(_writeOffset + frame.Length);
        _active.Write(_writeOffset, frame);
        _active.Sync();

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
        start.HardState(_durableHardState);
        start.U64(_durableSnapshot.Index);
        start.U64(_durableSnapshot.Term);
        AppendFrame(start, 0);
        _fileSystem.SyncDirectory(_walDirectory);
    }

    /// <summary>
    /// Deletes the oldest segments while every entry they hold is covered by the snapshot, syncing
    /// the directory after each, so a crash can only leave a shorter prefix deleted, never a gap.
    /// </summary>
    private void DeleteSegmentsCoveredBySnapshot()
    {
        while (_segments.Count > 1 && _segments[0].EntryIndexMax <= _memory.Snapshot.Metadata.Index)
        {
            _fileSystem.Delete(_segments[0].Path);
            _fileSystem.SyncDirectory(_walDirectory);
            _segments.RemoveAt(0);
        }
    }

    /// <summary>
    /// Runs the durable half of an operation whose in-memory half is done. If it fails, the files'
    /// contents are unknown and the memory may be ahead of them: the log refuses every further call,
    /// reads included, rather than serve or acknowledge state that may not be on disk ("fsyncgate").
    /// Reopening recovers from what is on disk.
    /// </summary>
    private void Durably(Action write)
    {
        try
        {
            write();
        }
        catch
        {
            _failed = true;
            throw;
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
