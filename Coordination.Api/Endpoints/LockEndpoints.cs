using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

internal static class LockEndpoints
{
    /// <summary>Extra time a blocking acquire waits beyond its own wait, for the expiry command to commit.</summary>
    private static readonly TimeSpan WaitGrace = TimeSpan.FromSeconds(5);

    /// <summary>Event pages a blocking acquire reads at most (the wait's timeout ends it first in practice).</summary>
    private const int WaitRoundsMax = 100_000;

    public static RouteGroupBuilder MapLocks(this RouteGroupBuilder group)
    {
        group.MapPost("/{name}/acquire", Acquire).Produces<LockGrantResponse>().ProducesProblem(409);
        group.MapPost("/{name}/release", Release).Produces<LockReleaseResponse>().ProducesProblem(409);
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

        ulong queuedAt = 0;
        var immediate = await GatewayCalls.Execute(http, gateway, new AcquireLock(name, body.SessionId, mode, body.Permits, body.WaitMs, body.MaxHoldMs), r =>
        {
            if (r is LockGranted granted)
            {
                return TypedResults.Ok(new LockGrantResponse(name, granted.Token));
            }

            queuedAt = ulong.Parse(http.Response.Headers[GatewayCalls.RevisionHeader]!, System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Accepted((string?)null);
        });
        if (queuedAt == 0)
        {
            return immediate;
        }

        // Queued: long-poll the lock's events until this session is granted or its wait ends.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromMilliseconds(body.WaitMs) + WaitGrace);
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
                foreach (var e in page.Events.Where(e => e.SessionId == body.SessionId))
                {
                    switch (e.Type)
                    {
                        case EventType.LockGranted:
                            http.Response.Headers[GatewayCalls.RevisionHeader] = e.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
                            return TypedResults.Ok(new LockGrantResponse(name, e.Token));
                        case EventType.LockWaitEnded:
                            return Problems.Create(409, "lock-wait-timeout", $"Lock '{name}' was not granted within {body.WaitMs} ms.");
                        case EventType.SessionExpired or EventType.SessionRevoked:
                            return Problems.Create(410, "session-expired", $"Session {body.SessionId} ended while waiting for lock '{name}'.");
                    }
                }

                if (page.Compacted)
                {
                    // This waiter sleeps until its own events, so on a busy silo the bounded history
                    // can move past its position: decide from the lock's state instead.
                    var (info, _) = await gateway.ReadAsync(sm => sm.GetLock(name), ReadConsistency.Stale, timeout.Token);
                    if (info.Holders.FirstOrDefault(h => h.SessionId == body.SessionId) is { } holder)
                    {
                        return TypedResults.Ok(new LockGrantResponse(name, holder.Token));
                    }

                    if (!info.Waiters.Any(w => w.SessionId == body.SessionId))
                    {
                        return Problems.Create(409, "lock-wait-timeout", $"Lock '{name}' was not granted within {body.WaitMs} ms (or the session ended).");
                    }
                }

                after = page.ResumeAfter;
                await mine.NextAsync(timeout.Token);
                woken = mine;
            }
        }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested)
        {
        }

        return Problems.Create(504, "timeout", $"No grant or end of wait was seen for lock '{name}'; the session may still be queued (inspect the lock).");
    }

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
}
