using System.Net;
using System.Net.Http.Json;
using Coordination.Client;
using Coordination.Tests.Api;

namespace Coordination.Tests.Client;

/// <summary>
/// A lock acquire that fails or is cancelled after its request went out abandons the lock for its
/// session before throwing, so no wait or grant is left for the session's keep-alive to hold for nobody.
/// </summary>
public sealed class LockAbandonClientTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private const string Abandoned = """{"name": "db", "outcome": "withdrawn", "token": null, "waitersGranted": 0}""";

    private static async Task<(FakeHandler Handler, CoordinationClient Client, CoordinationSession Session)> SessionAsync()
    {
        // The manual clock never moves: no keep-alive, attempt timeout or retry delay fires on its own.
        var handler = new FakeHandler().Cluster(ClientFixture.A, leader: 1).SessionCreated(7, 3000);
        var client = ClientFixture.Create(handler, o => o.TimeProvider = new ManualTimeProvider());
        return (handler, client, await client.CreateSessionAsync(Ttl));
    }

    private static async Task NextAcquireAsync(FakeHandler handler)
    {
        for (var i = 0; i < 10 && (await handler.NextRequestAsync()).PathAndQuery != "/v1/locks/db/acquire"; i++)
        {
        }
    }

    [Fact]
    public async Task A_wait_or_maximum_hold_under_a_millisecond_is_sent_as_one_not_as_zero()
    {
        // Zero means "do not wait" and "no limit": a maximum hold of half a millisecond was sent as 0,
        // a hold without limit, and a wait of half a millisecond as a try.
        var (handler, client, session) = await SessionAsync();
        using var _ = client;
        handler.Json("POST", "/v1/locks/db/acquire", """{"name": "db", "token": 42}""");

        await session.AcquireLockAsync("db", wait: TimeSpan.FromMicroseconds(500), maxHold: TimeSpan.FromTicks(1));

        var sent = System.Text.Json.JsonDocument.Parse(handler.Requests.Last(r => r.PathAndQuery == "/v1/locks/db/acquire").Body!).RootElement;
        Assert.Equal(1, sent.GetProperty("waitMs").GetInt64());
        Assert.Equal(1, sent.GetProperty("maxHoldMs").GetInt64());
    }

    [Fact]
    public async Task Cancelling_a_blocking_acquire_abandons_the_lock_before_it_throws()
    {
        var (handler, client, session) = await SessionAsync();
        using var _ = client;
        handler
            .When("POST", "/v1/locks/db/acquire", async (_, cancellation) =>
            {
                // Queued on the silo: the answer comes only with a grant, and this caller gives up first.
                await Task.Delay(Timeout.Infinite, cancellation);
                throw new InvalidOperationException("unreachable");
            })
            .Json("POST", "/v1/locks/db/abandon", Abandoned);
        using var cancel = new CancellationTokenSource();

        var acquiring = session.AcquireLockAsync("db", wait: TimeSpan.FromSeconds(30), cancellationToken: cancel.Token);
        await NextAcquireAsync(handler);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquiring.WaitAsync(FakeHandler.WaitMax));
        var abandon = Assert.Single(handler.Requests, r => r.PathAndQuery == "/v1/locks/db/abandon");
        Assert.Equal("""{"sessionId":7}""", abandon.Body);
    }

    [Fact]
    public async Task A_blocking_acquire_whose_connection_drops_abandons_and_is_not_retried_under_its_key()
    {
        var (handler, client, session) = await SessionAsync();
        using var _ = client;
        // Dropped after it was sent: the silo may have queued it and then abandoned it for the lost caller,
        // so a retry under the same key could be handed a grant that abandon releases.
        handler
            .When("POST", "/v1/locks/db/acquire", (_, _) => Task.FromException<HttpResponseMessage>(new HttpRequestException(HttpRequestError.ResponseEnded, "reset (scripted)")))
            .Cluster("/", leader: 1, times: 3) // the failed silo makes the client ask again who leads
            .Json("POST", "/v1/locks/db/abandon", Abandoned);

        var error = await Assert.ThrowsAsync<CoordinationException>(() => session.AcquireLockAsync("db", wait: TimeSpan.FromSeconds(30)).WaitAsync(FakeHandler.WaitMax));

        Assert.Equal(CoordinationError.Unreachable, error.Error);
        Assert.Equal(
            ["/v1/locks/db/acquire", "/v1/locks/db/abandon"],
            handler.Requests.Select(r => r.PathAndQuery).Where(p => p.StartsWith("/v1/locks/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_blocking_acquire_answered_with_an_unknown_outcome_abandons_before_it_throws()
    {
        var (handler, client, session) = await SessionAsync();
        using var _ = client;
        handler
            .Problem("POST", "/v1/locks/db/acquire", HttpStatusCode.GatewayTimeout, "timeout")
            .Json("POST", "/v1/locks/db/abandon", Abandoned);

        var error = await Assert.ThrowsAsync<CoordinationException>(() => session.AcquireLockAsync("db", wait: TimeSpan.FromSeconds(30)).WaitAsync(FakeHandler.WaitMax));

        Assert.Equal(CoordinationError.Timeout, error.Error);
        Assert.Single(handler.Requests, r => r.PathAndQuery == "/v1/locks/db/acquire");
        Assert.Single(handler.Requests, r => r.PathAndQuery == "/v1/locks/db/abandon");
    }

    [Fact]
    public async Task A_try_acquire_that_gets_no_answer_abandons_the_grant_it_may_have_had()
    {
        var (handler, client, session) = await SessionAsync();
        using var _ = client;
        handler
            .Problem("POST", "/v1/locks/db/acquire", HttpStatusCode.GatewayTimeout, "timeout", times: 4)
            .Json("POST", "/v1/locks/db/abandon", """{"name": "db", "outcome": "released", "token": 91, "waitersGranted": 0}""");

        await Assert.ThrowsAsync<CoordinationException>(() => session.TryAcquireLockAsync("db").WaitAsync(FakeHandler.WaitMax));

        // A try never waits on the silo, so its retries under one key are safe: all four were made.
        Assert.Equal(4, handler.Requests.Count(r => r.PathAndQuery == "/v1/locks/db/acquire"));
        Assert.Single(handler.Requests, r => r.PathAndQuery == "/v1/locks/db/abandon");
    }

    [Theory]
    [InlineData(HttpStatusCode.Conflict, "already-exists")]
    [InlineData(HttpStatusCode.Conflict, "lock-wait-timeout")]
    [InlineData(HttpStatusCode.NotFound, "session-not-found")]
    public async Task A_refused_acquire_abandons_nothing(HttpStatusCode status, string code)
    {
        var (handler, client, session) = await SessionAsync();
        using var _ = client;
        handler.Problem("POST", "/v1/locks/db/acquire", status, code);

        var error = await Assert.ThrowsAsync<CoordinationException>(() => session.AcquireLockAsync("db", wait: TimeSpan.FromSeconds(30)).WaitAsync(FakeHandler.WaitMax));

        // already-exists in particular: the hold the session had before is not this call's to end.
        Assert.Equal(code, error.Code);
        Assert.DoesNotContain(handler.Requests, r => r.PathAndQuery == "/v1/locks/db/abandon");
    }

    [Fact]
    public async Task A_blocking_acquire_that_never_reached_a_silo_is_retried()
    {
        var (handler, client, session) = await SessionAsync();
        using var _ = client;
        handler
            .When("POST", "/v1/locks/db/acquire", (_, _) => Task.FromException<HttpResponseMessage>(new HttpRequestException(HttpRequestError.ConnectionError, "refused (scripted)")))
            .Cluster("/", leader: 1, times: 3)
            .Problem("POST", "/v1/locks/db/acquire", HttpStatusCode.ServiceUnavailable, "no-leader")
            .Json("POST", "/v1/locks/db/acquire", """{"name": "db", "token": 42}""");

        var held = await session.AcquireLockAsync("db", wait: TimeSpan.FromSeconds(30)).WaitAsync(FakeHandler.WaitMax);

        Assert.Equal(42, held.Token);
        var attempts = handler.Requests.Where(r => r.PathAndQuery == "/v1/locks/db/acquire").ToList();
        Assert.Equal(3, attempts.Count);
        Assert.Single(attempts.Select(r => r.IdempotencyKey).Distinct());
        Assert.DoesNotContain(handler.Requests, r => r.PathAndQuery == "/v1/locks/db/abandon");
    }
}

/// <summary>The same against a real silo in process: a cancelled acquire leaves the lock free for the next session.</summary>
public sealed class LockAbandonClientIntegrationTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Cancelling_AcquireLockAsync_leaves_no_hold_behind()
    {
        using var http = await silo.ReadyClientAsync();
        using var client = await silo.ReadyCoordinationClientAsync();
        await using var holder = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var gaveUp = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var next = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        var held = await holder.AcquireLockAsync("it-giveup", wait: TimeSpan.FromSeconds(5));
        var before = await http.Applied();
        using var cancel = new CancellationTokenSource();

        var acquiring = gaveUp.AcquireLockAsync("it-giveup", wait: TimeSpan.FromSeconds(60), cancellationToken: cancel.Token);
        await QueuedAsync(http, "it-giveup", before, gaveUp.Id);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquiring.WaitAsync(WaitMax));
        await held.ReleaseAsync();

        await using var taken = await next.AcquireLockAsync("it-giveup", wait: TimeSpan.FromSeconds(10)).WaitAsync(WaitMax);
        var info = await client.InspectLockAsync("it-giveup");
        Assert.Equal(next.Id, Assert.Single(info.Holders).SessionId);
        Assert.Empty(info.Waiters);
        Assert.Empty((await client.GetSessionAsync(gaveUp.Id)).Attachments);
    }

    /// <summary>Long-polls the lock's events until <paramref name="sessionId"/> is queued (bounded).</summary>
    private static async Task QueuedAsync(HttpClient http, string name, ulong after, long sessionId)
    {
        using var bound = new CancellationTokenSource(WaitMax);
        for (var round = 0; round < 100; round++)
        {
            var page = await (await http.GetAsync($"/v1/events?after={after}&kind=lock&name={name}&waitMs=5000", bound.Token)).Json(HttpStatusCode.OK);
            if (page.GetProperty("events").EnumerateArray().Any(e => e.GetProperty("type").GetString() == "lock-queued" && e.GetProperty("sessionId").GetInt64() == sessionId))
            {
                return;
            }

            after = page.GetProperty("resumeAfter").GetUInt64();
        }

        Assert.Fail($"session {sessionId} was not queued on lock {name}");
    }
}
