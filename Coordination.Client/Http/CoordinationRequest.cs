using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Coordination.Client.Http;

/// <summary>
/// One logical request: what is sent on every attempt. The body is serialized once and the
/// idempotency key chosen once, so every retry of the operation is the same request (docs/api.md, "Idempotency").
/// </summary>
internal sealed class CoordinationRequest
{
    private CoordinationRequest(HttpMethod method, string path, byte[]? body, string? idempotencyKey, TimeSpan? attemptTimeout, bool retryUnsentOnly = false)
    {
        Method = method;
        Path = path;
        Body = body;
        IdempotencyKey = idempotencyKey;
        AttemptTimeout = attemptTimeout;
        RetryUnsentOnly = retryUnsentOnly;
    }

    public HttpMethod Method { get; }

    /// <summary>Relative to an endpoint's base URL, without a leading slash (e.g. <c>v1/locks/db/acquire</c>).</summary>
    public string Path { get; }

    public byte[]? Body { get; }

    public string? IdempotencyKey { get; }

    /// <summary>How long one attempt may take; null for the client's default. Long-polls add their wait.</summary>
    public TimeSpan? AttemptTimeout { get; }

    /// <summary>
    /// Retry only attempts that surely did not reach the grains (no connection, <c>no-leader</c>,
    /// <c>overloaded</c>), even with an idempotency key: for a blocking lock acquire, whose silo abandons
    /// the wait of an attempt that went away, so a retry of it could be handed a grant that abandon then releases.
    /// </summary>
    public bool RetryUnsentOnly { get; }

    /// <summary>A write goes to the leader when one is known (any silo would forward it).</summary>
    public bool IsWrite => Method != HttpMethod.Get;

    /// <summary>A GET is always safe to repeat; a write only with an idempotency key.</summary>
    public bool IsRetryable => !IsWrite || IdempotencyKey is not null;

    public static CoordinationRequest Get(string path, TimeSpan? attemptTimeout = null) => new(HttpMethod.Get, path, null, null, attemptTimeout);

    /// <summary>A write with a body; <paramref name="idempotencyKey"/> is null when keys are switched off.</summary>
    public static CoordinationRequest Write<TBody>(HttpMethod method, string path, TBody body, JsonTypeInfo<TBody> type, string? idempotencyKey, TimeSpan? attemptTimeout = null, bool retryUnsentOnly = false) =>
        new(method, path, JsonSerializer.SerializeToUtf8Bytes(body, type), idempotencyKey, attemptTimeout, retryUnsentOnly);

    /// <summary>A write without a body (keep-alive, delete).</summary>
    public static CoordinationRequest Write(HttpMethod method, string path, string? idempotencyKey, TimeSpan? attemptTimeout = null) => new(method, path, null, idempotencyKey, attemptTimeout);

    /// <summary>Escapes one path segment: a name may hold <c>/</c> and <c>:</c> (docs/api.md, "Names").</summary>
    public static string Segment(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Uri.EscapeDataString(name);
    }
}
