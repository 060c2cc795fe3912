namespace Coordination.Consensus;

/// <summary>Kinds of message between nodes. Carried on the wire: values never change meaning.</summary>
public enum MessageKind : byte
{
    /// <summary>Ask for a pre-vote for <see cref="Message.Term"/> (= the sender's term + 1) without disrupting anyone (dissertation §9.6).</summary>
    PreVote = 1,
    PreVoteResponse = 2,

    /// <summary>RequestVote (Raft §5.2).</summary>
    Vote = 3,
    VoteResponse = 4,

    /// <summary>AppendEntries with entries after (Index, LogTerm) and the leader's commit (Raft §5.3).</summary>
    Append = 5,

    /// <summary>Accepted: Index is the last matching index. Rejected: Index is the rejected previous index, RejectHint/LogTerm where to try next.</summary>
    AppendResponse = 6,

    /// <summary>Leader liveness and commit propagation; Context carries the read-index round.</summary>
    Heartbeat = 7,
    HeartbeatResponse = 8,

    /// <summary>InstallSnapshot (Raft §7).</summary>
    InstallSnapshot = 9,

    /// <summary>Leadership transfer: start an election now, skipping pre-vote and the leader lease (dissertation §3.10).</summary>
    TimeoutNow = 10,

    /// <summary>A follower asks the leader for a read index; Context is the follower's request id.</summary>
    ReadIndex = 11,

    /// <summary>The leader confirms a read index (Index) for a follower's request (Context).</summary>
    ReadIndexResponse = 12,
}

/// <summary>
/// A message between two nodes. Unused fields are zero. Messages are immutable once sent.
/// </summary>
public sealed record Message
{
    public required MessageKind Kind { get; init; }

    public required ulong From { get; init; }

    public required ulong To { get; init; }

    /// <summary>The sender's term (for PreVote, the term it would campaign in).</summary>
    public required ulong Term { get; init; }

    /// <summary>Append: term of the entry at Index. Vote: the candidate's last term. Rejection: the hint's term.</summary>
    public ulong LogTerm { get; init; }

    /// <summary>Append: index before the entries. Vote: the candidate's last index. Responses: see <see cref="MessageKind"/>.</summary>
    public ulong Index { get; init; }

    public ulong Commit { get; init; }

    public IReadOnlyList<LogEntry> Entries { get; init; } = [];

    public bool Reject { get; init; }

    public ulong RejectHint { get; init; }

    public Snapshot? Snapshot { get; init; }

    /// <summary>Read-index round (Heartbeat) or request id (ReadIndex); election kind for Vote (1 = transfer).</summary>
    public ulong Context { get; init; }

    /// <summary>Vote.Context value marking an election forced by leadership transfer.</summary>
    public const ulong TransferElection = 1;

    public override string ToString() =>
        $"{Kind} {From}->{To} t{Term} i{Index} lt{LogTerm} c{Commit} n{Entries.Count}{(Reject ? " reject hint " + RejectHint : "")}{(Context != 0 ? " ctx " + Context : "")}";
}
