using System.Text.Json;
using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

public sealed record DistributedParticipantRequest(string? Name, string? Endpoint, JsonElement? Work);

public sealed record BeginDistributedTransactionRequest(string? Id, IReadOnlyList<DistributedParticipantRequest>? Participants, long? PrepareTimeoutMs);

public sealed record AbortDistributedTransactionRequest(string? Reason);

public sealed record DistributedParticipantResponse(string Name, string Endpoint, JsonElement? Work, string Vote, bool Acknowledged);

public sealed record DistributedTransactionResponse(string Id, string State, string? Reason, long CreatedMs, long DeadlineMs, long? DecidedMs, IReadOnlyList<DistributedParticipantResponse> Participants);

public sealed record DistributedTransactionListResponse(IReadOnlyList<DistributedTransactionResponse> Transactions);

public sealed record DistributedOutcomeResponse(string Id, string Outcome);

/// <summary>
/// Two-phase-commit transactions with external participants (docs/transactions.md). The
/// endpoints only record and report; the leader's coordinator driver talks to participants.
/// </summary>
internal static class DistributedTransactionEndpoints
{
    /// <summary>Vote deadline when the request names none.</summary>
    public const long PrepareTimeoutMsDefault = 10_000;

    /// <summary>Longest a request may wait for a decision.</summary>
    public const int WaitMsMax = 60_000;

    /// <summary>Reads one waiting request makes at most.</summary>
    private const int WaitRoundsMax = 100_000;

    /// <summary>Transactions listed by one request.</summary>
    public const int ListLimitMax = 1_000;

    public static RouteGroupBuilder MapDistributedTransactions(this RouteGroupBuilder group)
    {
        group.MapPost("/", Begin).Produces<DistributedTransactionResponse>(202).ProducesProblem(409);
        group.MapGet("/", List).Produces<DistributedTransactionListResponse>();
        group.MapGet("/{id}", Inspect).Produces<DistributedTransactionResponse>().ProducesProblem(404);
        group.MapGet("/{id}/outcome", Outcome).Produces<DistributedOutcomeResponse>();
        group.MapPost("/{id}/abort", Abort).Produces<DistributedTransactionResponse>().ProducesProblem(409);
        return group;
    }

    private static Task<IResult> Begin(HttpContext http, ICoordinationGateway gateway, BeginDistributedTransactionRequest body)
    {
        var id = body.Id ?? IdFor(http.Request.Headers[GatewayCalls.IdempotencyHeader].ToString());
        if (!GatewayCalls.ValidName(id))
        {
            return Task.FromResult<IResult>(Problems.InvalidName(id));
        }

        var participants = new List<ParticipantSpec>();
        foreach (var (p, i) in (body.Participants ?? []).Select((p, i) => (p, i)))
        {
            if (p?.Name is null || p.Endpoint is null || GatewayCalls.JsonBytes(p.Work) is not { } work)
            {
                return Task.FromResult<IResult>(Problems.Validation($"participants[{i}]", "A participant is {name, endpoint, work}: endpoint is the base URL of its prepare, commit and abort endpoints, work any JSON value."));
            }

            // A participant service knows a transaction by its id alone (it prepares, commits or aborts
            // "transaction T"): two participants at one endpoint would be one vote and one commit for
            // two pieces of work, and the second would be answered from the first's record, unapplied.
            if (participants.FindIndex(q => SameEndpoint(q.Endpoint, p.Endpoint)) is var twin and >= 0)
            {
                return Task.FromResult<IResult>(Problems.Validation($"participants[{i}]", $"Participants '{participants[twin].Name}' and '{p.Name}' have the same endpoint: an endpoint takes part in a transaction once."));
            }

            participants.Add(new ParticipantSpec(p.Name, p.Endpoint, work));
        }

        var begin = new BeginDistributedTransaction(id, participants, body.PrepareTimeoutMs ?? PrepareTimeoutMsDefault);
        return GatewayCalls.Execute(http, gateway, begin, r => TypedResults.Accepted($"/v1/distributed-transactions/{id}", Describe(((DistributedTransactionResult)r).Transaction)));
    }

    /// <summary>The same endpoint spelt alike or apart in case, default port or trailing slash.</summary>
    private static bool SameEndpoint(string a, string b) =>
        Uri.TryCreate(a.TrimEnd('/'), UriKind.Absolute, out var x) && Uri.TryCreate(b.TrimEnd('/'), UriKind.Absolute, out var y)
            ? Uri.Compare(x, y, UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.SafeUnescaped, StringComparison.OrdinalIgnoreCase) == 0
            : string.Equals(a, b, StringComparison.Ordinal);

    /// <summary>
    /// The id of a transaction begun without one. With an idempotency key it is derived from the key,
    /// so a retry (after a timeout, or a leader change) is the same command and is answered from the
    /// first; a random id would make the retry a different request with the same key (422).
    /// </summary>
    internal static string IdFor(string idempotencyKey) => idempotencyKey.Length == 0
        ? Guid.NewGuid().ToString("N")
        : "k-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(idempotencyKey)).AsSpan(0, 16));

