namespace Coordination.Consensus;

/// <summary>
/// A node's view of its log: the durable part in <see cref="ILogStorageReader"/> followed by an
/// unstable tail (entries, or a received snapshot) that the host has not persisted yet, plus the
/// commit and apply positions. Owned by one <see cref="RaftNode"/>; not thread-safe.
/// </summary>
internal sealed class RaftLog
{
    private readonly ILogStorageReader _storage;

    // Entries not yet persisted; _unstable[0] has index _unstableOffset.
    private List<LogEntry> _unstable = [];
    private ulong _unstableOffset;

    public RaftLog(ILogStorageReader storage)
    {
        _storage = storage;
        _unstableOffset = storage.LastIndex + 1;
        Applied = storage.FirstIndex - 1;
        // The stored commit index may lag (it is written only with other changes); a snapshot holds
        // only committed entries, so everything it covers is committed.
        Committed = Math.Max(storage.HardState.Commit, Applied);
        Invariant.Require(Committed >= Applied && Committed <= storage.LastIndex, $"stored commit {Committed} outside the stored log [{Applied}, {storage.LastIndex}]");
    }

    /// <summary>A snapshot received from the leader and not yet persisted.</summary>
    public Snapshot? UnstableSnapshot { get; private set; }

    public ulong Committed { get; private set; }

    /// <summary>Highest index handed to the application and acknowledged by <see cref="RaftNode.Advance"/>.</summary>
    public ulong Applied { get; private set; }

    public ulong FirstIndex => UnstableSnapshot is { } snapshot ? snapshot.Metadata.Index + 1 : _storage.FirstIndex;

    public ulong LastIndex =>
        _unstable.Count > 0 ? _unstable[^1].Index
        : UnstableSnapshot is { } snapshot ? snapshot.Metadata.Index
        : _storage.LastIndex;

    public ulong LastTerm => Term(LastIndex) ?? throw new InvariantViolationException("the last entry's term must be known");

    /// <summary>The last index known to be persisted.</summary>
    public ulong StableLastIndex => _unstable.Count > 0 ? _unstableOffset - 1 : UnstableSnapshot is null ? _storage.LastIndex : 0;

    public IReadOnlyList<LogEntry> UnstableEntries => _unstable;

    public Snapshot Snapshot => UnstableSnapshot ?? _storage.Snapshot;

    /// <summary>The term at <paramref name="index"/>, or null when compacted away or beyond the end.</summary>
    public ulong? Term(ulong index)
    {
        if (UnstableSnapshot is { } snapshot && index == snapshot.Metadata.Index)
        {
            return snapshot.Metadata.Term;
        }

        if (index < FirstIndex - 1 || index > LastIndex)
        {
            return null;
        }

        if (index >= _unstableOffset && _unstable.Count > 0)
        {
            return _unstable[(int)(index - _unstableOffset)].Term;
        }

        Invariant.Require(UnstableSnapshot is null, "with an unstable snapshot only it and the unstable entries count");
        return _storage.Term(index);
    }

    public bool MatchTerm(ulong index, ulong term) => Term(index) == term;

    /// <summary>Raft §5.4.1: a log is at least as up to date if its last term is higher, or equal with an index as long.</summary>
    public bool IsUpToDate(ulong lastIndex, ulong lastTerm) =>
        lastTerm > LastTerm || (lastTerm == LastTerm && lastIndex >= LastIndex);

    /// <summary>Entries in [low, high), at most <paramref name="maxBytes"/> (but at least one); null when low is compacted.</summary>
    public IReadOnlyList<LogEntry>? Entries(ulong low, ulong high, long maxBytes)
    {
        Invariant.Require(low <= high && high <= LastIndex + 1, $"entries [{low}, {high}) beyond the log end {LastIndex}");
        if (low < FirstIndex)
        {
            return null;
        }

        if (low == high)
        {
            return [];
        }

        var result = new List<LogEntry>();
        long bytes = 0;
        if (low < _unstableOffset)
        {
            var stored = _storage.Entries(low, Math.Min(high, _unstableOffset), maxBytes);
            foreach (var entry in stored)
            {
                bytes += entry.SizeBytes;
            }

            result.AddRange(stored);
            if (bytes > maxBytes || result.Count < (int)(Math.Min(high, _unstableOffset) - low))
            {
                return result;
            }
        }

        for (var index = Math.Max(low, _unstableOffset); index < high; index++)
        {
            var entry = _unstable[(int)(index - _unstableOffset)];
            bytes += entry.SizeBytes;
            if (result.Count > 0 && bytes > maxBytes)
            {
                break;
            }

            result.Add(entry);
        }

        return result;
    }

