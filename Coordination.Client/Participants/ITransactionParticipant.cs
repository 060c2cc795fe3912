using System.Text.Json;

namespace Coordination.Client.Participants;

/// <summary>
/// The application side of a two-phase-commit participant. The library (<see cref="ParticipantServiceCollectionExtensions.AddTransactionParticipant{T}"/>,
/// <see cref="ParticipantEndpointRouteBuilderExtensions.MapTransactionParticipant"/>) serves the coordinator's protocol,
/// keeps the durable participant journal and calls these methods.
/// </summary>
/// <remarks>
/// The contract the application must keep (docs/client.md, "Participant library"):
/// <list type="bullet">
/// <item><see cref="PrepareAsync"/> that votes commit must first make <em>durable</em> everything
/// <see cref="CommitAsync"/> needs (reserve funds, write a hold): after a crash and restart, commit must still succeed.
/// A commit vote is a promise that cannot be taken back.</item>
/// <item>All three are idempotent per transaction id: the library deduplicates through its journal, but a crash
/// between the application's change and the journal record makes it call again with the same id.</item>
/// <item><see cref="AbortAsync"/> may be called for a transaction the application never prepared, voted abort on, or
/// whose prepare crashed half way; it releases whatever was reserved and is a no-op otherwise.</item>
/// </list>
/// Calls for one transaction id never overlap; calls for different ids may run concurrently.
/// An exception from any method is answered as a 500: the coordinator counts it as no vote or no acknowledgement and retries.
/// </remarks>
public interface ITransactionParticipant
{
    /// <summary>Checks and durably reserves what <paramref name="work"/> needs; votes commit, or abort with a reason. Absent work is JSON null.</summary>
    Task<ParticipantVote> PrepareAsync(string transactionId, JsonElement work, CancellationToken cancellationToken);

    /// <summary>Applies the reservation made by a commit-voting prepare. Must not fail for a reason prepare could have checked.</summary>
    Task CommitAsync(string transactionId, CancellationToken cancellationToken);

    /// <summary>Releases the reservation of <paramref name="transactionId"/>, if there is one.</summary>
    Task AbortAsync(string transactionId, CancellationToken cancellationToken);
}

/// <summary>A participant's vote: commit, or abort with a reason.</summary>
public sealed record ParticipantVote
{
    private ParticipantVote(bool isCommit, string? reason)
    {
        IsCommit = isCommit;
        Reason = reason;
    }

    /// <summary>The vote to commit.</summary>
    public static ParticipantVote Commit { get; } = new(true, null);

    /// <summary>True for a commit vote.</summary>
    public bool IsCommit { get; }

    /// <summary>Why the participant votes abort (null for commit).</summary>
    public string? Reason { get; }

    /// <summary>A vote to abort; <paramref name="reason"/> reaches the coordinator's view (cut to <see cref="ParticipantJournal.ReasonLengthMax"/> characters).</summary>
    public static ParticipantVote Abort(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return new(false, reason.Length <= ParticipantJournal.ReasonLengthMax ? reason : reason[..ParticipantJournal.ReasonLengthMax]);
    }
}
