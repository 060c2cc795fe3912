using System.Runtime.CompilerServices;
using System.Text.Json;
using Coordination.Client.Http;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>An election's leader, token and candidates (<c>GET /v1/elections/{name}</c>).</summary>
    public Task<ElectionInfo> GetElectionAsync(string name, CancellationToken cancellationToken = default) =>
        GetAsync($"v1/elections/{CoordinationRequest.Segment(name)}", CoordinationJsonContext.Default.ElectionInfo, cancellationToken);

    /// <summary>
    /// Replaces the leader's value; the request must name the current leadership <paramref name="token"/>. The token is
    /// not a secret (observers see it), so this fences out a former leader, not a caller that reads the election.
    /// </summary>
    /// <exception cref="CoordinationException"><c>wrong-token</c> when <paramref name="token"/> is not the current leadership.</exception>
    public async Task ProclaimAsync(string name, long token, JsonElement? value, CancellationToken cancellationToken = default)
    {
        await WriteAsync(
            HttpMethod.Post, $"v1/elections/{CoordinationRequest.Segment(name)}/proclaim", new ProclaimRequest(token, value),
            CoordinationJsonContext.Default.ProclaimRequest, CoordinationJsonContext.Default.Proclaimed, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The leader of an election as it changes: first the current state, then the state after every batch
    /// of election events (<c>leader-elected</c>, <c>leader-proclaimed</c>, <c>no-leader</c>), including
    /// "no leader". An observation is yielded only when it differs from the previous one. Survives dropped
    /// connections and compacted history by re-reading the election.
    /// </summary>
    public async IAsyncEnumerable<ElectionObservation> ObserveElectionAsync(string name, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (current, cursor) = await ObserveOnceAsync(name, cancellationToken).ConfigureAwait(false);
        yield return current;
        while (true)
        {
            var page = await NextPageAsync(cursor, "election", name, cancellationToken).ConfigureAwait(false);
            var pageCursor = cursor;
            if (!page.Compacted && NewEvents(page, ref pageCursor).Count == 0)
            {
                cursor = pageCursor;
                continue;
            }

            var (next, revision) = await ObserveOnceAsync(name, cancellationToken).ConfigureAwait(false);
            // The re-read reflects every event up to its revision, so resuming after it skips nothing.
            cursor = Math.Max(Math.Max(pageCursor, page.ResumeAfter), revision);
            if (!SameLeadership(current, next))
            {
                current = next;
                yield return next;
            }
        }
    }

    private async Task<(ElectionObservation Observation, long Revision)> ObserveOnceAsync(string name, CancellationToken cancellationToken)
    {
        var (info, read) = await GetWithMetadataAsync($"v1/elections/{CoordinationRequest.Segment(name)}", CoordinationJsonContext.Default.ElectionInfo, cancellationToken).ConfigureAwait(false);
        var revision = read.Revision ?? 0;
        var observation = info.Leader is { } leader
            ? new ElectionObservation(name, revision, leader.SessionId, info.Token, leader.Value)
            : new ElectionObservation(name, revision, null, null, null);
        return (observation, revision);
    }

    private static bool SameLeadership(ElectionObservation a, ElectionObservation b) =>
        a.LeaderSessionId == b.LeaderSessionId && a.Token == b.Token && a.Value?.GetRawText() == b.Value?.GetRawText();
}
