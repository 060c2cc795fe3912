namespace Coordination.Consensus;

/// <summary>
/// The durable part of a node's log, as the consensus core reads it. Holds a snapshot followed by
/// entries <see cref="FirstIndex"/>..<see cref="LastIndex"/>. The core never writes through this
/// interface; the host writes with <see cref="ILogStorage"/> while processing a <see cref="Ready"/>.
/// Called only from the thread that drives the node.
/// </summary>
public interface ILogStorageReader
{
    /// <summary>The hard state as last saved.</summary>
    HardState HardState { get; }

    /// <summary>Index of the first entry still stored (the snapshot's index + 1).</summary>
    ulong FirstIndex { get; }

    /// <summary>Index of the last entry stored, or the snapshot's index when no entry follows it.</summary>
    ulong LastIndex { get; }

    /// <summary>
    /// The term of the entry at <paramref name="index"/>, for <c>FirstIndex - 1 &lt;= index &lt;= LastIndex</c>
    /// (FirstIndex - 1 answers with the snapshot's term).
    /// </summary>
    ulong Term(ulong index);

    /// <summary>
    /// Entries from <paramref name="low"/> (inclusive) to <paramref name="high"/> (exclusive), stopping
    /// before the total would exceed <paramref name="maxBytes"/>, but always at least one entry.
    /// </summary>
    IReadOnlyList<LogEntry> Entries(ulong low, ulong high, long maxBytes);

    /// <summary>The latest snapshot (may be <see cref="Snapshot.Empty"/>).</summary>
    Snapshot Snapshot { get; }
}

/// <summary>
/// The write side of a node's log, used by the host that drives the node. Every method is durable
/// when it returns (for a disk log: written and fsynced), because the host sends messages that
/// promise this state right after calling it.
/// </summary>
public interface ILogStorage : ILogStorageReader
{
    /// <summary>
    /// Saves the hard state (if given) and appends <paramref name="entries"/>, first removing every
    /// stored entry at or after the first new entry's index (a conflicting suffix).
    /// One call is one durable write: one sync covers it all (group commit).
    /// </summary>
    void Save(HardState? hardState, IReadOnlyList<LogEntry> entries);

    /// <summary>Replaces the whole log with a snapshot received from the leader.</summary>
    void InstallSnapshot(Snapshot snapshot);

    /// <summary>
    /// Records the application's snapshot at <paramref name="metadata"/>.Index (which must be applied
    /// and stored) and discards the entries it covers.
    /// </summary>
    void Compact(SnapshotMetadata metadata, byte[] data);
}
