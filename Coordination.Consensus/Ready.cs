namespace Coordination.Consensus;

/// <summary>The role a node plays in its current term.</summary>
public enum RaftRole
{
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// <summary>A confirmed linearizable read: once the application has applied <see cref="Index"/>, it may answer request <see cref="RequestId"/>.</summary>
public readonly record struct ReadState(ulong Index, ulong RequestId);

/// <summary>
/// Everything a node needs its host to do, collected by <see cref="RaftNode.GetReady"/>. The host
/// processes it in this order, then calls <see cref="RaftNode.Advance"/>:
/// <list type="number">
/// <item><b>Persist</b> <see cref="Snapshot"/>, then <see cref="HardState"/> and <see cref="Entries"/>, durably
/// (one sync when <see cref="MustSync"/>). Votes and acknowledgements in <see cref="Messages"/> promise this state.</item>
/// <item><b>Send</b> <see cref="Messages"/> (a leader may send them before persisting: <see cref="MaySendBeforePersist"/>).</item>
/// <item><b>Apply</b> <see cref="Snapshot"/> (if any) and then <see cref="CommittedEntries"/> to the state machine, in order,
/// and answer <see cref="ReadStates"/> once their index is applied.</item>
/// </list>
/// </summary>
public sealed class Ready
{
    /// <summary>The hard state to persist, or null when unchanged or when only its commit index moved (that alone is not synced).</summary>
    public HardState? HardState { get; init; }

    /// <summary>Entries to append durably (replacing any stored suffix from the first one's index).</summary>
    public IReadOnlyList<LogEntry> Entries { get; init; } = [];

    /// <summary>A snapshot received from the leader, to persist and then load into the state machine.</summary>
    public Snapshot? Snapshot { get; init; }

    /// <summary>Messages to send after persisting.</summary>
    public IReadOnlyList<Message> Messages { get; init; } = [];

    /// <summary>Entries committed by the cluster, to apply in order after persisting.</summary>
    public IReadOnlyList<LogEntry> CommittedEntries { get; init; } = [];

    /// <summary>Linearizable reads confirmed since the last Ready.</summary>
    public IReadOnlyList<ReadState> ReadStates { get; init; } = [];

    /// <summary>The node's role and known leader, as of this Ready.</summary>
    public required RaftRole Role { get; init; }

    public required ulong Leader { get; init; }

    public required ulong Term { get; init; }

    /// <summary>True when the persisted state changed: the host must sync (before sending, unless <see cref="MaySendBeforePersist"/>).</summary>
    public bool MustSync => HardState is not null || Entries.Count > 0 || Snapshot is not null;

    /// <summary>True when the term and vote in force were persisted by an earlier Ready (this one does not change them).</summary>
    public bool TermAndVoteDurable { get; init; }

    /// <summary>
    /// True when <see cref="Messages"/> may be sent before this Ready is persisted, so the leader
    /// writes its own entries in parallel with replicating them (dissertation §10.2.1). Only for a
    /// leader whose term and vote are already on disk: a single voter wins its election within one
    /// step, and if it sent entries of a term it had not persisted and then crashed, it could win
    /// that term again and write different entries at the same indexes. A leader grants no votes,
    /// and it counts its own copy toward the commit index only after <see cref="RaftNode.Advance"/>,
    /// so its messages promise nothing about its own disk. Every other role persists first: its
    /// votes and acknowledgements promise durable state.
    /// </summary>
    public bool MaySendBeforePersist => Role == RaftRole.Leader && TermAndVoteDurable;
}
