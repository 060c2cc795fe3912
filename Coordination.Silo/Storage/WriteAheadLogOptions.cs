namespace Coordination.Silo.Storage;

/// <summary>
/// Limits of the durable log, validated by <see cref="Validate"/> when the log opens: invalid options
/// are rejected before anything on disk is touched.
/// </summary>
public sealed record WriteAheadLogOptions
{
    public const long SegmentBytesMin = 64 * 1024;
    public const long SegmentBytesLimit = 1L << 30;
    public const int RecordBytesMin = 4 * 1024;
    public const int SnapshotsKeptLimit = 64;
    public const long SnapshotBytesLimit = 1L << 30;

    public static readonly WriteAheadLogOptions Default = new();

    /// <summary>
    /// A segment file rotates before a frame would take it past this size. Bounds recovery's memory
    /// (a segment is read whole) and the granularity of prefix truncation.
    /// </summary>
    public long SegmentBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Largest payload of one frame, that is of one <c>Save</c> (hard state + all its entries) or one
    /// log record of any kind. A larger <c>Save</c> is rejected with nothing written.
    /// </summary>
    public int RecordBytesMax { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// Zero-filled space kept ahead of the write position. Overwriting allocated blocks lets
    /// <c>fdatasync</c> skip the metadata journal commit that growing a file costs (docs/storage.md).
    /// </summary>
    public int PreallocateBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Snapshots kept on disk; older ones are deleted after a new one is durable. At least 1.</summary>
    public int SnapshotsKeptMax { get; init; } = 3;

    /// <summary>Largest snapshot file accepted for writing or reading.</summary>
    public long SnapshotBytesMax { get; init; } = 512L * 1024 * 1024;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid limit.</summary>
    public void Validate()
    {
        Reject(SegmentBytes < SegmentBytesMin || SegmentBytes > SegmentBytesLimit,
            $"{nameof(SegmentBytes)} must be in [{SegmentBytesMin}, {SegmentBytesLimit}], was {SegmentBytes}");
        Reject(RecordBytesMax < RecordBytesMin || RecordBytesMax > SegmentBytes / 2,
            $"{nameof(RecordBytesMax)} must be in [{RecordBytesMin}, {nameof(SegmentBytes)} / 2], was {RecordBytesMax}");
        Reject(PreallocateBytes < 0 || PreallocateBytes > SegmentBytes,
            $"{nameof(PreallocateBytes)} must be in [0, {nameof(SegmentBytes)}], was {PreallocateBytes}");
        Reject(SnapshotsKeptMax < 1 || SnapshotsKeptMax > SnapshotsKeptLimit,
            $"{nameof(SnapshotsKeptMax)} must be in [1, {SnapshotsKeptLimit}], was {SnapshotsKeptMax}");
        Reject(SnapshotBytesMax < RecordBytesMin || SnapshotBytesMax > SnapshotBytesLimit,
            $"{nameof(SnapshotBytesMax)} must be in [{RecordBytesMin}, {SnapshotBytesLimit}], was {SnapshotBytesMax}");
    }

    private static void Reject(bool invalid, string message)
    {
        if (invalid)
        {
            throw new ArgumentException(message);
        }
    }
}

/// <summary>
/// Data on disk failed its checksum or its structure where a torn write cannot explain it. The
/// process must not start on this data: the node is repaired from its peers (docs/storage.md).
/// </summary>
public sealed class StorageCorruptionException(string file, long offset, string reason)
    : Exception($"corrupt storage in {file} at offset {offset}: {reason}")
{
    public string File { get; } = file;

    public long Offset { get; } = offset;

    public string Reason { get; } = reason;
}

/// <summary>A torn write at the tail of the last segment, dropped at recovery.</summary>
public sealed record TornTail(string File, long Offset, long BytesDropped);

/// <summary>What recovery found and did when the log opened; also logged.</summary>
public sealed record RecoveryReport(
    int SegmentsRead,
    IReadOnlyList<TornTail> TornTails,
    IReadOnlyList<string> CorruptSnapshots,
    ulong SnapshotIndex,
    ulong FirstIndex,
    ulong LastIndex);
