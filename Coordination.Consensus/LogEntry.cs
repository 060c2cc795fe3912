namespace Coordination.Consensus;

/// <summary>What a log entry carries. Stored on disk: values never change meaning.</summary>
public enum EntryKind : byte
{
    /// <summary>Application data proposed through <see cref="RaftNode.Propose"/>.</summary>
    Normal = 0,

    /// <summary>The empty entry a new leader appends to commit everything before its term (Raft §5.4.2).</summary>
    NoOp = 1,

    /// <summary>A new cluster membership, encoded by <see cref="Membership.Encode"/>.</summary>
    Membership = 2,
}

/// <summary>
/// One entry of the replicated log. <see cref="Data"/> is owned by the entry and must not be
/// mutated after the entry is created.
/// </summary>
public readonly record struct LogEntry(ulong Index, ulong Term, EntryKind Kind, byte[] Data)
{
    /// <summary>Fixed overhead counted per entry when batching by bytes (index, term, kind, length).</summary>
    public const int HeaderBytes = 8 + 8 + 1 + 4;

    /// <summary>The size this entry counts for against byte limits.</summary>
    public int SizeBytes => HeaderBytes + Data.Length;

    /// <summary>True when both entries have the same index, term, kind and bytes.</summary>
    public bool SameAs(in LogEntry other) =>
        Index == other.Index && Term == other.Term && Kind == other.Kind && Data.AsSpan().SequenceEqual(other.Data);

    public override string ToString() => $"{Index}@{Term}:{Kind}[{Data.Length}]";
}

/// <summary>
/// The state that must be durable before a node answers a vote or acknowledges entries:
/// the current term, the vote cast in it (0 = none) and the commit index known so far.
/// </summary>
public readonly record struct HardState(ulong Term, ulong Vote, ulong Commit)
{
    public static readonly HardState Empty = new(0, 0, 0);
}
