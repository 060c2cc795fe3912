using Coordination.Consensus;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Silo.Storage;

public sealed partial class WriteAheadLog
{
    /// <summary>
    /// Opens (or creates) the log in <paramref name="directory"/> and recovers it: replays every
    /// segment, drops a torn tail of the last segment (reported in <see cref="Recovery"/> and logged
    /// as a warning), and reconciles the log with the newest loadable snapshot.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid; nothing on disk was touched.</exception>
    /// <exception cref="StorageCorruptionException">
    /// A checksum or structure failure that a torn write cannot explain, naming the file and offset,
    /// or no loadable snapshot the log can continue from. The node must not start on this data.
    /// </exception>
    public static WriteAheadLog Open(IFileSystem fileSystem, string directory, WriteAheadLogOptions options, ILogger? logger = null)
    {
        options.Validate();
        logger ??= NullLogger.Instance;
        var walDirectory = Path.Combine(directory, "wal");
        fileSystem.CreateDirectory(walDirectory);
        var snapshots = new SnapshotStore(fileSystem, Path.Combine(directory, "snapshots"), options.SnapshotsKeptMax, options.SnapshotBytesMax);

        // The two subdirectories' own names must be durable too.
        fileSystem.SyncDirectory(directory);
        return new WriteAheadLog(fileSystem, walDirectory, options, snapshots, logger);
    }

    private WriteAheadLog(IFileSystem fileSystem, string walDirectory, WriteAheadLogOptions options, SnapshotStore snapshots, ILogger logger)
    {
        _fileSystem = fileSystem;
        _walDirectory = walDirectory;
        _options = options;
        _snapshots = snapshots;
        _segments = [];
        try
        {
            Recovery = Recover(logger);
        }
        catch
        {
            // A refused open leaves no file open behind it.
            _active?.Dispose();
            throw;
        }
    }

    private RecoveryReport Recover(ILogger logger)
    {
        var walDirectory = _walDirectory;
        var replay = new Replay();
        var tornTails = new List<TornTail>();
        var sequences = _fileSystem.ListFiles(walDirectory)
            .Select(name => WalFormat.TryParseSegmentName(name, out var sequence) ? (ulong?)sequence : null)
            .OfType<ulong>()
            .Order()
            .ToList();
        for (var i = 0; i < sequences.Count; i++)
        {
            var path = Path.Combine(walDirectory, WalFormat.SegmentName(sequences[i]));
            if (i > 0 && sequences[i] != sequences[i - 1] + 1)
            {
                throw new StorageCorruptionException(path, 0, $"segment {sequences[i - 1] + 1} is missing");
            }

            var segment = new Segment(sequences[i], path);
            _segments.Add(segment);
            var last = i == sequences.Count - 1;
            var torn = ReadSegment(segment, replay, isLast: last, first: i == 0);
            if (torn is not null)
            {
                tornTails.Add(torn);
                logger.LogWarning("Dropped a torn write at the tail of {File}: {Bytes} bytes from offset {Offset}", torn.File, torn.BytesDropped, torn.Offset);
            }
        }

        (_durableHardState, _durableSnapshot) = (replay.HardState, (replay.BaseIndex, replay.BaseTerm));
        var corrupt = new List<string>();
        var (snapshot, hardState, entries, unrecorded) = Reconcile(replay, _snapshots, corrupt, logger);
        if (!snapshot.IsEmpty)
        {
            _memory.InstallSnapshot(snapshot);
        }

        _memory.Save(hardState, entries);

        if (_segments.Count == 0)
        {
            StartSegment(1);
        }
        else if (_writeOffset == 0)
        {
            // The last segment was created but its first frame never became durable: start it again.
            // Only the very first segment can be alone without a start frame; any later one was
            // created while older segments, which recovery read, still existed.
            var empty = _segments[^1];
            if (_segments.Count == 1 && empty.Sequence != 1)
            {
                throw new StorageCorruptionException(empty.Path, 0, "the only segment has no start frame, so the hard state is lost");
            }

            _segments.RemoveAt(_segments.Count - 1);
            _active.Dispose();
            StartSegment(empty.Sequence);
        }

        Invariant.Require(_active is not null, "recovery leaves an active segment");
        if (unrecorded is { } kind)
        {
            // The snapshot was saved but the frame recording it was lost in a crash: write that
            // frame now, or the next frames would continue a log the disk does not hold.
            _frame.Begin(kind);
            _frame.U64(snapshot.Metadata.Index);
            _frame.U64(snapshot.Metadata.Term);
            if (kind == FrameKind.SnapshotInstalled)
            {
                _frame.HardState(hardState);
            }

            // Only after the frame: if it rotates, the new segment's start frame must record the
            // state the previous segment ends with, not the one this frame is about to record.
            AppendFrame(_frame, 0);
            if (kind == FrameKind.SnapshotInstalled)
            {
                _durableHardState = hardState;
            }

            _durableSnapshot = (snapshot.Metadata.Index, snapshot.Metadata.Term);
        }

        logger.LogInformation("Opened the write-ahead log in {Directory}: {Segments} segments, snapshot at {Snapshot}, entries [{First}, {Last}], {Torn} torn tails, {Corrupt} corrupt snapshots",
            walDirectory, sequences.Count, Snapshot.Metadata.Index, FirstIndex, LastIndex, tornTails.Count, corrupt.Count);
        return new RecoveryReport(sequences.Count, tornTails, corrupt, Snapshot.Metadata.Index, FirstIndex, LastIndex);
    }

