using Coordination.Client.Http;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>
    /// Opens a session (<c>POST /v1/sessions</c>) and keeps it alive in the background every TTL/3 until
    /// it is disposed or lost (<see cref="CoordinationSession.SessionLost"/>).
    /// </summary>
    /// <param name="ttl">1 s .. 1 h; <see cref="CoordinationClientOptions.DefaultSessionTtl"/> when null.</param>
    /// <param name="keepAlive">False leaves the session to expire after its TTL unless someone keeps it alive (the CLI's one-shot <c>lock acquire</c>).</param>
    /// <param name="cancellationToken">Cancels the creation request.</param>
    public async Task<CoordinationSession> CreateSessionAsync(TimeSpan? ttl = null, bool keepAlive = true, CancellationToken cancellationToken = default)
    {
        var lifetime = ttl ?? Options.DefaultSessionTtl;
        // The local deadline counts from before the request: the silo's TTL starts no earlier than that.
        var sentAt = Options.TimeProvider.GetTimestamp();
        var created = await WriteAsync(
            HttpMethod.Post, "v1/sessions", new CreateSessionRequest((long)lifetime.TotalMilliseconds),
            CoordinationJsonContext.Default.CreateSessionRequest, CoordinationJsonContext.Default.SessionCreated, cancellationToken).ConfigureAwait(false);
        // Creation always writes, at the silo's clock deadline - TTL: the session measures later deadlines from it.
        return new CoordinationSession(this, created.SessionId, TimeSpan.FromMilliseconds(created.TtlMs), sentAt, created.DeadlineMs - created.TtlMs, keepAlive);
    }

    /// <summary>
    /// A handle on an existing session (the CLI's <c>--session</c>), without creating one. With
    /// <paramref name="keepAlive"/> the handle keeps it alive like its creator would; the deadline
    /// counts from now, and with no creation answer to measure the silo's deadlines from, each keep-alive
    /// moves it to a TTL after it was sent, so a lost signal may come later than the silo's expiry.
    /// </summary>
    public CoordinationSession AttachSession(long sessionId, TimeSpan ttl, bool keepAlive) =>
        new(this, sessionId, ttl, Options.TimeProvider.GetTimestamp(), createdServerMs: null, keepAlive);

    /// <summary>One session with what it holds (<c>GET /v1/sessions/{id}</c>).</summary>
    public Task<SessionInfo> GetSessionAsync(long sessionId, CancellationToken cancellationToken = default) =>
        GetAsync($"v1/sessions/{sessionId}", CoordinationJsonContext.Default.SessionInfo, cancellationToken);

    /// <summary>Up to <paramref name="limit"/> sessions with ids above <paramref name="after"/>, by id.</summary>
    public async Task<IReadOnlyList<SessionInfo>> ListSessionsAsync(long after = 0, int limit = 100, CancellationToken cancellationToken = default)
    {
        var list = await GetAsync(Query("v1/sessions", ("after", after), ("limit", limit)), CoordinationJsonContext.Default.SessionList, cancellationToken).ConfigureAwait(false);
        return list.Sessions ?? [];
    }

    /// <summary>Extends a session's deadline once; returns the leader's new deadline in Unix milliseconds.</summary>
    /// <param name="attemptTimeout">Each attempt's bound (null: <see cref="CoordinationClientOptions.AttemptTimeout"/>).</param>
    internal async Task<long> KeepAliveAsync(long sessionId, TimeSpan? attemptTimeout, CancellationToken cancellationToken)
    {
        var kept = await WriteAsync(HttpMethod.Post, $"v1/sessions/{sessionId}/keepalive", CoordinationJsonContext.Default.SessionKeptAlive, cancellationToken, attemptTimeout).ConfigureAwait(false);
        return kept.DeadlineMs;
    }

    /// <summary>Ends a session and releases all it holds (<c>DELETE /v1/sessions/{id}</c>).</summary>
    public Task DeleteSessionAsync(long sessionId, CancellationToken cancellationToken = default) =>
        WriteAsync(HttpMethod.Delete, $"v1/sessions/{sessionId}", CoordinationJsonContext.Default.Empty, cancellationToken);
}
