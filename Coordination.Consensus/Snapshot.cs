namespace Coordination.Consensus;

/// <summary>Where a snapshot stands in the log and the membership in force at that point.</summary>
public sealed record SnapshotMetadata(ulong Index, ulong Term, Membership Membership)
{
    public static readonly SnapshotMetadata Empty = new(0, 0, Membership.Empty);
}

/// <summary>
/// The application's state as of <see cref="SnapshotMetadata.Index"/>: replaces every log entry up
/// to and including that index (Raft §7). <see cref="Data"/> is opaque to consensus.
/// </summary>
public sealed record Snapshot(SnapshotMetadata Metadata, byte[] Data)
{
    public static readonly Snapshot Empty = new(SnapshotMetadata.Empty, []);

    public bool IsEmpty => Metadata.Index == 0;
}
