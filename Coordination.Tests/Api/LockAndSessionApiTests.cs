using System.Net;

namespace Coordination.Tests.Api;

public sealed class LockAndSessionApiTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    [Fact]
    public async Task A_session_is_created_kept_alive_inspected_and_revoked()
    {
        var client = await silo.ReadyClientAsync();
        var id = await client.Session(10_000);
        var alive = await (await client.Post($"/v1/sessions/{id}/keepalive")).Json(HttpStatusCode.OK);
        Assert.Equal(id, alive.GetProperty("sessionId").GetUInt64());
        var info = await (await client.GetAsync($"/v1/sessions/{id}")).Json(HttpStatusCode.OK);
        Assert.Equal(10_000, info.GetProperty("ttlMs").GetInt64());
        var list = await (await client.GetAsync("/v1/sessions?limit=1000")).Json(HttpStatusCode.OK);
        Assert.Contains(list.GetProperty("sessions").EnumerateArray(), s => s.GetProperty("sessionId").GetUInt64() == id);

        await (await client.DeleteAsync($"/v1/sessions/{id}")).Json(HttpStatusCode.OK);
        Assert.Equal("session-not-found", await (await client.GetAsync($"/v1/sessions/{id}")).Problem(HttpStatusCode.NotFound));
        Assert.Equal("session-not-found", await (await client.Post($"/v1/sessions/{id}/keepalive")).Problem(HttpStatusCode.NotFound));
    }

    [Theory]
    [InlineData(999)]
    [InlineData(3_600_001)]
    public async Task A_session_ttl_outside_the_named_limits_is_a_validation_error(long ttlMs)
    {
        var client = await silo.ReadyClientAsync();
        Assert.Equal("validation", await (await client.Post("/v1/sessions", new { ttlMs })).Problem(HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task A_held_lock_is_denied_to_a_second_session_until_released_and_tokens_increase()
    {
        var client = await silo.ReadyClientAsync();
        var (a, b) = (await client.Session(), await client.Session());
        var first = (await (await client.Post("/v1/locks/api-db/acquire", new { sessionId = a })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        Assert.Equal("lock-busy", await (await client.Post("/v1/locks/api-db/acquire", new { sessionId = b })).Problem(HttpStatusCode.Conflict));

        var holders = (await (await client.GetAsync("/v1/locks/api-db")).Json(HttpStatusCode.OK)).GetProperty("holders");
        Assert.Equal(a, holders.EnumerateArray().Single().GetProperty("sessionId").GetUInt64());

        Assert.Equal("wrong-token", await (await client.Post("/v1/locks/api-db/release", new { sessionId = a, token = first + 1 })).Problem(HttpStatusCode.Conflict));
        await (await client.Post("/v1/locks/api-db/release", new { sessionId = a, token = first })).Json(HttpStatusCode.OK);
        var second = (await (await client.Post("/v1/locks/api-db/acquire", new { sessionId = b })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        Assert.True(second > first);
    }

    [Fact]
    public async Task A_blocking_acquire_waits_and_is_granted_when_the_holder_releases()
    {
        var client = await silo.ReadyClientAsync();
        var (a, b) = (await client.Session(), await client.Session());
        var token = (await (await client.Post("/v1/locks/api-wait/acquire", new { sessionId = a })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        var waiting = client.Post("/v1/locks/api-wait/acquire", new { sessionId = b, waitMs = 20_000 });
        for (var attempt = 0; attempt < 500; attempt++)
        {
            var waiters = (await (await client.GetAsync("/v1/locks/api-wait")).Json(HttpStatusCode.OK)).GetProperty("waiters");
            if (waiters.GetArrayLength() == 1)
            {
                break;
            }

            await Task.Delay(10);
        }

        Assert.False(waiting.IsCompleted);
        await (await client.Post("/v1/locks/api-wait/release", new { sessionId = a, token })).Json(HttpStatusCode.OK);
        var granted = await (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Json(HttpStatusCode.OK);
        Assert.True(granted.GetProperty("token").GetUInt64() > token);
    }

    [Fact]
    public async Task A_grant_carries_the_guarded_document_with_the_earlier_holders_last_write()
    {
        var client = await silo.ReadyClientAsync();
        var (a, b) = (await client.Session(), await client.Session());
        await (await client.Put("/v1/config/api-guarded", new { value = 1 })).Json(HttpStatusCode.OK);

        // Granted at once: the document as it stands; one that does not exist has version 0; not asked for, it is left out.
        var first = await (await client.Post("/v1/locks/api-guard/acquire", new { sessionId = a, readConfig = "api-guarded" })).Json(HttpStatusCode.OK);
        Assert.Equal(1, first.GetProperty("config").GetProperty("value").GetInt32());
        Assert.Equal("api-guarded", first.GetProperty("config").GetProperty("name").GetString());
        var token = first.GetProperty("token").GetUInt64();
        var other = await (await client.Post("/v1/locks/api-guard-other/acquire", new { sessionId = a, readConfig = "api-guarded-absent" })).Json(HttpStatusCode.OK);
        Assert.Equal(0, other.GetProperty("config").GetProperty("version").GetInt64());
        var plain = await (await client.Post("/v1/locks/api-guard-plain/acquire", new { sessionId = b })).Json(HttpStatusCode.OK);
        Assert.False(plain.TryGetProperty("config", out _), plain.ToString());

        // Granted after a wait: the document holds what the holder wrote before it released.
        var waiting = client.Post("/v1/locks/api-guard/acquire", new { sessionId = b, waitMs = 20_000, readConfig = "api-guarded" });
        await Coordination.Tests.Cluster.ClusterCalls.Until(
            async () => (await (await client.GetAsync("/v1/locks/api-guard")).Json(HttpStatusCode.OK)).GetProperty("waiters").GetArrayLength() == 1,
            "the second session to queue", TimeSpan.FromSeconds(10));
        await (await client.Put("/v1/config/api-guarded/fenced", new { value = 2, lockName = "api-guard", token })).Json(HttpStatusCode.OK);
        await (await client.Post("/v1/locks/api-guard/release", new { sessionId = a, token })).Json(HttpStatusCode.OK);
        var second = await (await waiting.WaitAsync(TimeSpan.FromSeconds(10))).Json(HttpStatusCode.OK);
        Assert.True(second.GetProperty("token").GetUInt64() > token);
        Assert.Equal(2, second.GetProperty("config").GetProperty("value").GetInt32());
        Assert.Equal(2, second.GetProperty("config").GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task An_acquire_naming_an_invalid_guarded_document_is_refused_and_changes_nothing()
    {
        var client = await silo.ReadyClientAsync();
        var a = await client.Session();
        var applied = await client.Applied();

        var refused = await client.Post("/v1/locks/api-guard-bad/acquire", new { sessionId = a, readConfig = "not a name" });

        Assert.Equal("validation", await refused.Problem(HttpStatusCode.BadRequest));
        Assert.Equal(applied, await client.Applied());
    }

    [Fact]
    public async Task A_blocking_acquire_whose_wait_runs_out_is_told_so()
    {
        var client = await silo.ReadyClientAsync();
        var (a, b) = (await client.Session(), await client.Session());
        await (await client.Post("/v1/locks/api-timeout/acquire", new { sessionId = a })).Json(HttpStatusCode.OK);
        var response = await client.Post("/v1/locks/api-timeout/acquire", new { sessionId = b, waitMs = 300 }).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("lock-wait-timeout", await response.Problem(HttpStatusCode.Conflict));
        var waiters = (await (await client.GetAsync("/v1/locks/api-timeout")).Json(HttpStatusCode.OK)).GetProperty("waiters");
        Assert.Equal(0, waiters.GetArrayLength());
    }

    [Fact]
    public async Task A_blocking_acquire_whose_session_expires_meanwhile_is_told_the_session_ended()
    {
        var client = await silo.ReadyClientAsync();
        var holder = await client.Session();
        var waiter = await client.Session(ttlMs: 1_000); // never kept alive
        await (await client.Post("/v1/locks/api-expiring/acquire", new { sessionId = holder })).Json(HttpStatusCode.OK);
        var response = await client.Post("/v1/locks/api-expiring/acquire", new { sessionId = waiter, waitMs = 30_000 }).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("session-expired", await response.Problem(HttpStatusCode.Gone));
    }

    [Fact]
    public async Task A_semaphore_grants_up_to_its_permits()
    {
        var client = await silo.ReadyClientAsync();
        for (var i = 0; i < 2; i++)
        {
            await (await client.Post("/v1/locks/api-sem/acquire", new { sessionId = await client.Session(), mode = "semaphore", permits = 2 })).Json(HttpStatusCode.OK);
        }

        Assert.Equal("lock-busy", await (await client.Post("/v1/locks/api-sem/acquire", new { sessionId = await client.Session(), mode = "semaphore", permits = 2 })).Problem(HttpStatusCode.Conflict));
    }

    [Fact]
    public async Task Revoking_a_session_releases_its_lock_to_the_next_session()
    {
        var client = await silo.ReadyClientAsync();
        var (a, b) = (await client.Session(), await client.Session());
        await (await client.Post("/v1/locks/api-revoke/acquire", new { sessionId = a })).Json(HttpStatusCode.OK);
        await (await client.DeleteAsync($"/v1/sessions/{a}")).Json(HttpStatusCode.OK);
        await (await client.Post("/v1/locks/api-revoke/acquire", new { sessionId = b })).Json(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Permits_count_only_for_a_semaphore()
    {
        var client = await silo.ReadyClientAsync();
        var (a, b) = (await client.Session(), await client.Session());

        // docs/api.md: `permits` matters only for a semaphore. An exclusive acquire that names one
        // permit was refused before (400 invalid-argument, after taking a log entry).
        await (await client.Post("/v1/locks/api-permits/acquire", new { sessionId = a, mode = "exclusive", permits = 1 })).Json(HttpStatusCode.OK);
        Assert.Equal("lock-busy", await (await client.Post("/v1/locks/api-permits/acquire", new { sessionId = b, mode = "shared", permits = 5 })).Problem(HttpStatusCode.Conflict));
    }

    [Fact]
    public async Task Bad_lock_requests_get_a_4xx_and_change_nothing()
    {
        var client = await silo.ReadyClientAsync();
        var session = await client.Session();
        Assert.Equal("invalid-name", await (await client.Post("/v1/locks/bad%20name/acquire", new { sessionId = session })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.Post("/v1/locks/api-bad/acquire", new { sessionId = session, mode = "greedy" })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.Post("/v1/locks/api-bad/acquire", new { sessionId = session, waitMs = -1 })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("session-not-found", await (await client.Post("/v1/locks/api-bad/acquire", new { sessionId = 999_999_999 })).Problem(HttpStatusCode.NotFound));
        var content = new StringContent("{\"sessionId\": \"seven\"}", System.Text.Encoding.UTF8, "application/json");
        Assert.Equal("malformed-json", await (await client.PostAsync("/v1/locks/api-bad/acquire", content)).Problem(HttpStatusCode.BadRequest));
        var info = await (await client.GetAsync("/v1/locks/api-bad")).Json(HttpStatusCode.OK);
        Assert.Equal(0, info.GetProperty("holders").GetArrayLength());
        Assert.Equal(0, info.GetProperty("waiters").GetArrayLength());
    }
}