    /// <summary>Appends entries, replacing any unstable entries at or after the first new index.</summary>
    public void Append(IReadOnlyList<LogEntry> entries)
    {
        if (entries.Count == 0)
        {
            return;
        }

        var first = entries[0].Index;
        Invariant.Require(first > Committed, $"append at {first} would overwrite committed entries up to {Committed}");
        Invariant.Require(first <= LastIndex + 1, $"append at {first} leaves a gap after {LastIndex}");
        if (first == _unstableOffset + (ulong)_unstable.Count)
        {
            // Continues the unstable tail.
        }
        else if (first <= _unstableOffset)
        {
            // Replaces stored entries from `first` on; storage truncates them when this is saved.
            _unstableOffset = first;
            _unstable = [];
        }
        else
        {
            _unstable.RemoveRange((int)(first - _unstableOffset), _unstable.Count - (int)(first - _unstableOffset));
        }

        _unstable.AddRange(entries);
    }

    /// <summary>
    /// The position in <paramref name="entries"/> (from a leader, contiguous) of the first entry this
    /// log does not already hold with the same term; <c>entries.Count</c> when it holds them all.
    /// </summary>
    public int FindConflict(IReadOnlyList<LogEntry> entries)
    {
        for (var i = 0; i < entries.Count; i++)
        {
            if (Term(entries[i].Index) != entries[i].Term)
            {
                return i;
            }
        }

        return entries.Count;
    }

    /// <summary>
    /// The largest index at or below <paramref name="index"/> whose term is at most <paramref name="term"/>:
    /// where a follower's and a leader's logs can next agree (fast backtracking).
    /// </summary>
    public ulong FindConflictByTerm(ulong index, ulong term)
    {
        index = Math.Min(index, LastIndex);
        while (index > 0)
        {
            var found = Term(index);
            if (found is null || found <= term)
            {
                break;
            }

            index--;
        }

        return index;
    }

    public void CommitTo(ulong index)
    {
        if (index > Committed)
        {
            Invariant.Require(index <= LastIndex, $"commit {index} beyond the log end {LastIndex}");
            Committed = index;
        }
    }

    /// <summary>Entries committed and not yet handed out for applying, at most <paramref name="maxBytes"/>.</summary>
    public IReadOnlyList<LogEntry> NextCommittedEntries(ulong handedOut, long maxBytes)
    {
        var low = Math.Max(handedOut, UnstableSnapshot?.Metadata.Index ?? 0) + 1;
        if (low > Committed)
        {
            return [];
        }

        return Entries(low, Committed + 1, maxBytes) ?? throw new InvariantViolationException($"committed entries from {low} were compacted before being applied");
    }

    public void AppliedTo(ulong index)
    {
        Invariant.Require(index <= Committed && index >= Applied, $"applied {index} outside [{Applied}, {Committed}]");
        Applied = index;
    }

    /// <summary>The host persisted the unstable entries up to (index, term).</summary>
    public void StableTo(ulong index, ulong term)
    {
        // The tail may have been replaced after the Ready was taken; only drop what still matches.
        if (index < _unstableOffset || _unstable.Count == 0 || index > _unstable[^1].Index)
        {
            return;
        }

        if (_unstable[(int)(index - _unstableOffset)].Term != term)
        {
            return;
        }

        var count = (int)(index - _unstableOffset) + 1;
        _unstable.RemoveRange(0, count);
        _unstableOffset = index + 1;
    }

    public void StableSnapshotTo(ulong index)
    {
        if (UnstableSnapshot is { } snapshot && snapshot.Metadata.Index == index)
        {
            UnstableSnapshot = null;
            Applied = Math.Max(Applied, index);
        }
    }

    /// <summary>Replaces the whole log with a snapshot from the leader (Raft §7).</summary>
    public void Restore(Snapshot snapshot)
    {
        var index = snapshot.Metadata.Index;
        Invariant.Require(index > Committed, "a restored snapshot must be ahead of the commit index");
        UnstableSnapshot = snapshot;
        _unstable = [];
        _unstableOffset = index + 1;
        Committed = index;
    }
}
