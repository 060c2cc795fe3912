using System.Text.Json;

namespace Coordination.Client.Participants;

/// <summary>How the participant answers a commit or abort.</summary>
public enum DecisionAnswer
{
    /// <summary>Applied (or already applied): <c>200</c>.</summary>
    Acknowledged,

    /// <summary>Commit for a transaction this participant never prepared: a protocol error, <c>409 not-prepared</c>.</summary>
    NotPrepared,

    /// <summary>Commit for a transaction this participant voted abort on: <c>409 voted-abort</c>.</summary>
    VotedAbort,

    /// <summary>Commit after abort was received: <c>409 already-aborted</c>.</summary>
    AlreadyAborted,

    /// <summary>Abort after commit was applied: <c>409 already-committed</c>.</summary>
    AlreadyCommitted,
}

/// <summary>
/// The participant's side of the protocol over the journal and the application: what the mapped endpoints and the
/// in-doubt resolver call. Thread-safe; calls for one transaction id are serialized (striped locks), calls for
/// different ids run concurrently.
/// </summary>
public sealed class ParticipantEngine
{
    /// <summary>The number of lock stripes: transactions whose ids share a stripe wait for each other.</summary>
    public const int LockStripes = 64;

    private readonly ITransactionParticipant _application;
    private readonly ParticipantJournal _journal;
    private readonly TransactionParticipantOptions _options;
    private readonly SemaphoreSlim[] _stripes = [.. Enumerable.Range(0, LockStripes).Select(_ => new SemaphoreSlim(1, 1))];

    public ParticipantEngine(ITransactionParticipant application, ParticipantJournal journal, TransactionParticipantOptions options)
    {
        ArgumentNullException.ThrowIfNull(application);
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(options);
        _application = application;
        _journal = journal;
        _options = options;
    }

    /// <summary>The journal the engine writes.</summary>
    public ParticipantJournal Journal => _journal;

    /// <summary>
    /// Answers a prepare: a recorded vote is repeated without asking the application again; after a recorded abort the
    /// vote is abort; otherwise the application prepares and its vote is journaled (fsynced) before it is returned.
    /// </summary>
    public async Task<ParticipantVote> PrepareAsync(string transactionId, string? participant, JsonElement work, CancellationToken cancellationToken)
    {
        var stripe = Stripe(transactionId);
        await stripe.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            switch (_journal.Find(transactionId))
            {
                case { Status: ParticipantTransactionStatus.Prepared, VotedCommit: true }:
                case { Status: ParticipantTransactionStatus.Committed }:
                    return ParticipantVote.Commit;
                case { Status: ParticipantTransactionStatus.Prepared } voted:
                    return ParticipantVote.Abort(voted.Reason ?? "voted abort");
                case { Status: ParticipantTransactionStatus.Aborted }:
                    return ParticipantVote.Abort("the transaction was already aborted here");
            }

            var vote = await _application.PrepareAsync(transactionId, work, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("The participant's PrepareAsync returned no vote.");
            _journal.RecordPrepared(transactionId, participant, vote, NowMs());
            if (_options.AfterPrepareRecorded is { } hook)
            {
                await hook(transactionId, vote).ConfigureAwait(false);
            }

            return vote;
        }
        finally
        {
            stripe.Release();
        }
    }

    /// <summary>Applies commit once: the application commits, then the journal records it (a repeat is acknowledged without calling the application).</summary>
    public async Task<DecisionAnswer> CommitAsync(string transactionId, CancellationToken cancellationToken)
    {
        var stripe = Stripe(transactionId);
        await stripe.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            switch (_journal.Find(transactionId))
            {
                case null:
                    return DecisionAnswer.NotPrepared;
                case { Status: ParticipantTransactionStatus.Committed }:
                    return DecisionAnswer.Acknowledged;
                case { Status: ParticipantTransactionStatus.Aborted }:
                    return DecisionAnswer.AlreadyAborted;
                case { VotedCommit: not true }:
                    return DecisionAnswer.VotedAbort;
            }

            await _application.CommitAsync(transactionId, cancellationToken).ConfigureAwait(false);
            _journal.RecordCommitted(transactionId, NowMs());
            if (_options.AfterDecisionRecorded is { } hook)
            {
                await hook(transactionId, true).ConfigureAwait(false);
            }

            return DecisionAnswer.Acknowledged;
        }
        finally
        {
            stripe.Release();
        }
    }

    /// <summary>
    /// Applies abort once: the application releases, then the journal records it, also for a transaction never
    /// prepared here (so a late prepare votes abort). A repeat is acknowledged without calling the application.
    /// </summary>
    public async Task<DecisionAnswer> AbortAsync(string transactionId, CancellationToken cancellationToken)
    {
        var stripe = Stripe(transactionId);
        await stripe.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            switch (_journal.Find(transactionId))
            {
                case { Status: ParticipantTransactionStatus.Aborted }:
                    return DecisionAnswer.Acknowledged;
                case { Status: ParticipantTransactionStatus.Committed }:
                    return DecisionAnswer.AlreadyCommitted;
            }

            // Also when nothing is journaled: a prepare may have reserved and crashed before its vote was recorded.
            await _application.AbortAsync(transactionId, cancellationToken).ConfigureAwait(false);
            _journal.RecordAborted(transactionId, NowMs());
            if (_options.AfterDecisionRecorded is { } hook)
            {
                await hook(transactionId, false).ConfigureAwait(false);
            }

            return DecisionAnswer.Acknowledged;
        }
        finally
        {
            stripe.Release();
        }
    }

    private long NowMs() => _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    private SemaphoreSlim Stripe(string transactionId)
    {
        if (!ParticipantJournal.IsValidTransactionId(transactionId))
        {
            throw new ArgumentException($"'{transactionId}' is not a valid transaction id.", nameof(transactionId));
        }

        return _stripes[(int)((uint)StringComparer.Ordinal.GetHashCode(transactionId) % LockStripes)];
    }
}
