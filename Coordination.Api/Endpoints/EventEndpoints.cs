using System.Globalization;
using System.Text.Json;
using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Coordination.Api.Endpoints;

/// <summary>Watches: long-poll and Server-Sent Events over the grains' bounded event history.</summary>
internal static class EventEndpoints
{
    /// <summary>Longest a long-poll may wait.</summary>
    public const int WaitMsMax = 60_000;

    /// <summary>Watch requests (long-polls and streams) served at once by one silo.</summary>
    public const int WatchersMax = 10_000;

    private static readonly TimeSpan StreamKeepAlive = TimeSpan.FromSeconds(15);

    /// <summary>How often a waiting watch checks that its silo still hears from a leader (<see cref="ICoordinationGateway.LeaderSilenceMax"/>).</summary>
    private static readonly TimeSpan LeaderCheckInterval = TimeSpan.FromSeconds(1);
    private static int s_watchers;

    public static int Watchers => Volatile.Read(ref s_watchers);

    public static RouteGroupBuilder MapEvents(this RouteGroupBuilder group)
    {
        group.MapGet("/", Poll).Produces<EventsResponse>();
        group.MapGet("/stream", Stream).Produces(200, contentType: "text/event-stream");
        return group;
    }

    private static bool TryFilter(string? kind, string? name, out EventFilter filter, out IResult? problem)
    {
        filter = EventFilter.All;
        problem = null;
        GrainKind? parsedKind = null;
        if (kind is not null && (parsedKind = WireNames.ParseKind(kind)) is null)
        {
            problem = Problems.Validation("kind", "kind is one of session, lock, election, membership, config, sequence.");
            return false;
        }

        if (name is not null && !GatewayCalls.ValidName(name))
        {
            problem = Problems.InvalidName(name);
            return false;
        }

        filter = new EventFilter(parsedKind, name);
        return true;
    }

    private static async Task<IResult> Poll(HttpContext http, ICoordinationGateway gateway, ulong? after, string? kind, string? name, int? waitMs)
    {
        if (!TryFilter(kind, name, out var filter, out var problem))
        {
            return problem!;
        }

        if (waitMs is < 0 or > WaitMsMax)
        {
            return Problems.Validation("waitMs", $"waitMs must be 0..{WaitMsMax}.");
        }

        using var watcher = Enter();
        if (watcher is null)
        {
            return Problems.Create(503, "overloaded", $"This silo already serves {WatchersMax} watchers (WatchersMax).");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        deadline.CancelAfter(waitMs ?? 0);
        using var grain = Subscribe(gateway, filter);
        var position = after ?? 0;
        IGrainEventSubscription? woken = null;
        while (true)
        {
            var (page, revision) = await GatewayCalls.EventsAfterAsync(gateway, filter, position, woken, http.RequestAborted);
            http.Response.Headers[GatewayCalls.RevisionHeader] = revision.ToString(CultureInfo.InvariantCulture);
            if (page.Events.Count == 0 && !page.Compacted && CutOff(gateway) is { } cutOff)
            {
                return cutOff;
            }

            if (page.Events.Count > 0 || page.Compacted || deadline.IsCancellationRequested)
            {
                return TypedResults.Ok(new EventsResponse(page.Compacted, page.ResumeAfter, [.. page.Events.Select(WireNames.Of)]));
            }

            position = page.ResumeAfter;
            try
            {
                if (!await WaitForChangeWhileLed(gateway, grain, position, onIdle: null, deadline.Token) && CutOff(gateway) is { } lost)
                {
                    return lost;
                }
            }
            catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested)
            {
                // The wait is over: answer with what there is (nothing), one more look below.
            }

            woken = grain;
        }
    }