    /// <summary>The state rebuilt from the frames, before it is reconciled with the snapshot store.</summary>
    private sealed class Replay
    {
        public HardState HardState { get; set; } = HardState.Empty;

        /// <summary>The newest snapshot point the log records (compaction or installation).</summary>
        public ulong BaseIndex { get; set; }

        public ulong BaseTerm { get; set; }

        /// <summary>Index of <see cref="Entries"/>[0]; entries below it were in deleted segments or discarded by an installation.</summary>
        public ulong Start { get; set; } = 1;

        public List<LogEntry> Entries { get; } = [];

        public ulong Last => Start + (ulong)Entries.Count - 1;
    }

    /// <summary>
    /// Replays one segment into <paramref name="replay"/>. The last segment may end in a torn frame,
    /// which is dropped (zeroed and synced) and returned; any other bad frame is corruption.
    /// Leaves the last segment open as the active one.
    /// </summary>
    private TornTail? ReadSegment(Segment segment, Replay replay, bool isLast, bool first)
    {
        var file = _fileSystem.Open(segment.Path);
        try
        {
            var length = file.Length;
            if (length > 2 * WriteAheadLogOptions.SegmentBytesLimit)
            {
                throw new StorageCorruptionException(segment.Path, 0, $"segment of {length} bytes is larger than any this log writes");
            }

            var bytes = new byte[length];
            Invariant.Require(file.Read(0, bytes) == length, $"short read of {segment.Path}");
            var (end, torn) = ReplayFrames(segment, bytes, replay, isLast, first);
            if (!isLast)
            {
                file.Dispose();
                return null;
            }

            if (torn is not null)
            {
                file.Write(torn.Offset, new byte[torn.BytesDropped]);
                file.Sync();
            }

            (_active, _writeOffset, _allocatedEnd) = (file, end, length);
            return torn;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Replays the frames of one segment; returns where the valid frames end and the torn tail after them, if any.</summary>
    private static (long End, TornTail? Torn) ReplayFrames(Segment segment, byte[] bytes, Replay replay, bool isLast, bool first)
    {
        long offset = 0;
        while (offset < bytes.Length)
        {
            if (!WalFormat.TryReadFrame(bytes, offset, out var payload))
            {
                return (offset, EndOfFrames(segment.Path, bytes, offset, isLast));
            }

            try
            {
                Apply(payload, replay, segment, expectStart: offset == 0, first);
            }
            catch (InvariantViolationException e)
            {
                // The checksum matched but the content is impossible: not a torn write, never skipped.
                throw new StorageCorruptionException(segment.Path, offset, e.Message);
            }

            offset += WalFormat.FrameHeaderBytes + payload.Length;
        }

        return (offset, null);
    }

    /// <summary>
    /// Decides what a frame that fails its checks at <paramref name="offset"/> means. Only the last
    /// frame of the log can be unsynced (every write is one frame followed by a sync), so it is a
    /// torn tail exactly when it is in the last segment and no valid frame follows it. All-zero
    /// space after the last frame is preallocation, not a tear.
    /// </summary>
    private static TornTail? EndOfFrames(string path, byte[] bytes, long offset, bool isLast)
    {
        var end = WalFormat.EndOfNonZero(bytes, offset);
        if (!isLast)
        {
            // Rotation truncates a segment to its last frame and syncs it before the next exists, so
            // a closed segment is valid frames to its very end.
            throw new StorageCorruptionException(path, offset, "a frame of a closed segment fails its checksum or is cut short");
        }

        if (end == offset)
        {
            return null;
        }

        if (WalFormat.AnyValidFrameAfter(bytes, offset))
        {
            throw new StorageCorruptionException(path, offset, "a frame fails its checksum and valid frames follow it");
        }

        return new TornTail(path, offset, end - offset);
    }

    private static void Apply(ReadOnlySpan<byte> payload, Replay replay, Segment segment, bool expectStart, bool first)
    {
        var reader = new FrameReader(payload);
        var kind = (FrameKind)reader.U8();
        Invariant.Require(expectStart == (kind == FrameKind.SegmentStart), "a segment starts with exactly one segment-start frame");
        switch (kind)
        {
            case FrameKind.SegmentStart:
                Invariant.Require(reader.U32() == WalFormat.SegmentMagic, "bad segment magic");
                Invariant.Require(reader.U32() == WalFormat.FormatVersion, "unknown segment format version");
                Invariant.Require(reader.U64() == segment.Sequence, "segment sequence does not match its file name");
                var hardState = reader.HardState();
                var baseIndex = reader.U64();
                var baseTerm = reader.U64();
                if (first)
                {
                    replay.HardState = hardState;
                    (replay.BaseIndex, replay.BaseTerm) = (baseIndex, baseTerm);
                    replay.Start = baseIndex + 1;
                }
                else
                {
                    // The same state seen from both sides of a rotation.
                    Invariant.Require(hardState == replay.HardState && baseIndex == replay.BaseIndex && baseTerm == replay.BaseTerm,
                        $"a segment's start ({hardState}, snapshot {baseIndex}/{baseTerm}) disagrees with the end of the segment before it ({replay.HardState}, snapshot {replay.BaseIndex}/{replay.BaseTerm})");
                }

                break;

            case FrameKind.Save:
                var hasHardState = reader.U8() != 0;
                var saved = reader.HardState();
                if (hasHardState)
                {
                    replay.HardState = saved;
                }

                var count = reader.U32();
                for (var i = 0u; i < count; i++)
                {
                    var entry = reader.Entry();
                    Invariant.Require(i == 0 || entry.Index == replay.Last + 1, "entries in a frame are contiguous");
                    if (replay.Entries.Count == 0 || entry.Index < replay.Start)
                    {
                        // The log's first entry, or an overwrite reaching below the entries still on
                        // disk (they were in deleted segments); recovery checks the snapshot covers the rest.
                        replay.Entries.Clear();
                        replay.Start = entry.Index;
                    }
                    else
                    {
                        Invariant.Require(entry.Index <= replay.Last + 1, $"entry {entry.Index} leaves a gap after {replay.Last}");
                        replay.Entries.RemoveRange((int)(entry.Index - replay.Start), replay.Entries.Count - (int)(entry.Index - replay.Start));
                    }

                    replay.Entries.Add(entry);
                    segment.EntryIndexMax = Math.Max(segment.EntryIndexMax, entry.Index);
                }

                break;

            case FrameKind.Compacted:
                (replay.BaseIndex, replay.BaseTerm) = (reader.U64(), reader.U64());
                break;

            case FrameKind.SnapshotInstalled:
                (replay.BaseIndex, replay.BaseTerm) = (reader.U64(), reader.U64());
                replay.HardState = reader.HardState();
                replay.Entries.Clear();
                replay.Start = replay.BaseIndex + 1;
                break;

            default:
                Invariant.Require(false, $"unknown frame kind {(byte)kind}");
                break;
        }

        Invariant.Require(reader.AtEnd, "trailing bytes in a frame");
    }

    /// <summary>
    /// Chooses the snapshot the log continues from: the newest loadable one at or after the log's
    /// recorded snapshot point, or, if that one is corrupt or missing, an older one whose gap the
    /// entries still on disk cover. Corrupt snapshots are quarantined and never loaded.
    /// </summary>
    private static (Snapshot Snapshot, HardState HardState, List<LogEntry> Entries, FrameKind? Unrecorded) Reconcile(Replay replay, SnapshotStore store, List<string> corrupt, ILogger logger)
    {
        var quarantine = new List<SnapshotStore.StoredSnapshot>();
        var candidates = store.List().Select(stored => ((SnapshotStore.StoredSnapshot?)stored, (Snapshot?)null)).Append((null, Snapshot.Empty));
        foreach (var (stored, empty) in candidates)
        {
            var snapshot = empty;
            if (stored is not null)
            {
                snapshot = store.TryLoad(stored, out var problem);
                if (snapshot is null)
                {
                    corrupt.Add(problem!);
                    logger.LogError("Snapshot {Problem}; it is never loaded", problem);
                    quarantine.Add(stored);
                    continue;
                }
            }

            var (index, term) = (snapshot!.Metadata.Index, snapshot.Metadata.Term);
            var holdsMatchingEntry = index >= replay.Start && index <= replay.Last && replay.Entries[(int)(index - replay.Start)].Term == term;
            var entries = new List<LogEntry>();
            if (index >= replay.BaseIndex)
            {
                if (index == replay.BaseIndex && index > 0 && term != replay.BaseTerm)
                {
                    continue;
                }

                // A snapshot newer than the log records was saved just before a crash. Raft §7: keep
                // the entries after it if the log holds its last entry, otherwise discard the log.
                if (holdsMatchingEntry || (index == replay.BaseIndex && replay.Start == index + 1))
                {
                    entries.AddRange(replay.Entries.Skip((int)(index + 1 - replay.Start)));
                }
                else if (index == replay.BaseIndex && replay.Entries.Count > 0)
                {
                    throw new StorageCorruptionException(stored?.Path ?? "snapshots", 0,
                        $"the log's entries [{replay.Start}, {replay.Last}] do not continue the snapshot at {index}");
                }
            }
            else
            {
                // Falling back to an older snapshot is sound only if the log still holds every entry
                // after it up to the point the log's own snapshot replaced.
                var covers = (holdsMatchingEntry || replay.Start == index + 1) && replay.Last >= replay.BaseIndex;
                if (!covers)
                {
                    continue;
                }

                logger.LogWarning("Fell back to the snapshot at {Index}: the log still covers its gap to {Base}", index, replay.BaseIndex);
                entries.AddRange(replay.Entries.Skip((int)(index + 1 - replay.Start)));
            }

            // Only now that a snapshot is chosen: a failed open leaves the files as they were.
            foreach (var bad in quarantine)
            {
                store.Quarantine(bad);
            }

            // A snapshot the log never recorded ends up as if its operation had completed: one that
            // continues the log as a compaction (commit unchanged), any other as an installation,
            // which raises the commit index to the snapshot (a snapshot holds only committed state).
            var installed = index > replay.BaseIndex && !holdsMatchingEntry;
            var hardState = installed && replay.HardState.Commit < index ? replay.HardState with { Commit = index } : replay.HardState;
            FrameKind? unrecorded = index <= replay.BaseIndex ? null : installed ? FrameKind.SnapshotInstalled : FrameKind.Compacted;
            return (snapshot, hardState, entries, unrecorded);
        }

        throw new StorageCorruptionException(store.List().FirstOrDefault()?.Path ?? "snapshots", 0,
            $"the log continues from a snapshot at index {replay.BaseIndex}, and no loadable snapshot with a log covering the gap exists");
    }
}
