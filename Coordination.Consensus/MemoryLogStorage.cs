namespace Coordination.Consensus;

/// <summary>
/// A log kept in memory: the twin of the durable write-ahead log for tests and the simulator.
/// "Durable" here means "survives a simulated crash of the node that uses it".
/// </summary>
public sealed class MemoryLogStorage : ILogStorage
{
    // _entries[0] is a sentinel at the snapshot's index and term, so Term(FirstIndex - 1) works.
    private readonly List<LogEntry> _entries = [new LogEntry(0, 0, EntryKind.NoOp, [])];

    public HardState HardState { get; private set; } = HardState.Empty;

    public Snapshot Snapshot { get; private set; } = Snapshot.Empty;

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
        if (hardState is { } state)
        {
            Invariant.Require(state.Term >= HardState.Term, "the term never goes back");
            HardState = state;
        }

        if (entries.Count == 0)
        {
            return;
        }

        var first = entries[0].Index;
        Invariant.Require(first > Offset, $"append at {first} would overwrite the snapshot at {Offset}");
        Invariant.Require(first <= LastIndex + 1, $"append at {first} leaves a gap after {LastIndex}");
        _entries.RemoveRange((int)(first - Offset), _entries.Count - (int)(first - Offset));
        for (var i = 0; i < entries.Count; i++)
        {
            Invariant.Require(entries[i].Index == first + (ulong)i, "appended entries must be contiguous");
            _entries.Add(entries[i]);
        }
    }

    public void InstallSnapshot(Snapshot snapshot)
    {
        var meta = snapshot.Metadata;
        Invariant.Require(meta.Index > Offset, "an installed snapshot must be newer than the one held");
        _entries.Clear();
        _entries.Add(new LogEntry(meta.Index, meta.Term, EntryKind.NoOp, []));
        Snapshot = snapshot;
        if (HardState.Commit < meta.Index)
        {
            HardState = HardState with { Commit = meta.Index };
        }
    }

    public void Compact(SnapshotMetadata metadata, byte[] data)
    {
        Invariant.Require(metadata.Index > Offset && metadata.Index <= LastIndex, $"compaction to {metadata.Index} outside ({Offset}, {LastIndex}]");
        Invariant.Require(Term(metadata.Index) == metadata.Term, "a snapshot's term must match the entry it replaces");
        var removed = (int)(metadata.Index - Offset);
        _entries.RemoveRange(0, removed);
        _entries[0] = new LogEntry(metadata.Index, metadata.Term, EntryKind.NoOp, []);
        Snapshot = new Snapshot(metadata, data);
    }
}
