using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Coordination.Tests.Api;

/// <summary>
/// A blocking acquire given up by its caller must not leave a grant to a session nobody waits on:
/// the silo abandons the wait when the request goes away, and <c>POST /v1/locks/{name}/abandon</c>
/// lets any caller do the same.
/// </summary>
public sealed class LockAbandonApiTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_blocking_acquire_whose_caller_gives_up_leaves_no_holder_behind()
    {
        var client = await silo.ReadyClientAsync();
        var (holder, gaveUp, next) = (await client.Session(), await client.Session(), await client.Session());
        var token = (await (await client.Post("/v1/locks/api-giveup/acquire", new { sessionId = holder })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        var before = await client.Applied();
        using var cancel = new CancellationTokenSource();
        var waiting = client.PostAsJsonAsync("/v1/locks/api-giveup/acquire", new { sessionId = gaveUp, waitMs = 60_000 }, cancel.Token);
        await EventAsync(client, "api-giveup", before, "lock-queued", gaveUp);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await (await client.Post("/v1/locks/api-giveup/release", new { sessionId = holder, token })).Json(HttpStatusCode.OK);

        // Before the fix the abandoned waiter took this release's grant and, kept alive, held the
        // lock for nobody: this acquire then ran out of its wait.
        var granted = await (await client.Post("/v1/locks/api-giveup/acquire", new { sessionId = next, waitMs = 10_000 }).WaitAsync(WaitMax)).Json(HttpStatusCode.OK);
        Assert.True(granted.GetProperty("token").GetUInt64() > token);
        var info = await (await client.GetAsync("/v1/locks/api-giveup")).Json(HttpStatusCode.OK);
        Assert.Equal(next, info.GetProperty("holders").EnumerateArray().Single().GetProperty("sessionId").GetUInt64());
        Assert.Equal(0, info.GetProperty("waiters").GetArrayLength());
        var attachments = (await (await client.GetAsync($"/v1/sessions/{gaveUp}")).Json(HttpStatusCode.OK)).GetProperty("attachments");
        Assert.Equal(0, attachments.GetArrayLength());
    }

    [Fact]
    public async Task Abandon_withdraws_a_wait_releases_a_hold_and_is_idempotent()
    {
        var client = await silo.ReadyClientAsync();
        var (holder, waiter) = (await client.Session(), await client.Session());
        var token = (await (await client.Post("/v1/locks/api-abandon/acquire", new { sessionId = holder })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        var before = await client.Applied();
        var waiting = client.Post("/v1/locks/api-abandon/acquire", new { sessionId = waiter, waitMs = 60_000 });
        await EventAsync(client, "api-abandon", before, "lock-queued", waiter);

        var withdrawn = await (await client.Post("/v1/locks/api-abandon/abandon", new { sessionId = waiter })).Json(HttpStatusCode.OK);
        Assert.Equal("withdrawn", withdrawn.GetProperty("outcome").GetString());
        Assert.Equal(JsonValueKind.Null, withdrawn.GetProperty("token").ValueKind);
        // The waiting request sees its wait end.
        Assert.Equal("lock-wait-timeout", await (await waiting.WaitAsync(WaitMax)).Problem(HttpStatusCode.Conflict));

        var released = await (await client.Post("/v1/locks/api-abandon/abandon", new { sessionId = holder })).Json(HttpStatusCode.OK);
        Assert.Equal(("released", token, 0), (released.GetProperty("outcome").GetString(), released.GetProperty("token").GetUInt64(), released.GetProperty("waitersGranted").GetInt32()));
        var again = await (await client.Post("/v1/locks/api-abandon/abandon", new { sessionId = holder })).Json(HttpStatusCode.OK);
        Assert.Equal(("api-abandon", "none"), (again.GetProperty("name").GetString(), again.GetProperty("outcome").GetString()));
        var info = await (await client.GetAsync("/v1/locks/api-abandon")).Json(HttpStatusCode.OK);
        Assert.Equal((0, 0), (info.GetProperty("holders").GetArrayLength(), info.GetProperty("waiters").GetArrayLength()));
    }

    [Fact]
    public async Task Bad_abandon_requests_get_a_4xx_and_change_nothing()
    {
        var client = await silo.ReadyClientAsync();
        var session = await client.Session();
        var token = (await (await client.Post("/v1/locks/api-abandon-bad/acquire", new { sessionId = session })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        Assert.Equal("invalid-name", await (await client.Post("/v1/locks/bad%20name/abandon", new { sessionId = session })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.Post("/v1/locks/api-abandon-bad/abandon", new { })).Problem(HttpStatusCode.BadRequest));
        var content = new StringContent("{\"sessionId\": \"seven\"}", System.Text.Encoding.UTF8, "application/json");
        Assert.Equal("malformed-json", await (await client.PostAsync("/v1/locks/api-abandon-bad/abandon", content)).Problem(HttpStatusCode.BadRequest));
        var holder = (await (await client.GetAsync("/v1/locks/api-abandon-bad")).Json(HttpStatusCode.OK)).GetProperty("holders").EnumerateArray().Single();
        Assert.Equal((session, token), (holder.GetProperty("sessionId").GetUInt64(), holder.GetProperty("token").GetUInt64()));
    }

    /// <summary>Long-polls the lock's events after <paramref name="after"/> until one of <paramref name="type"/> for <paramref name="sessionId"/> (bounded).</summary>
    private static async Task EventAsync(HttpClient client, string name, ulong after, string type, ulong sessionId)
    {
        using var bound = new CancellationTokenSource(WaitMax);
        for (var round = 0; round < 100; round++)
        {
            var page = await (await client.GetAsync($"/v1/events?after={after}&kind=lock&name={name}&waitMs=5000", bound.Token)).Json(HttpStatusCode.OK);
            if (page.GetProperty("events").EnumerateArray().Any(e => e.GetProperty("type").GetString() == type && e.GetProperty("sessionId").GetUInt64() == sessionId))
            {
                return;
            }

            after = page.GetProperty("resumeAfter").GetUInt64();
        }

        Assert.Fail($"no {type} event of session {sessionId} on lock {name}");
    }
}
