using System.Net;
using Coordination.Client;

namespace Coordination.Tests.Client;

public sealed class SessionTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Third = TimeSpan.FromSeconds(1);

    private static (FakeHandler Handler, ManualTimeProvider Time, CoordinationClient Client) Create(Action<CoordinationClientOptions>? configure = null)
    {
        var time = new ManualTimeProvider();
        var handler = new FakeHandler().Cluster(ClientFixture.A, leader: 1).SessionCreated(7, 3000);
        var client = ClientFixture.Create(handler, o =>
        {
            o.TimeProvider = time;
            configure?.Invoke(o);
        });
        return (handler, time, client);
    }

    private static Task<SessionLostEventArgs> LostAsync(CoordinationSession session)
    {
        var lost = new TaskCompletionSource<SessionLostEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.Lost += (_, e) => lost.TrySetResult(e);
        return lost.Task.WaitAsync(FakeHandler.WaitMax);
    }

    [Fact]
    public async Task A_session_is_created_with_its_ttl_and_kept_alive_every_third_of_it()
    {
        var (handler, time, client) = Create();
        // As a silo answers (created with deadline ...000 and a 3 s TTL): the first and third keep-alives
        // renew, the second comes while the deadline is more than TTL/2 away and is answered without one.
        handler
            .Json("POST", "/v1/sessions/7/keepalive", """{"sessionId": 7, "deadlineMs": 1763700001000}""", times: 2)
            .Json("POST", "/v1/sessions/7/keepalive", """{"sessionId": 7, "deadlineMs": 1763700003000}""")
            .Json("DELETE", "/v1/sessions/7", """{"sessionId": 7}""");
        using var _ = client;
        await using var session = await client.CreateSessionAsync(Ttl);

        Assert.Equal((7L, Ttl), (session.Id, session.Ttl));
        Assert.Equal("""{"ttlMs":3000}""", handler.Requests[^1].Body);
        var start = time.GetUtcNow();
        for (var i = 1; i <= 3; i++)
        {
            await time.WaitForTimerAsync(Third);
            time.Advance(Third);
            var keepAlive = await handler.NextRequestAsync();
            while (keepAlive.PathAndQuery != "/v1/sessions/7/keepalive")
            {
                keepAlive = await handler.NextRequestAsync();
            }
        }

        // The third keep-alive was sent at start + 3 s: the local deadline is a TTL after that.
        await time.WaitForTimerAsync(Third);
        Assert.Equal(start + (3 * Third) + Ttl, session.LocalDeadline);
        Assert.False(session.SessionLost.IsCancellationRequested);
        Assert.Equal(3, handler.Requests.Count(r => r.PathAndQuery == "/v1/sessions/7/keepalive"));
    }

    [Fact]
    public async Task A_session_expired_answer_to_a_keep_alive_signals_the_session_lost()
    {
        var (handler, time, client) = Create();
        handler.Problem("POST", "/v1/sessions/7/keepalive", HttpStatusCode.Gone, "session-expired");
        using var _ = client;
        await using var session = await client.CreateSessionAsync(Ttl);
        var lost = LostAsync(session);

        await time.WaitForTimerAsync(Third);
        time.Advance(Third);

        var because = await lost;
        Assert.Equal("session-expired", because.Reason);
        Assert.True(session.SessionLost.IsCancellationRequested);
        Assert.Same(because, session.LostBecause);
    }

    [Fact]
    public async Task A_cluster_unreachable_until_the_deadline_signals_the_session_lost_before_the_deadline()
    {
        var (handler, time, client) = Create(o => o.RetryAttemptsMax = 1);
        handler.Refuse("POST", "/v1/sessions/7/keepalive", times: 100).Refuse("GET", "/v1/cluster", times: 100);
        using var _ = client;
        await using var session = await client.CreateSessionAsync(Ttl);
        var deadline = session.LocalDeadline;
        var lost = LostAsync(session);

        // Every third of the TTL, then at half the time left, until less than twice the minimum retry delay is left.
        TimeSpan[] schedule = [Third, Third, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(125)];
        foreach (var step in schedule)
        {
            Assert.False(lost.IsCompleted);
            await time.WaitForTimerAsync(step);
            time.Advance(step);
        }

        var because = await lost;
        Assert.Equal("unreachable", because.Reason);
        Assert.IsType<CoordinationException>(because.Error);
        Assert.True(time.GetUtcNow() < deadline);
        Assert.Equal(2 * schedule.Length, handler.Requests.Count(r => r.PathAndQuery == "/v1/sessions/7/keepalive"));
    }

    [Fact]
    public async Task A_keep_alive_answered_without_renewal_leaves_the_local_deadline_at_the_silos()
    {
        var (handler, time, client) = Create(o => o.RetryAttemptsMax = 1);
        // Created with deadline ...000 (3 s TTL); at 1 s the silo's deadline is still 2 s away, more than
        // TTL/2, so it answers with that deadline without renewing. Then the cluster is unreachable.
        handler
            .Json("POST", "/v1/sessions/7/keepalive", """{"sessionId": 7, "deadlineMs": 1763700000000}""")
            .Refuse("POST", "/v1/sessions/7/keepalive", times: 100).Refuse("GET", "/v1/cluster", times: 100)
            .Json("DELETE", "/v1/sessions/7", """{"sessionId": 7}""");
        using var _ = client;
        await using var session = await client.CreateSessionAsync(Ttl);
        var silosDeadline = time.GetUtcNow() + Ttl;
        var lost = LostAsync(session);

        await time.WaitForTimerAsync(Third);
        time.Advance(Third);
        await time.WaitForTimerAsync(Third);
        Assert.Equal(silosDeadline, session.LocalDeadline);

        // Retries at half the time left to the silo's deadline, not to sentAt + TTL (a second later).
        TimeSpan[] schedule = [Third, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(125)];
        foreach (var step in schedule)
        {
            Assert.False(lost.IsCompleted);
            await time.WaitForTimerAsync(step);
            time.Advance(step);
        }

        Assert.Equal("unreachable", (await lost).Reason);
        Assert.True(time.GetUtcNow() < silosDeadline);
    }

    [Fact]
    public async Task Disposing_a_session_stops_its_keep_alive_and_ends_it_on_the_cluster()
    {
        var (handler, time, client) = Create();
        handler.Json("DELETE", "/v1/sessions/7", """{"sessionId": 7}""");
        using var _ = client;
        var session = await client.CreateSessionAsync(Ttl);
        await time.WaitForTimerAsync(Third);

        await session.DisposeAsync();
        time.Advance(10 * Third);

        Assert.Equal(["/v1/cluster", "/v1/sessions", "/v1/sessions/7"], handler.Requests.Select(r => r.PathAndQuery));
        Assert.False(session.SessionLost.IsCancellationRequested);
    }

    [Fact]
    public async Task A_lock_handle_carries_the_fencing_token_and_releases_it_on_dispose()
    {
        var (handler, _, client) = Create();
        handler
            .Json("POST", "/v1/locks/db/acquire", """{"name": "db", "token": 42}""")
            .Json("POST", "/v1/locks/db/release", """{"name": "db", "token": 42, "waitersGranted": 1}""")
            .Json("DELETE", "/v1/sessions/7", """{"sessionId": 7}""");
        using var _ = client;
        await using (var session = await client.CreateSessionAsync(Ttl))
        {
            await using (var held = await session.AcquireLockAsync("db", LockMode.Exclusive, wait: TimeSpan.FromSeconds(5)))
            {
                Assert.Equal((42L, "db"), (held.Token, held.Name));
            }
        }

        var acquire = handler.Requests.Single(r => r.PathAndQuery == "/v1/locks/db/acquire");
        Assert.Equal("""{"sessionId":7,"mode":"exclusive","waitMs":5000,"maxHoldMs":0}""", acquire.Body);
        Assert.Equal("""{"sessionId":7,"token":42}""", handler.Requests.Single(r => r.PathAndQuery == "/v1/locks/db/release").Body);
    }

    [Fact]
    public async Task Try_acquire_answers_null_when_busy_and_a_semaphore_sends_its_permits()
    {
        var (handler, _, client) = Create();
        handler
            .Problem("POST", "/v1/locks/pool/acquire", HttpStatusCode.Conflict, "lock-busy")
            .Json("POST", "/v1/locks/pool/acquire", """{"name": "pool", "token": 50}""");
        using var _ = client;
        var session = await client.CreateSessionAsync(Ttl);

        Assert.Null(await session.TryAcquireLockAsync("pool", LockMode.Semaphore, permits: 3));
        var held = await session.TryAcquireLockAsync("pool", LockMode.Shared, maxHold: TimeSpan.FromSeconds(2));

        Assert.Equal(50, held?.Token);
        var bodies = handler.Requests.Where(r => r.PathAndQuery == "/v1/locks/pool/acquire").Select(r => r.Body).ToList();
        Assert.Equal(
            ["""{"sessionId":7,"mode":"semaphore","permits":3,"waitMs":0,"maxHoldMs":0}""", """{"sessionId":7,"mode":"shared","waitMs":0,"maxHoldMs":2000}"""],
            bodies);
    }

    [Fact]
    public async Task A_blocking_acquire_whose_wait_ends_throws_lock_wait_timeout()
    {
        var (handler, _, client) = Create();
        handler.Problem("POST", "/v1/locks/db/acquire", HttpStatusCode.Conflict, "lock-wait-timeout");
        using var _ = client;
        var session = await client.CreateSessionAsync(Ttl);

        var error = await Assert.ThrowsAsync<CoordinationException>(() => session.AcquireLockAsync("db", wait: TimeSpan.FromMilliseconds(250)));

        Assert.Equal(CoordinationError.LockWaitTimeout, error.Error);
    }
}
