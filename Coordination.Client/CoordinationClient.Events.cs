using System.Runtime.CompilerServices;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>
    /// One events long-poll (<c>GET /v1/events</c>): answers as soon as there is a matching event after
    /// <paramref name="after"/>, or with an empty page after <paramref name="wait"/>.
    /// </summary>
    public Task<EventPage> GetEventsAsync(long after, string? kind, string? name, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(after);
        var path = Query("v1/events", ("after", after), ("kind", kind), ("name", name), ("waitMs", (long)wait.TotalMilliseconds));
        return GetAsync(path, CoordinationJsonContext.Default.EventPage, cancellationToken, Options.AttemptTimeout + wait);
    }

    /// <summary>
    /// Every event after <paramref name="after"/> that matches <paramref name="kind"/> and <paramref name="name"/>, in
    /// revision order, each once, until cancelled. Connection failures are retried from the last yielded
    /// revision; a compacted history ends the enumeration with <see cref="CoordinationException"/>
    /// (code <c>compacted</c>) because the events in between are gone. The typed watches resync instead.
    /// </summary>
    public async IAsyncEnumerable<CoordinationEvent> WatchEventsAsync(long after, string? kind = null, string? name = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var cursor = after;
        while (true)
        {
            var page = await NextPageAsync(cursor, kind, name, cancellationToken).ConfigureAwait(false);
            if (page.Compacted)
            {
                throw new CoordinationException("compacted", 0, $"Events after revision {cursor} are no longer kept; resume after {page.ResumeAfter}.") { Revision = page.ResumeAfter };
            }

            foreach (var e in NewEvents(page, ref cursor))
            {
                yield return e;
            }
        }
    }

    /// <summary>
    /// The shape of every typed watch over one grain: start from <paramref name="afterRevision"/>, or from a
    /// fresh <paramref name="read"/> of the state (yielded through <paramref name="resync"/>); then yield each
    /// event once, in revision order, and when the history no longer reaches back, read the state again and
    /// resume after whichever is later, the read or the point the silo names.
    /// </summary>
    internal async IAsyncEnumerable<T> WatchWithResyncAsync<TState, T>(
        string kind,
        string name,
        long? afterRevision,
        Func<CancellationToken, Task<(TState State, long Revision)>> read,
        Func<TState, long, T> resync,
        Func<CoordinationEvent, T> change,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long cursor;
        if (afterRevision is { } after)
        {
            cursor = after;
        }
        else
        {
            var (state, revision) = await read(cancellationToken).ConfigureAwait(false);
            cursor = revision;
            yield return resync(state, revision);
        }

        while (true)
        {
            var page = await NextPageAsync(cursor, kind, name, cancellationToken).ConfigureAwait(false);
            if (page.Compacted)
            {
                var (state, revision) = await read(cancellationToken).ConfigureAwait(false);
                // The state reflects every event up to its revision: resuming after it skips nothing.
                cursor = Math.Max(page.ResumeAfter, revision);
                yield return resync(state, cursor);
                continue;
            }

            foreach (var e in NewEvents(page, ref cursor))
            {
                yield return change(e);
            }
        }
    }

    /// <summary>
    /// The next page of events after <paramref name="after"/>, however long the cluster is unreachable:
    /// the transport retries each poll; when it gives up, this waits <see cref="CoordinationClientOptions.WatchRetryDelay"/>
    /// and polls again from the same revision, so a watcher never skips an event.
    /// </summary>
    internal async Task<EventPage> NextPageAsync(long after, string? kind, string? name, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await GetEventsAsync(after, kind, name, Options.WatchPollWait, cancellationToken).ConfigureAwait(false);
            }
            catch (CoordinationException e) when (e.IsTransient)
            {
                await Task.Delay(Options.WatchRetryDelay, Options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The events of a (not compacted) page that come after <paramref name="cursor"/>, and the cursor moved
    /// to where the next poll resumes. Events at or before the cursor are dropped: a retried poll whose
    /// first answer was lost must not yield an event twice. Several events may share a revision (one entry
    /// that releases and grants a lock); a page never splits a revision, so all of them are kept.
    /// </summary>
    internal static List<CoordinationEvent> NewEvents(EventPage page, ref long cursor)
    {
        var fresh = new List<CoordinationEvent>(page.Events.Count);
        var after = cursor;
        var last = cursor;
        // OrderBy is stable: events of one revision keep the order the silo applied them in.
        foreach (var e in page.Events.OrderBy(e => e.Revision))
        {
            // Compare with where the page started, not with the previous event, so that a second
            // event of the same revision is not taken for a replay.
            if (e.Revision > after)
            {
                fresh.Add(e);
                last = Math.Max(last, e.Revision);
            }
        }

        cursor = Math.Max(last, page.ResumeAfter);
        return fresh;
    }
}
