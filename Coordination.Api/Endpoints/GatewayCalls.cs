using System.Globalization;
using System.Text;
using System.Text.Json;
using Coordination.Grains;
using Microsoft.AspNetCore.Http;

namespace Coordination.Api.Endpoints;

/// <summary>The shared path of every endpoint: edge validation, idempotency keys, consistency, headers, result mapping.</summary>
internal static class GatewayCalls
{
    public const string IdempotencyHeader = "Idempotency-Key";
    public const int IdempotencyKeyLengthMax = 128;
    public const string RevisionHeader = "X-Coordination-Revision";

    /// <summary>How long a read with <c>minRevision</c> waits for this silo to apply that revision.</summary>
    public static readonly TimeSpan MinRevisionWait = TimeSpan.FromSeconds(5);

    /// <summary>Replicates a command and maps its result: a rejection becomes its problem, a fact goes to <paramref name="onApplied"/>.</summary>
    /// <param name="cancellation">Stops waiting for the result; the request's abort when null. A caller that must learn the result even after an abort passes <see cref="CancellationToken.None"/> (the silo's request timeout still bounds the wait).</param>
    public static async Task<IResult> Execute(HttpContext http, ICoordinationGateway gateway, Command command, Func<CommandResult, IResult> onApplied, CancellationToken? cancellation = null)
    {
        string? key = http.Request.Headers[IdempotencyHeader].ToString();
        if (key.Length == 0)
        {
            key = null;
        }
        else if (key.Length > IdempotencyKeyLengthMax || !key.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':'))
        {
            return Problems.Validation(IdempotencyHeader, $"An idempotency key is 1-{IdempotencyKeyLengthMax} characters from A-Z a-z 0-9 . _ - :.");
        }

        var (result, revision) = await gateway.ExecuteAsync(command, key, cancellation ?? http.RequestAborted);
        http.Response.Headers[RevisionHeader] = revision.ToString(CultureInfo.InvariantCulture);
        return result switch
        {
            Rejected rejected => Problems.From(rejected),
            IdempotencyKeyReused reused => Problems.Create(422, "idempotency-key-reused", $"The idempotency key '{reused.Key}' was used for a different request."),
            _ => onApplied(result),
        };
    }

    /// <summary>Runs a query at the requested consistency and sets the revision and staleness headers.</summary>
    public static async Task<IResult> Read<T>(HttpContext http, ICoordinationGateway gateway, string? consistency, Func<CoordinationStateMachine, T> query, Func<T, IResult> map)
    {
        ReadConsistency level;
        switch (consistency)
        {
            case null or "" or "linearizable":
                level = ReadConsistency.Linearizable;
                break;
            case "stale":
                level = ReadConsistency.Stale;
                break;
            default:
                return Problems.Validation("consistency", "consistency is 'linearizable' or 'stale'.");
        }

        var minRevision = 0UL;
        if (http.Request.Query.TryGetValue("minRevision", out var minRevisionText)
            && !ulong.TryParse(minRevisionText.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out minRevision))
        {
            return Problems.Validation("minRevision", "minRevision is a revision (a non-negative integer).");
        }

        if (minRevision > 0 && !await ReachedAsync(gateway, minRevision, http.RequestAborted))
        {
            return Problems.Create(503, "revision-not-applied", $"This silo has not applied revision {minRevision} within {MinRevisionWait.TotalMilliseconds:0} ms (MinRevisionWait); retry, or ask another silo.");
        }

        var (value, meta) = await gateway.ReadAsync(query, level, http.RequestAborted);
        var headers = http.Response.Headers;
        headers[RevisionHeader] = meta.AppliedIndex.ToString(CultureInfo.InvariantCulture);
        if (meta.Stale)
        {
            headers["X-Coordination-Stale"] = "true";
            headers["X-Coordination-Applied-Index"] = meta.AppliedIndex.ToString(CultureInfo.InvariantCulture);
            if (meta.LeaderContactMs is { } contact)
            {
                headers["X-Coordination-Leader-Contact-Ms"] = contact.ToString(CultureInfo.InvariantCulture);
            }
        }

        return map(value);
    }

    /// <summary>
    /// Waits until this silo has applied <paramref name="revision"/> (at most <see cref="MinRevisionWait"/>).
    /// A read after that reflects every write up to that revision even when stale: read-your-writes,
    /// or a lock holder reading what the previous holder wrote, without a round to the other silos.
    /// </summary>
    private static async Task<bool> ReachedAsync(ICoordinationGateway gateway, ulong revision, CancellationToken cancellation)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        wait.CancelAfter(MinRevisionWait);
        try
        {
            await gateway.WaitForRevisionAsync(revision - 1, wait.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// The events after <paramref name="position"/> and the revision the answer reflects: those the
    /// wake-up of <paramref name="woken"/> carried, when it kept them all (no read queued behind the
    /// Raft loop), else a read of the bounded history. Pass null before the first wait: a subscription
    /// holds only events applied since it began.
    /// </summary>
    public static async Task<(EventsPage Page, ulong Revision)> EventsAfterAsync(ICoordinationGateway gateway, EventFilter filter, ulong position, IGrainEventSubscription? woken, CancellationToken cancellation)
    {
        if (woken is not null && woken.TryTakeEvents(position, out var delivered))
        {
            var resumeAfter = delivered.Count > 0 ? Math.Max(position, delivered[^1].Revision) : position;
            return (new EventsPage(false, resumeAfter, delivered), resumeAfter);
        }

        var (read, meta) = await gateway.ReadAsync(sm => (Page: sm.EventsSince(position, filter), GrainsApplied: sm.AppliedIndex), ReadConsistency.Stale, cancellation);
        var page = read.Page;
        if (!page.Compacted && page.ResumeAfter >= read.GrainsApplied && meta.AppliedIndex > page.ResumeAfter)
        {
            // Entries the grains never saw (Raft no-ops, membership changes, retries answered from
            // their idempotency key) carry no events: a page that reaches the grains' newest entry
            // reaches the silo's. Resuming any earlier, a watcher would wait for a revision already
            // applied and read again at once, in a loop, until the next grain command.
            page = page with { ResumeAfter = meta.AppliedIndex };
        }

        return (page, meta.AppliedIndex);
    }

    /// <summary>The raw UTF-8 bytes of a JSON value from a request (null when absent).</summary>
    public static byte[]? JsonBytes(JsonElement? value) =>
        value is { ValueKind: not JsonValueKind.Undefined } element ? Encoding.UTF8.GetBytes(element.GetRawText()) : null;

    /// <summary>A stored JSON value for a response (null for empty bytes).</summary>
    public static JsonElement? JsonValue(byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return null;
        }

        using var document = JsonDocument.Parse(bytes);
        return document.RootElement.Clone();
    }

    public static bool ValidName(string name) => Names.IsValid(name);

    /// <summary>True for a config document name clients may not write (<see cref="CoordinationApi.ReservedConfigPrefix"/>).</summary>
    public static bool Reserved(string name) => name.StartsWith(CoordinationApi.ReservedConfigPrefix, StringComparison.Ordinal);
}
