using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

internal static class LockEndpoints
{
    /// <summary>Extra time a blocking acquire waits beyond its own wait, for the expiry command to commit.</summary>
    private static readonly TimeSpan WaitGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long the abandon of a wait nobody will collect may take to commit (the caller may be gone: nothing else bounds it).</summary>
    private static readonly TimeSpan AbandonTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Event pages a blocking acquire reads at most (the wait's timeout ends it first in practice).</summary>
    private const int WaitRoundsMax = 100_000;

    public static RouteGroupBuilder MapLocks(this RouteGroupBuilder group)
    {
        group.MapPost("/{name}/acquire", Acquire).Produces<LockGrantResponse>().ProducesProblem(409);
        group.MapPost("/{name}/release", Release).Produces<LockReleaseResponse>().ProducesProblem(409);
        group.MapPost("/{name}/abandon", Abandon).Produces<LockAbandonResponse>().ProducesProblem(400).ProducesProblem(409);
        group.MapGet("/{name}", Inspect).Produces<LockInfoResponse>();
        return group;
    }

    private static async Task<IResult> Acquire(HttpContext http, ICoordinationGateway gateway, string name, AcquireLockRequest body)
    {
        if (!GatewayCalls.ValidName(name))
        {
            return Problems.InvalidName(name);
        }

        if (WireNames.ParseMode(body.Mode) is not { } mode)
        {
            return Problems.Validation("mode", "mode is 'exclusive', 'shared' or 'semaphore'.");
        }

        if (body.WaitMs is < 0 or > Limits.LockWaitMsMax)
        {
            return Problems.Validation("waitMs", $"waitMs must be 0..{Limits.LockWaitMsMax}.");
        }

        if (body.ReadConfig is { } guarded && !GatewayCalls.ValidName(guarded))
        {
            return Problems.Validation("readConfig", $"readConfig is a config document's name: 1-{Limits.NameLengthMax} characters from A-Z a-z 0-9 . _ - / :.");
        }

        ulong queuedAt = 0, grantedToken = 0;
        // The result is awaited even when the caller goes away meanwhile (the silo's request timeout
        // bounds it), so a wait nobody will collect is known and abandoned below. An immediate answer
        // is an ordinary write's: a caller that lost it retries under its idempotency key and gets the
        // same grant, so it is not abandoned here (that would release the grant the retry is handed).
        // permits counts only for a semaphore (docs/api.md); the grain wants 0 for the other modes.
        var permits = mode == LockMode.Semaphore ? body.Permits : 0;
        var immediate = await GatewayCalls.Execute(http, gateway, new AcquireLock(name, body.SessionId, mode, permits, body.WaitMs, body.MaxHoldMs), r =>
        {
            if (r is LockGranted granted)
            {
                grantedToken = granted.Token;
                return TypedResults.Empty;
            }

            queuedAt = ulong.Parse(http.Response.Headers[GatewayCalls.RevisionHeader]!, System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Accepted((string?)null);
        }, CancellationToken.None);
        if (grantedToken != 0)
        {
            return await Granted(gateway, name, grantedToken, body.ReadConfig);
        }

        if (queuedAt == 0)
        {
            return immediate;
        }

        if (http.RequestAborted.IsCancellationRequested)
        {
            await TryAbandonAsync(gateway, name, body.SessionId);
            return Results.Empty;
        }

        // Queued: long-poll the lock's events until this session is granted or its wait ends.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(body.WaitMs) + WaitGrace);

        // The wait ended without a grant: its deadline, or its session's end (which removes the
        // session's waits in the same step, and is not a lock event), told apart by the session.
        async Task<IResult> EndedWithoutGrant()
        {
            var (session, _) = await gateway.ReadAsync(sm => sm.GetSession(body.SessionId), ReadConsistency.Stale, timeout.Token);
            return session is null
                ? Problems.Create(410, "session-expired", $"Session {body.SessionId} ended while waiting for lock '{name}'.")
                : Problems.Create(409, "lock-wait-timeout", $"Lock '{name}' was not granted within {body.WaitMs} ms.");
        }

        var filter = new EventFilter(GrainKind.Lock, name);
        var after = queuedAt;
        // Woken only by this session's events on this lock (its grant, the end of its wait, its
        // session's end), not by every entry: the other waiters of a busy lock stay asleep.
        using var mine = gateway.Subscribe(GrainKind.Lock, name, body.SessionId);
        try
        {
            IGrainEventSubscription? woken = null;
            for (var round = 0; round < WaitRoundsMax; round++)
            {
                var (page, _) = await GatewayCalls.EventsAfterAsync(gateway, filter, after, woken, timeout.Token);
                if (Outcome(http, page, name, body) is { } outcome)
                {
                    if (ReferenceEquals(outcome, WaitEnded))
                    {
                        return await EndedWithoutGrant();
                    }

                    if (outcome is Granting grant)
                    {
                        if (http.RequestAborted.IsCancellationRequested)
                        {
                            // Granted, but its caller is gone: nobody would collect the grant.
                            await TryAbandonAsync(gateway, name, body.SessionId);
                            return Results.Empty;
                        }

                        return await Granted(gateway, name, grant.Token, body.ReadConfig);
                    }

                    return outcome;
                }

                if (page.Compacted)
                {
                    // This waiter sleeps until its own events, so on a busy silo the bounded history
                    // can move past its position: decide from the lock's state instead.
                    var (info, _) = await gateway.ReadAsync(sm => sm.GetLock(name), ReadConsistency.Stale, timeout.Token);
                    if (info.Holders.FirstOrDefault(h => h.SessionId == body.SessionId) is { } holder)
                    {
                        return await Granted(gateway, name, holder.Token, body.ReadConfig);
                    }

                    if (!info.Waiters.Any(w => w.SessionId == body.SessionId))
                    {
                        return await EndedWithoutGrant();
                    }
                }

                after = page.ResumeAfter;
                if (page.More)
                {
                    // The lock's history holds more than a page after this position: read it before
                    // waiting (the subscription keeps only what was applied after it began).
                    woken = null;
                    continue;
                }

                await mine.NextAsync(timeout.Token);
                woken = mine;
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            // This wait's own timeout, or the caller went away: settled below.
        }
        catch (Exception e) when (e is NoLeaderException or OverloadedException)
        {
            // A read of the wait failed (this silo lost the leader): nobody will collect a grant
            // either. The acquire was applied (queued), so the answer is "outcome unknown", never
            // no-leader, which promises nothing was applied and invites a retry under the same key.
            await TryAbandonAsync(gateway, name, body.SessionId);
            return Problems.Create(504, "timeout", $"The wait for lock '{name}' was cut off ({e.Message}); it was queued and then abandoned, unless the abandon did not commit (inspect the lock).");
        }

        // The wait ended without a grant reaching the caller. Abandon it: a grant that raced this end
        // (or that would come before the wait's deadline) is released, not left to a session whose
        // keep-alive holds the lock for nobody.
        var (abandoned, revision, heldBack) = await TryAbandonAsync(gateway, name, body.SessionId);
        if (http.RequestAborted.IsCancellationRequested)
        {
            return Results.Empty;
        }

        if (heldBack)
        {
            // A rolling upgrade holds the abandon back (Coordination:CommandLevel): the wait ends at its deadline.
            return Problems.Create(409, "lock-wait-timeout", $"Lock '{name}' was not granted within {body.WaitMs} ms.");
        }

        if (abandoned is not null)
        {
            http.Response.Headers[GatewayCalls.RevisionHeader] = revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Problems.Create(409, "lock-wait-timeout", abandoned.Outcome == LockAbandonOutcome.HoldReleased
                ? $"Lock '{name}' was granted as the wait ended, too late to answer; the grant was released."
                : $"Lock '{name}' was not granted within {body.WaitMs} ms.");
        }

        return Problems.Create(504, "timeout", $"No grant or end of wait was seen for lock '{name}', and abandoning the wait did not commit; the session may still be queued (inspect the lock, or abandon it).");
    }

    /// <summary>
    /// This session's answer from a page of the lock's events, or null while it still waits. A grant
    /// counts only if the page does not end it too: a retry of the request (same idempotency key) can
    /// find the grant already abandoned by the attempt whose caller went away.
    /// </summary>
    /// <summary><see cref="Outcome"/>: the wait ended without a grant (its deadline, or its session's end: the caller tells which).</summary>
    private static readonly IResult WaitEnded = new Marker();

    private static IResult? Outcome(HttpContext http, EventsPage page, string name, AcquireLockRequest body)
    {
        GrainEvent? grant = null;
        foreach (var e in page.Events.Where(e => e.SessionId == body.SessionId))
        {
            switch (e.Type)
            {
                case EventType.LockGranted:
                    grant = e;
                    break;
                case EventType.LockReleased or EventType.LockHoldRevoked when grant is not null:
                    return Problems.Create(409, "lock-wait-timeout", $"Lock '{name}' was granted, but the grant ended (abandoned, released or revoked) before this answer.");
                case EventType.LockWaitEnded:
                    return WaitEnded;
            }
        }

        if (grant is null)
        {
            return null;
        }

        http.Response.Headers[GatewayCalls.RevisionHeader] = grant.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new Granting(grant.Token);
    }

    /// <summary>
    /// A grant's answer, with the document named in <c>readConfig</c>. Read on this silo, which has
    /// applied the grant already (it answered the acquire or saw the grant event), so the read holds
    /// every write the earlier holders made before they released: what a read at the grant's revision
    /// gives, without the holder's round trip to ask for it. A document that does not exist is
    /// answered with version 0. The grant stands whatever becomes of the read: one that fails (an
    /// overloaded silo) leaves <c>config</c> out, as a silo of an older build does, and the holder
    /// reads the document itself.
    /// </summary>
    private static async Task<IResult> Granted(ICoordinationGateway gateway, string name, ulong token, string? readConfig)
    {
        if (readConfig is null)
        {
            return TypedResults.Ok(new LockGrantResponse(name, token));
        }

        try
        {
            var (version, meta) = await gateway.ReadAsync(sm => sm.GetConfig(readConfig), ReadConsistency.Stale, CancellationToken.None);
            var config = version is null ? new ConfigResponse(readConfig, 0, meta.AppliedIndex, 0, null) : ConfigEndpoints.Response(readConfig, version);
            return TypedResults.Ok(new LockGrantResponse(name, token, config));
        }
        catch (Exception e) when (e is OverloadedException or NoLeaderException or TimeoutException)
        {
            return TypedResults.Ok(new LockGrantResponse(name, token));
        }
    }

    /// <summary>
    /// Proposes <see cref="AbandonLock"/> for a wait or grant nobody will collect, bounded by
    /// <see cref="AbandonTimeout"/> and never throwing: null when it did not commit (no leader,
    /// overloaded, timed out), and the wait then ends at its deadline as before.
    /// </summary>
    private static async Task<(LockAbandoned? Abandoned, ulong Revision, bool HeldBack)> TryAbandonAsync(ICoordinationGateway gateway, string name, ulong sessionId)
    {
        // Not the request's token: the caller may be gone already, and that is when this matters most.
        using var bound = new CancellationTokenSource(AbandonTimeout);
        try
        {
            var (result, revision) = await gateway.ExecuteAsync(new AbandonLock(name, sessionId), null, bound.Token);
            return (result as LockAbandoned, revision, result is Rejected { Code: ErrorCode.HeldBack });
        }
        catch (Exception e) when (e is NoLeaderException or OverloadedException or CommitTimeoutException or OperationCanceledException)
        {
            return (null, 0, false);
        }
    }

    private static Task<IResult> Abandon(HttpContext http, ICoordinationGateway gateway, string name, AbandonLockRequest body) =>
        !GatewayCalls.ValidName(name) ? Task.FromResult<IResult>(Problems.InvalidName(name))
        : body.SessionId == 0 ? Task.FromResult<IResult>(Problems.Validation("sessionId", "sessionId is required: the session that gives up on the lock."))
        : GatewayCalls.Execute(http, gateway, new AbandonLock(name, body.SessionId), r =>
        {
            var abandoned = (LockAbandoned)r;
            var token = abandoned.Outcome == LockAbandonOutcome.HoldReleased ? abandoned.Token : (ulong?)null;
            return TypedResults.Ok(new LockAbandonResponse(name, WireNames.Of(abandoned.Outcome), token, abandoned.WaitersGranted));
        });

    private static Task<IResult> Release(HttpContext http, ICoordinationGateway gateway, string name, ReleaseLockRequest body) =>
        !GatewayCalls.ValidName(name) ? Task.FromResult<IResult>(Problems.InvalidName(name))
        : GatewayCalls.Execute(http, gateway, new ReleaseLock(name, body.SessionId, body.Token), r =>
        {
            var released = (LockReleased)r;
            return TypedResults.Ok(new LockReleaseResponse(name, released.Token, released.WaitersGranted));
        });

    private static Task<IResult> Inspect(HttpContext http, ICoordinationGateway gateway, string name, string? consistency) =>
        !GatewayCalls.ValidName(name) ? Task.FromResult<IResult>(Problems.InvalidName(name))
        : GatewayCalls.Read(http, gateway, consistency, sm => sm.GetLock(name), info => TypedResults.Ok(new LockInfoResponse(
            info.Name,
            info.Permits,
            [.. info.Holders.Select(h => new LockHolderDto(h.SessionId, WireNames.Of(h.Mode), h.Token, h.SinceMs, h.RevokeAtMs))],
            [.. info.Waiters.Select(w => new LockWaiterDto(w.SessionId, WireNames.Of(w.Mode), w.QueuedRevision, w.QueuedAtMs, w.DeadlineMs))])));

    /// <summary><see cref="Outcome"/>: granted with <paramref name="Token"/>; answered by <see cref="Granted"/>.</summary>
    private sealed record Granting(ulong Token) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext) => throw new InvalidOperationException("A grant is answered by Granted.");
    }

    /// <summary>A result that is never written: <see cref="WaitEnded"/> only says what happened.</summary>
    private sealed class Marker : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext) => throw new InvalidOperationException("A marker result is never written.");
    }
}