    private static async Task Stream(HttpContext http, ICoordinationGateway gateway, IOptions<JsonOptions> json, ulong? after, string? kind, string? name)
    {
        if (!TryFilter(kind, name, out var filter, out var problem))
        {
            await problem!.ExecuteAsync(http);
            return;
        }

        using var watcher = Enter();
        if (watcher is null)
        {
            await Problems.Create(503, "overloaded", $"This silo already serves {WatchersMax} watchers (WatchersMax).").ExecuteAsync(http);
            return;
        }

        if (CutOff(gateway) is { } cutOff)
        {
            await cutOff.ExecuteAsync(http);
            return;
        }

        using var grain = Subscribe(gateway, filter);
        var position = after ?? 0;
        if (ulong.TryParse(http.Request.Headers["Last-Event-ID"], CultureInfo.InvariantCulture, out var lastEventId))
        {
            position = lastEventId;
        }

        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var aborted = http.RequestAborted;
        try
        {
            await http.Response.Body.FlushAsync(aborted);
            IGrainEventSubscription? woken = null;
            var lastWrite = TimeProvider.System.GetTimestamp();
            async Task KeepAliveIfDue()
            {
                if (TimeProvider.System.GetElapsedTime(lastWrite) >= StreamKeepAlive)
                {
                    // A comment line keeps proxies from closing an idle stream.
                    await http.Response.WriteAsync(": keep-alive\n\n", aborted);
                    await http.Response.Body.FlushAsync(aborted);
                    lastWrite = TimeProvider.System.GetTimestamp();
                }
            }

            while (!aborted.IsCancellationRequested)
            {
                var (page, _) = await GatewayCalls.EventsAfterAsync(gateway, filter, position, woken, aborted);

                if (page.Compacted)
                {
                    await http.Response.WriteAsync($"event: compacted\ndata: {{\"resumeAfter\":{page.ResumeAfter}}}\n\n", aborted);
                }

                var events = page.Events;
                for (var i = 0; i < events.Count; i++)
                {
                    var e = events[i];
                    var data = JsonSerializer.Serialize(WireNames.Of(e), json.Value.SerializerOptions);
                    // Several events can share a revision, consecutive in a page that never splits one.
                    // Only the last of them carries the id: a client that reconnects with Last-Event-ID
                    // resumes after the revision, so it must have had all of the revision's events.
                    var lastOfRevision = i == events.Count - 1 || events[i + 1].Revision != e.Revision;
                    var id = lastOfRevision ? $"id: {e.Revision}\n" : "";
                    await http.Response.WriteAsync($"{id}event: change\ndata: {data}\n\n", aborted);
                }

                if (events.Count > 0 || page.Compacted)
                {
                    lastWrite = TimeProvider.System.GetTimestamp();
                }

                // Also on a busy silo whose entries wake a broad stream without matching it.
                await KeepAliveIfDue();
                await http.Response.Body.FlushAsync(aborted);

                position = page.ResumeAfter;
                if (page.More)
                {
                    // A page cut at its size limit: the rest of the backlog is in the history only
                    // (the subscription keeps just what was applied after it began). Read on first.
                    woken = null;
                    continue;
                }

                if (!await WaitForChangeWhileLed(gateway, grain, position, KeepAliveIfDue, aborted))
                {
                    // Ends the stream: a client reconnects, to another silo if this one stays cut off.
                    await http.Response.WriteAsync($"event: no-leader\ndata: {{\"resumeAfter\":{position}}}\n\n", aborted);
                    await http.Response.Body.FlushAsync(aborted);
                    return;
                }

                woken = grain;
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The watcher went away.
        }
    }

    /// <summary>
    /// <c>503 no-leader</c> when this silo has not heard from a leader for <see cref="ICoordinationGateway.LeaderSilenceMax"/>:
    /// cut off, its history may be behind the cluster's for as long as that lasts, so an empty page
    /// from it says nothing, and its watchers should watch elsewhere. Null while it hears from one.
    /// </summary>
    private static IResult? CutOff(ICoordinationGateway gateway) =>
        gateway.SinceLeaderContact is { } since && since < gateway.LeaderSilenceMax
            ? null
            : Problems.Create(503, "no-leader", $"This silo has not heard from a leader for {gateway.LeaderSilenceMax.TotalMilliseconds:0} ms (LeaderSilenceMax): its events may be behind the cluster's. Watch from another silo, resuming from your last revision.");

    /// <summary>
    /// Waits for a change after <paramref name="position"/>, checking every <see cref="LeaderCheckInterval"/>
    /// that this silo still hears from a leader (from memory: no read) and running <paramref name="onIdle"/>
    /// then. True on a change; false once the silo is cut off; throws when <paramref name="cancellation"/> ends the wait.
    /// </summary>
    private static async Task<bool> WaitForChangeWhileLed(ICoordinationGateway gateway, IGrainEventSubscription? grain, ulong position, Func<Task>? onIdle, CancellationToken cancellation)
    {
        for (var check = 0; check < int.MaxValue; check++)
        {
            using var interval = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            interval.CancelAfter(LeaderCheckInterval);
            try
            {
                await WaitForChange(gateway, grain, position, interval.Token);
                return true;
            }
            catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
            {
                if (CutOff(gateway) is not null)
                {
                    return false;
                }

                if (onIdle is not null)
                {
                    await onIdle();
                }
            }
        }

        return true;
    }

    /// <summary>A watch of one named grain wakes on that grain's events only; a broader watch on any new entry.</summary>
    private static IGrainEventSubscription? Subscribe(ICoordinationGateway gateway, EventFilter filter) =>
        filter is { Kind: { } kind, Name: { } name } ? gateway.Subscribe(kind, name) : null;

    private static Task WaitForChange(ICoordinationGateway gateway, IGrainEventSubscription? grain, ulong position, CancellationToken cancellation) =>
        grain is null ? gateway.WaitForRevisionAsync(position, cancellation) : grain.NextAsync(cancellation);

    private static WatcherSlot? Enter()
    {
        if (Interlocked.Increment(ref s_watchers) > WatchersMax)
        {
            Interlocked.Decrement(ref s_watchers);
            return null;
        }

        return new WatcherSlot();
    }

    private sealed class WatcherSlot : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref s_watchers);
    }
}
