namespace Coordination.Consensus;

/// <summary>
/// Configuration of one <see cref="RaftNode"/>. Validated by <see cref="Validate"/> before the node
/// starts; every queue and batch has a named maximum here.
/// </summary>
public sealed record RaftOptions
{
    /// <summary>This node's id; never 0 (0 means "none").</summary>
    public required ulong NodeId { get; init; }

    /// <summary>
    /// Ticks without hearing from a leader before a follower campaigns; the actual timeout is drawn
    /// at random from [ElectionTicks, 2 * ElectionTicks) to avoid split votes (Raft §5.2).
    /// </summary>
    public int ElectionTicks { get; init; } = 10;

    /// <summary>Ticks between a leader's heartbeats; must be well below <see cref="ElectionTicks"/>.</summary>
    public int HeartbeatTicks { get; init; } = 1;

    /// <summary>Campaign first with a pre-vote, so a partitioned node cannot disrupt a healthy leader.</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>A leader steps down when it has not heard from a quorum within an election timeout.</summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>Appends in flight to one follower before the leader waits for acknowledgements.</summary>
    public int InflightAppendsMax { get; init; } = 256;

    /// <summary>Bytes of entries in one append message (at least one entry is always sent).</summary>
    public long AppendBytesMax { get; init; } = 1 << 20;

    /// <summary>Bytes of committed entries handed to the application in one <see cref="Ready"/>.</summary>
    public long CommittedBytesPerReadyMax { get; init; } = 8 << 20;

    /// <summary>Entries the leader may hold uncommitted; proposals beyond are refused (back-pressure).</summary>
    public int UncommittedEntriesMax { get; init; } = 65_536;

    /// <summary>Bytes of one proposal's data.</summary>
    public int EntryBytesMax { get; init; } = 1 << 20;

    /// <summary>Proposals accepted in one call to <see cref="RaftNode.Propose(IReadOnlyList{byte[]})"/>.</summary>
    public int ProposalBatchMax { get; init; } = 4096;

    /// <summary>Read-index requests waiting for confirmation (on the leader) before new ones are refused.</summary>
    public int ReadIndexPendingMax { get; init; } = 4096;

    /// <summary>Messages a node may queue for sending before its host collects them.</summary>
    public int OutboxMessagesMax { get; init; } = 65_536;

    /// <summary>Ticks after which a snapshot sent to a follower and not acknowledged is sent again.</summary>
    public int SnapshotRetryTicks => ElectionTicks * 2;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public RaftOptions Validate()
    {
        Check(NodeId != 0, nameof(NodeId), "must not be 0");
        Check(HeartbeatTicks >= 1, nameof(HeartbeatTicks), "must be at least 1");
        Check(ElectionTicks > HeartbeatTicks, nameof(ElectionTicks), "must be greater than HeartbeatTicks");
        Check(InflightAppendsMax >= 1, nameof(InflightAppendsMax), "must be at least 1");
        Check(AppendBytesMax >= 1, nameof(AppendBytesMax), "must be at least 1");
        Check(CommittedBytesPerReadyMax >= 1, nameof(CommittedBytesPerReadyMax), "must be at least 1");
        Check(UncommittedEntriesMax >= 1, nameof(UncommittedEntriesMax), "must be at least 1");
        Check(EntryBytesMax >= 1, nameof(EntryBytesMax), "must be at least 1");
        Check(ProposalBatchMax >= 1, nameof(ProposalBatchMax), "must be at least 1");
        Check(ReadIndexPendingMax >= 1, nameof(ReadIndexPendingMax), "must be at least 1");
        Check(OutboxMessagesMax >= 16, nameof(OutboxMessagesMax), "must be at least 16");
        return this;
    }

    private static void Check(bool valid, string name, string rule)
    {
        if (!valid)
        {
            throw new ArgumentException($"RaftOptions.{name} {rule}.", name);
        }
    }
}
