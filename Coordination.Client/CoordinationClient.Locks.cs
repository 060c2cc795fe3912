using Coordination.Client.Http;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>A lock's holders and waiters (<c>GET /v1/locks/{name}</c>).</summary>
    public Task<LockInfo> InspectLockAsync(string name, CancellationToken cancellationToken = default) =>
        GetAsync($"v1/locks/{CoordinationRequest.Segment(name)}", CoordinationJsonContext.Default.LockInfo, cancellationToken);

    /// <summary>
    /// Acquires a lock for <paramref name="sessionId"/>: waits up to <paramref name="wait"/> (a long-poll;
    /// zero tries once). Returns the fencing token; null when <paramref name="wait"/> is zero and the lock is busy.
    /// When it fails or is cancelled after the request may have reached a silo, it abandons the lock for the
    /// session (<see cref="AbandonLockAsync"/>, bounded, best effort) before rethrowing: a wait left queued, or a
    /// grant nobody collected, would otherwise hold the lock for as long as the session lives.
    /// </summary>
    /// <exception cref="CoordinationException"><c>lock-wait-timeout</c> when the wait ended without a grant.</exception>
    /// <summary>
    /// Rounded up: the silo counts whole milliseconds, and 0 means "do not wait" for a wait and "no
    /// limit" for a maximum hold, so a positive span under a millisecond must not become 0.
    /// </summary>
    private static long WholeMilliseconds(TimeSpan span) => (long)Math.Ceiling(span.TotalMilliseconds);

    internal async Task<LockGranted?> AcquireLockAsync(long sessionId, string name, LockMode mode, int permits, TimeSpan wait, TimeSpan? maxHold, string? readConfig, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();
        var body = new AcquireLockRequest(
            sessionId, ModeText(mode), mode == LockMode.Semaphore ? permits : null, WholeMilliseconds(wait), WholeMilliseconds(maxHold ?? TimeSpan.Zero), readConfig);
        // A blocking attempt that reached a silo is not repeated: the silo abandons the wait of an attempt
        // that went away, so a retry could be handed the grant that abandon then releases.
        var request = CoordinationRequest.Write(
            HttpMethod.Post, $"v1/locks/{CoordinationRequest.Segment(name)}/acquire", body, CoordinationJsonContext.Default.AcquireLockRequest,
            Transport.NewIdempotencyKey(), attemptTimeout: Options.AttemptTimeout + wait, retryUnsentOnly: wait > TimeSpan.Zero);
        try
        {
            var (granted, _) = await Transport.SendAsync(request, CoordinationJsonContext.Default.LockGranted, cancellationToken).ConfigureAwait(false);
            return granted;
        }
        catch (CoordinationException e) when (e.Error == CoordinationError.LockBusy && wait == TimeSpan.Zero)
        {
            return null;
        }
        catch (Exception e) when (MayHaveQueuedOrGranted(e))
        {
            await TryAbandonLockAsync(sessionId, name).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Withdraws whatever <paramref name="sessionId"/> has on a lock (<c>POST /v1/locks/{name}/abandon</c>):
    /// its wait, or its hold (released without the token, as by a release); nothing there is a success too, so
    /// it is safe to repeat. For a caller that gave up on an acquire and does not know whether it was queued or
    /// granted. It acts on whatever the session has there: do not use it while the session holds the lock on purpose.
    /// </summary>
    public Task<LockAbandonment> AbandonLockAsync(long sessionId, string name, CancellationToken cancellationToken = default) =>
        WriteAsync(
            HttpMethod.Post, $"v1/locks/{CoordinationRequest.Segment(name)}/abandon", new AbandonLockRequest(sessionId),
            CoordinationJsonContext.Default.AbandonLockRequest, CoordinationJsonContext.Default.LockAbandonment, cancellationToken);

    /// <summary>
    /// Whether a failed acquire may have left a wait or a grant behind: anything but a silo's own 4xx answer
    /// (those refused the acquire, or say its wait ended, and the silo abandoned it then). A refusal such as
    /// <c>already-exists</c> must not abandon: the session's earlier hold is not this call's to end.
    /// </summary>
    internal static bool MayHaveQueuedOrGranted(Exception e) =>
        e is not CoordinationException { Status: >= 400 and < 500, Error: not CoordinationError.Unknown };

    /// <summary>
    /// <see cref="AbandonLockAsync"/> after a failed acquire: bounded by <see cref="CoordinationClientOptions.AttemptTimeout"/>
    /// and not by the caller's token (often the reason it failed); never throws for a cluster that cannot
    /// answer, since the wait then ends at its deadline at the latest.
    /// </summary>
    private async Task TryAbandonLockAsync(long sessionId, string name)
    {
        using var bound = new CancellationTokenSource(Options.AttemptTimeout, Options.TimeProvider);
        try
        {
            await AbandonLockAsync(sessionId, name, bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (CoordinationClient.BestEffortFailed(e, bound))
        {
            // Best effort: the failure of the acquire is what the caller hears about.
        }
    }

    /// <summary>Releases one grant of a lock (<c>POST /v1/locks/{name}/release</c>); returns how many waiters it granted.</summary>
    public async Task<int> ReleaseLockAsync(long sessionId, string name, long token, CancellationToken cancellationToken = default)
    {
        var released = await WriteAsync(
            HttpMethod.Post, $"v1/locks/{CoordinationRequest.Segment(name)}/release", new ReleaseLockRequest(sessionId, token),
            CoordinationJsonContext.Default.ReleaseLockRequest, CoordinationJsonContext.Default.LockReleased, cancellationToken).ConfigureAwait(false);
        return released.WaitersGranted;
    }

    /// <summary>The contract's spelling of a mode.</summary>
    public static string ModeText(LockMode mode) => mode switch
    {
        LockMode.Exclusive => "exclusive",
        LockMode.Shared => "shared",
        LockMode.Semaphore => "semaphore",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown lock mode."),
    };
}