    private static async Task<IResult> Inspect(HttpContext http, ICoordinationGateway gateway, string id, int? waitMs, string? until)
    {
        if (!GatewayCalls.ValidName(id))
        {
            return Problems.InvalidName(id);
        }

        if (waitMs is < 0 or > WaitMsMax)
        {
            return Problems.Validation("waitMs", $"waitMs must be 0..{WaitMsMax}.");
        }

        if (until is not (null or "decided" or "finished"))
        {
            return Problems.Validation("until", "until is 'decided' (the default) or 'finished' (every participant acknowledged).");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        timeout.CancelAfter(waitMs ?? 0);
        for (var round = 1; ; round++)
        {
            var (view, meta) = await gateway.ReadAsync(sm => sm.GetDistributedTransaction(id), ReadConsistency.Linearizable, http.RequestAborted);
            if (view is null)
            {
                return Problems.Create(404, "not-found", $"Distributed transaction '{id}' does not exist (or finished long ago and was forgotten).");
            }

            // Each round waits for a new revision, so the rounds bound is only a backstop to the timeout.
            if ((until == "finished" ? view.Finished : view.Decided) || round >= WaitRoundsMax || timeout.IsCancellationRequested || !await WaitForChange(gateway, meta.AppliedIndex, timeout.Token))
            {
                http.Response.Headers[GatewayCalls.RevisionHeader] = meta.AppliedIndex.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return TypedResults.Ok(Describe(view));
            }
        }
    }

    /// <summary>True once a revision after <paramref name="revision"/> applied; false when the wait ended first.</summary>
    private static async Task<bool> WaitForChange(ICoordinationGateway gateway, ulong revision, CancellationToken cancellation)
    {
        try
        {
            await gateway.WaitForRevisionAsync(revision, cancellation);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>What a participant in doubt should do. An unknown transaction aborted: presumed abort.</summary>
    private static Task<IResult> Outcome(HttpContext http, ICoordinationGateway gateway, string id) =>
        !GatewayCalls.ValidName(id)
            ? Task.FromResult<IResult>(Problems.InvalidName(id))
            : GatewayCalls.Read(http, gateway, null, sm => sm.GetDistributedTransaction(id), view => TypedResults.Ok(new DistributedOutcomeResponse(id, view switch
            {
                null => "abort",
                { Decided: false } => "pending",
                { Commits: true } => "commit",
                _ => "abort",
            })));

    private static Task<IResult> List(HttpContext http, ICoordinationGateway gateway, string? state, string? after, int? limit, string? consistency)
    {
        DistributedTransactionState? filter = null;
        if (state is not null)
        {
            if (!Enum.TryParse<DistributedTransactionState>(state, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(state, out _))
            {
                return Task.FromResult<IResult>(Problems.Validation("state", "state is preparing, committing, aborting, committed or aborted."));
            }

            filter = parsed;
        }

        if (limit is < 1 or > ListLimitMax)
        {
            return Task.FromResult<IResult>(Problems.Validation("limit", $"limit must be 1..{ListLimitMax}."));
        }

        return GatewayCalls.Read(http, gateway, consistency, sm => sm.ListDistributedTransactions(filter, afterId: after ?? "", max: limit ?? 100), list =>
            TypedResults.Ok(new DistributedTransactionListResponse([.. list.Select(Describe)])));
    }

    private static async Task<IResult> Abort(HttpContext http, ICoordinationGateway gateway, string id)
    {
        if (!GatewayCalls.ValidName(id))
        {
            return Problems.InvalidName(id);
        }

        // The body is optional: an abort needs no reason.
        AbortDistributedTransactionRequest? body = null;
        // Not Content-Length / Transfer-Encoding: an HTTP/2 body may come with neither.
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true)
        {
            try
            {
                body = await http.Request.ReadFromJsonAsync<AbortDistributedTransactionRequest>(http.RequestAborted);
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                // InvalidOperationException: the body is not declared as JSON.
                return Problems.Create(400, "malformed-json", e.Message);
            }
        }

        return await GatewayCalls.Execute(http, gateway, new AbortDistributedTransaction(id, body?.Reason ?? ""), r => TypedResults.Ok(Describe(((DistributedTransactionResult)r).Transaction)));
    }

    public static DistributedTransactionResponse Describe(DistributedTransactionView t) => new(
        t.Id,
        WireName(t.State),
        t.Reason.Length == 0 ? null : t.Reason,
        t.CreatedMs,
        t.DeadlineMs,
        t.DecidedMs == 0 ? null : t.DecidedMs,
        [.. t.Participants.Select(p => new DistributedParticipantResponse(p.Name, p.Endpoint, GatewayCalls.JsonValue(p.Work), p.Vote.ToString().ToLowerInvariant(), p.Acknowledged))]);

    public static string WireName(DistributedTransactionState state) => state.ToString().ToLowerInvariant();
}
