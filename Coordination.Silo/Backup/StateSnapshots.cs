using Coordination.Consensus;
using Coordination.Grains;
using Coordination.Silo.Grains;

namespace Coordination.Silo.Backup;

/// <summary>
/// Whole-state snapshots for backup and restore: <see cref="GrainStateMachineAdapter.WriteSnapshot"/>
/// (every grain and the idempotency keys, at one applied log index) sealed with a checksum
/// (<see cref="SavedStateFormat"/>).
/// </summary>
public static class StateSnapshots
{
    /// <summary>The state as of a linearizable point, taken on the Raft loop; any silo can serve it.</summary>
    public static async Task<byte[]> SaveAsync(SiloRuntime silo, CancellationToken cancellation = default) =>
        SavedStateFormat.Seal(await silo.Host.QueryAsync(() => silo.State.WriteSnapshot(), linearizable: true, cancellation));

    /// <summary>
    /// Log indexes a restored cluster starts past the saved state's own: more than the old cluster
    /// can have written after the save (10^12 is 1.5 years at 20,000 writes a second), and revisions
    /// stay exact as JSON numbers (below 2^53) for a thousand restores and more. A constant, not a
    /// setting: founders that skipped differently would hold different logs under the same term.
    /// </summary>
    public const ulong RevisionSkip = 1_000_000_000_000;

    /// <summary>
    /// Bootstraps a new cluster's empty log from a saved state instead of from nothing: the log starts
    /// with that state as its snapshot, <paramref name="skipRevisions"/> (<see cref="RevisionSkip"/>)
    /// log indexes past the one it was saved at (<see cref="CoordinationStateMachine.SkipRevisions"/>:
    /// nothing the old cluster handed out after the save is handed out again, and watchers from it are
    /// told to start over), and the new founding members. Every founder must restore the same bytes.
    /// Returns the index the new log starts after.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not a readable state snapshot.</exception>
    /// <exception cref="CorruptDataException">The bytes fail the snapshot's magic or checksum.</exception>
    public static ulong Bootstrap(ILogStorage log, Membership founders, byte[] snapshot, ulong skipRevisions)
    {
        Invariant.Require(log.LastIndex == 0 && log.HardState.Term == 0, "only an empty log can be restored into");
        var (applied, body) = SavedStateFormat.Open(snapshot);
        if (applied == 0)
        {
            throw new InvalidDataException("a state snapshot at index 0 holds nothing to restore");
        }

        // Read it completely before anything is written: a bad file leaves the data directory empty.
        // The log keeps it in the Raft snapshot layout, as every snapshot it takes (SavedStateFormat).
        var state = new GrainStateMachineAdapter();
        state.RestoreSnapshot(applied, SavedStateFormat.WithoutChecksum(applied, body.Span));
        state.SkipRevisions(skipRevisions);
        var start = state.AppliedIndex;
        log.InstallSnapshot(new Snapshot(new SnapshotMetadata(start, 1, founders), state.WriteSnapshot()));
        log.Save(new HardState(1, 0, start), []);
        return start;
    }

    /// <summary>
    /// A saved state staged in an empty data directory by <c>coord snapshot restore FILE --data-dir DIR</c>:
    /// a silo that finds its log empty bootstraps from it (like <c>--restore-from</c>) and then deletes it.
    /// </summary>
    public const string StagedRestoreFileName = "restore-state.bin";

    /// <summary>Prefix of a restore source that names a blob in the backup container instead of a file.</summary>
    public const string BlobPrefix = "blob:";

    /// <summary>
    /// The bytes of a saved state: a file path, or <c>blob:NAME</c> for a backup in the Azure Blob
    /// container of <c>Coordination:Backup</c> (downloaded with its MD5 checked). Runs once at start.
    /// </summary>
    public static byte[] ReadRestoreSource(string source, BlobBackupSettings backup)
    {
        if (!source.StartsWith(BlobPrefix, StringComparison.Ordinal))
        {
            return File.ReadAllBytes(source);
        }

        if (string.IsNullOrEmpty(backup.ConnectionString))
        {
            throw new InvalidOperationException($"--restore-from {source} needs Coordination:Backup:ConnectionString.");
        }

        using var http = new HttpClient();
        var blobs = new AzureBlobBackup(http, AzureBlobBackupOptions.FromConnectionString(backup.ConnectionString, backup.Container));
        using var bytes = new MemoryStream();
        blobs.DownloadAsync(source[BlobPrefix.Length..], bytes).GetAwaiter().GetResult();
        return bytes.ToArray();
    }

    /// <summary>The log index a state snapshot was taken at, once its magic and checksum are checked.</summary>
    /// <exception cref="CorruptDataException">The bytes are not an intact state snapshot.</exception>
    public static ulong AppliedIndex(byte[] snapshot) => SavedStateFormat.Open(snapshot).AppliedIndex;
}
