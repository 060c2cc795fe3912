using System.Net;
using Coordination.Client;

namespace Coordination.Tests.Client;

public sealed class SessionTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Third = TimeSpan.FromSeconds(1);

    /// <summary>What the local deadline keeps in hand against a silo clock running ahead: a quarter of this TTL.</summary>
    private static readonly TimeSpan Margin = CoordinationSession.ClockMargin(Ttl);

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
        // The second answer leaves 1.25 s to the local deadline (the silo's, less the margin): the third
        // keep-alive goes at half of that rather than a full third of the TTL later.
        var sent = TimeSpan.Zero;
        foreach (var step in new[] { Third, Third, TimeSpan.FromMilliseconds(625) })
        {
            await time.WaitForTimerAsync(step);
            time.Advance(step);
            sent += step;
            var keepAlive = await handler.NextRequestAsync();
            while (keepAlive.PathAndQuery != "/v1/sessions/7/keepalive")
            {
                keepAlive = await handler.NextRequestAsync();
            }
        }

        // The third keep-alive renewed: the local deadline is a TTL after it was sent, less the margin.
        await time.WaitForTimerAsync(Third);
        Assert.Equal(start + sent + Ttl - Margin, session.LocalDeadline);
        Assert.False(session.SessionLost.IsCancellationRequested);
        Assert.Equal(3, handler.Requests.Count(r => r.PathAndQuery == "/v1/sessions/7/keepalive"));
    }

    [Fact]
    public async Task A_keep_alive_sent_to_a_silent_leader_times_out_in_time_for_the_next_silo()
    {
        // The leader's host went silent (not refusing): the keep-alive waited on it until the session's
        // own deadline cut it off, too late for any retry, and the session was given up although the
        // cluster had a new leader within a second. Each attempt now gets half the time left.
        var time = new ManualTimeProvider();
        var handler = new FakeHandler().Cluster(ClientFixture.A, leader: 1).SessionCreated(7, 3000)
            .When("POST", ClientFixture.A + "v1/sessions/7/keepalive", async (_, ct) =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                throw new InvalidOperationException("unreachable");
            })
            .Cluster(ClientFixture.B, leader: 2)
            .Json("POST", ClientFixture.B + "v1/sessions/7/keepalive", """{"sessionId": 7, "deadlineMs": 1763700003000}""")
            .Json("DELETE", ClientFixture.B + "v1/sessions/7", """{"sessionId": 7}""");
        using var client = ClientFixture.Create(handler, o =>
        {
            o.TimeProvider = time;
            o.RetryBaseDelay = TimeSpan.Zero;
        }, ClientFixture.A, ClientFixture.B);
        await using var session = await client.CreateSessionAsync(Ttl);
        var kept = handler.Requests.Count;

        await time.WaitForTimerAsync(Third);
        time.Advance(Third); // the keep-alive goes to the leader, which keeps silent
        await handler.NextRequestAsync();
        var attempt = (Ttl - Margin - Third) / 2;
        await time.WaitForTimerAsync(attempt);
        time.Advance(attempt); // its half of the time left is over

        for (var i = 0; i < 10 && !handler.Requests.Any(r => r.ToString() == "POST http://b:5080/v1/sessions/7/keepalive"); i++)
        {
            await handler.NextRequestAsync();
        }

        Assert.Contains("POST http://b:5080/v1/sessions/7/keepalive", handler.Requests.Skip(kept).Select(r => r.ToString()));
        Assert.False(session.SessionLost.IsCancellationRequested);
    }

    [Fact]
    public async Task A_repeated_deadline_does_not_move_the_local_deadline_on()
    {
        var (handler, time, client) = Create();
        // Created with deadline ...000 (so at ...000 less the TTL). The renewal at 1 s comes from a leader
        // whose clock runs 0.5 s ahead: its deadline is 4.5 s after creation, and sentAt + TTL (4 s) caps
        // it. The keep-alive at 2 s is answered with the same deadline, without renewing; its later sentAt
        // (cap 5 s) must not let the 4.5 s through: the local deadline stays where the renewal put it.
        handler
            .Json("POST", "/v1/sessions/7/keepalive", """{"sessionId": 7, "deadlineMs": 1763700001500}""", times: 2)
            .Json("DELETE", "/v1/sessions/7", """{"sessionId": 7}""");
        using var _ = client;
        await using var session = await client.CreateSessionAsync(Ttl);
        var start = time.GetUtcNow();

        await time.WaitForTimerAsync(Third);
        time.Advance(Third);
        await time.WaitForTimerAsync(Third);
        var afterRenewal = session.LocalDeadline;
        Assert.Equal(start + Third + Ttl - Margin, afterRenewal); // capped by sentAt + TTL
        time.Advance(Third);
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(625)); // half of the 1.25 s left

        Assert.Equal(2, handler.Requests.Count(r => r.PathAndQuery == "/v1/sessions/7/keepalive"));
        Assert.Equal(afterRenewal, session.LocalDeadline);
    }

    [Theory]
    [InlineData(10_000, 1_500)] // 1 s (a clock step the silos let through) + 5% of the TTL (their slew)
    [InlineData(60_000, 4_000)]
    [InlineData(3_000, 750)] // capped at a quarter of the TTL
    [InlineData(1_000, 250)]
    public void The_local_deadline_keeps_a_margin_for_a_silo_clock_running_ahead(int ttlMs, int marginMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(marginMs), CoordinationSession.ClockMargin(TimeSpan.FromMilliseconds(ttlMs)));
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
        handler.Refuse("POST", "/v1/sessions/7/keepalive", times: 100).Refuse("GET", "/v1/cluster", times: 100).Json("DELETE", "/v1/sessions/7", """{"sessionId": 7}""");
        using var _ = client;
        await using var session = await client.CreateSessionAsync(Ttl);
        var deadline = session.LocalDeadline;
        var lost = LostAsync(session);

        // A third of the TTL, then at half the time left to the local deadline (TTL - Margin = 2.25 s; the
        // timers count whole milliseconds), until less than twice the minimum retry delay is left.
        TimeSpan[] schedule = [Third, TimeSpan.FromMilliseconds(625), TimeSpan.FromMilliseconds(312), TimeSpan.FromMilliseconds(156)];
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
        await time.WaitForTimerAsync(TimeSpan.FromMilliseconds(625));
        Assert.Equal(silosDeadline - Margin, session.LocalDeadline);

        // From then on at half the time left to the silo's deadline (less the margin), not to sentAt + TTL
        // (a second later); the timers count whole milliseconds.
        TimeSpan[] schedule = [TimeSpan.FromMilliseconds(625), TimeSpan.FromMilliseconds(312), TimeSpan.FromMilliseconds(156)];
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
    public async Task A_session_disposed_after_its_client_does_not_throw()
    {
        // An application shutting down may dispose the HttpClient (or IHttpClientFactory's handler) first:
        // DI disposes in its own order. The session's end then cannot be sent; it expires after its TTL,
        // and disposal must not throw (it threw ObjectDisposedException).
        var handler = new FakeHandler().Cluster(ClientFixture.A, leader: 1).SessionCreated(7, 3000);
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        using var client = new CoordinationClient(http, new CoordinationClientOptions { Endpoints = [new Uri(ClientFixture.A)], TimeProvider = new ManualTimeProvider() });
        var session = await client.CreateSessionAsync(Ttl);
        http.Dispose();

        await session.DisposeAsync().AsTask().WaitAsync(FakeHandler.WaitMax);

        Assert.DoesNotContain(handler.Requests, r => r.Method == HttpMethod.Delete);
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
