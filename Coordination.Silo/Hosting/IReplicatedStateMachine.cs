namespace Coordination.Silo.Hosting;

/// <summary>
/// The application state the silo replicates. Every member is called only from the
/// <see cref="RaftHost"/> loop thread, so implementations need no locking. Stale queries
/// (<see cref="RaftHost.QueryAsync{T}"/>) read the state from other threads, concurrently with each
/// other but never while the loop applies or restores: reading must change nothing.
/// </summary>
public interface IReplicatedStateMachine
{
    /// <summary>The index of the last applied entry.</summary>
    ulong AppliedIndex { get; }

    /// <summary>The newest entry timestamp applied or restored from a snapshot (Unix ms; 0 if none): log time as far as this replica knows.</summary>
    long LogTimeMs { get; }

    /// <summary>Applies one committed command with the leader's timestamp; the result goes to the waiting proposer, if any.</summary>
    object? Apply(ulong index, long timestampMs, ReadOnlyMemory<byte> command);

    /// <summary>Notes a committed entry that carries no command (a Raft no-op or membership entry).</summary>
    void Skip(ulong index);

    /// <summary>The whole state as of <see cref="AppliedIndex"/>.</summary>
    byte[] WriteSnapshot();

    /// <summary>Replaces the whole state with a snapshot taken at <paramref name="index"/>.</summary>
    void RestoreSnapshot(ulong index, ReadOnlySpan<byte> snapshot);

    /// <summary>Commands the leader proposes when it takes over (for example: extend every session).</summary>
    /// <param name="leaderless">How long this node went without a leader before it took over (since it last heard from one, or stopped being one); null when it has not known one since it started.</param>
    IEnumerable<byte[]> OnBecameLeader(TimeSpan? leaderless);

    /// <summary>Commands the leader proposes when time-based work is due at <paramref name="nowMs"/> (for example: expire sessions).</summary>
    IEnumerable<byte[]> DueCommands(long nowMs);
}
