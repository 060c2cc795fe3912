using Coordination.Client.Http;
using Coordination.Client.Transactions;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>The longest wait one inspect request may ask for (the silo's <c>waitMs</c> limit); longer waits are cut to it.</summary>
    public static readonly TimeSpan DistributedTransactionWaitMax = TimeSpan.FromMilliseconds(60_000);

    /// <summary>
    /// Begins a distributed (two-phase-commit) transaction over external participants
    /// (<c>POST /v1/distributed-transactions</c>, answered 202 as soon as it is recorded). The coordinator then
    /// asks every participant to prepare and decides; follow it with <see cref="WaitForDistributedTransactionAsync"/>.
    /// With <see cref="DistributedTransactionRequest.Id"/> set, repeating the same begin is harmless.
    /// </summary>
    /// <exception cref="CoordinationException"><c>already-exists</c> when the id exists with different content; <c>validation</c> for a bad request.</exception>
    public Task<DistributedTransactionView> BeginDistributedTransactionAsync(DistributedTransactionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Participants.Count == 0)
        {
            throw new ArgumentException("A distributed transaction needs at least one participant.", nameof(request));
        }

        var body = new BeginDistributedTransactionRequest(
            request.Id,
            [.. request.Participants.Select(p => new DistributedParticipantWire(p.Name, p.Endpoint.AbsoluteUri, p.Work))],
            request.PrepareTimeout is { } timeout ? (long)Math.Ceiling(timeout.TotalMilliseconds) : null);
        return WriteAsync(
            HttpMethod.Post, "v1/distributed-transactions", body,
            CoordinationJsonContext.Default.BeginDistributedTransactionRequest, CoordinationJsonContext.Default.DistributedTransactionView, cancellationToken);
    }

    /// <summary>
    /// A distributed transaction, or null when the coordinator does not know it. With <paramref name="wait"/> (cut to
    /// <see cref="DistributedTransactionWaitMax"/>), the coordinator holds the request until the transaction reaches
    /// <paramref name="until"/> or the wait passes (a long poll).
    /// </summary>
    public async Task<DistributedTransactionView?> GetDistributedTransactionAsync(
        string id, TimeSpan? wait = null, DistributedTransactionMilestone until = DistributedTransactionMilestone.Decided, CancellationToken cancellationToken = default)
    {
        var waitFor = wait is { } w ? TimeSpan.FromMilliseconds(Math.Clamp((long)w.TotalMilliseconds, 0, (long)DistributedTransactionWaitMax.TotalMilliseconds)) : (TimeSpan?)null;
        var path = Query(
            $"v1/distributed-transactions/{CoordinationRequest.Segment(id)}",
            ("waitMs", waitFor is { } f ? (long?)f.TotalMilliseconds : null),
            ("until", waitFor is not null && until == DistributedTransactionMilestone.Finished ? "finished" : null));
        try
        {
            return await GetAsync(path, CoordinationJsonContext.Default.DistributedTransactionView, cancellationToken, Options.AttemptTimeout + (waitFor ?? TimeSpan.Zero)).ConfigureAwait(false);
        }
        catch (CoordinationException e) when (e.Error == CoordinationError.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Long-polls until the transaction reaches <paramref name="until"/> or <paramref name="timeout"/> passes
    /// (unbounded when null; cancel instead), and returns the last view seen: check <see cref="DistributedTransactionView.State"/>.
    /// Each poll waits at most <see cref="CoordinationClientOptions.WatchPollWait"/>.
    /// </summary>
    /// <exception cref="CoordinationException"><c>not-found</c> when the coordinator does not know the transaction.</exception>
    public async Task<DistributedTransactionView> WaitForDistributedTransactionAsync(
        string id, DistributedTransactionMilestone until = DistributedTransactionMilestone.Decided, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var time = Options.TimeProvider;
        var started = time.GetTimestamp();
        while (true)
        {
            var remaining = timeout is { } t ? t - time.GetElapsedTime(started) : Options.WatchPollWait;
            var wait = remaining < Options.WatchPollWait ? (remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining) : Options.WatchPollWait;
            var polled = time.GetTimestamp();
            var view = await GetDistributedTransactionAsync(id, wait, until, cancellationToken).ConfigureAwait(false)
                ?? throw new CoordinationException("not-found", 404, $"Distributed transaction '{id}' does not exist.");
            var reached = until == DistributedTransactionMilestone.Decided ? view.IsDecided : view.IsFinished;
            if (reached || (timeout is { } limit && time.GetElapsedTime(started) >= limit))
            {
                return view;
            }

            if (time.GetElapsedTime(polled) < wait / 2)
            {
                // The coordinator answered early without the milestone (decided, but waiting for finished; or it
                // does not hold long polls): pause instead of asking again at once.
                await Task.Delay(Options.WatchRetryDelay, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The decision of a transaction (<c>GET .../outcome</c>): what an in-doubt participant asks. An id the
    /// coordinator does not know answers <see cref="TransactionOutcome.Abort"/> (presumed abort).
    /// </summary>
    public async Task<TransactionOutcome> GetDistributedTransactionOutcomeAsync(string id, CancellationToken cancellationToken = default)
    {
        var answer = await GetAsync($"v1/distributed-transactions/{CoordinationRequest.Segment(id)}/outcome", CoordinationJsonContext.Default.DistributedTransactionOutcome, cancellationToken).ConfigureAwait(false);
        return answer.Outcome;
    }

    /// <summary>
    /// Distributed transactions in id order, optionally only those in <paramref name="state"/>, after id
    /// <paramref name="after"/> (to page: pass the last id of the previous page), at most <paramref name="limit"/>
    /// (the coordinator's default, 100, when null; at most 1,000).
    /// </summary>
    public async Task<IReadOnlyList<DistributedTransactionView>> ListDistributedTransactionsAsync(
        DistributedTransactionState? state = null, int? limit = null, string? after = null, CancellationToken cancellationToken = default)
    {
        if (limit is { } l)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(l);
        }

        var path = Query("v1/distributed-transactions", ("state", state is { } s ? StateName(s) : null), ("after", after), ("limit", limit));
        var list = await GetAsync(path, CoordinationJsonContext.Default.DistributedTransactionList, cancellationToken).ConfigureAwait(false);
        return list.Transactions ?? [];
    }

    /// <summary>Decides abort for a transaction still preparing (or already aborting), with an optional <paramref name="reason"/>; returns the view.</summary>
    /// <exception cref="CoordinationException"><c>already-decided</c> (<see cref="CoordinationError.AlreadyDecided"/>) when commit was decided first.</exception>
    public Task<DistributedTransactionView> AbortDistributedTransactionAsync(string id, string? reason = null, CancellationToken cancellationToken = default) =>
        WriteAsync(
            HttpMethod.Post, $"v1/distributed-transactions/{CoordinationRequest.Segment(id)}/abort", new AbortDistributedTransactionRequest(reason),
            CoordinationJsonContext.Default.AbortDistributedTransactionRequest, CoordinationJsonContext.Default.DistributedTransactionView, cancellationToken);

    /// <summary>The wire name of a state (<c>preparing</c>, ...), as the list filter takes it.</summary>
    public static string StateName(DistributedTransactionState state) => state switch
    {
        DistributedTransactionState.Preparing => "preparing",
        DistributedTransactionState.Committing => "committing",
        DistributedTransactionState.Aborting => "aborting",
        DistributedTransactionState.Committed => "committed",
        DistributedTransactionState.Aborted => "aborted",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };
}
