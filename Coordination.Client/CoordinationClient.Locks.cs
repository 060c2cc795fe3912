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
    /// </summary>
    /// <exception cref="CoordinationException"><c>lock-wait-timeout</c> when the wait ended without a grant.</exception>
    internal async Task<long?> AcquireLockAsync(long sessionId, string name, LockMode mode, int permits, TimeSpan wait, TimeSpan? maxHold, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        var body = new AcquireLockRequest(
            sessionId, ModeText(mode), mode == LockMode.Semaphore ? permits : null, (long)wait.TotalMilliseconds, (long)(maxHold ?? TimeSpan.Zero).TotalMilliseconds);
        try
        {
            var granted = await WriteAsync(
                HttpMethod.Post, $"v1/locks/{CoordinationRequest.Segment(name)}/acquire", body,
                CoordinationJsonContext.Default.AcquireLockRequest, CoordinationJsonContext.Default.LockGranted, cancellationToken,
                attemptTimeout: Options.AttemptTimeout + wait).ConfigureAwait(false);
            return granted.Token;
        }
        catch (CoordinationException e) when (e.Error == CoordinationError.LockBusy && wait == TimeSpan.Zero)
        {
            return null;
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
