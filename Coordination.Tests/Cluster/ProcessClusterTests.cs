using System.Net;
using System.Text;
using Coordination.Tests.Api;

namespace Coordination.Tests.Cluster;

/// <summary>Three real silo processes on loopback; leaders are killed with SIGKILL.</summary>
public sealed class ProcessClusterTests : IAsyncLifetime
{
    private SiloProcessCluster _cluster = null!;

    public Task InitializeAsync()
    {
        _cluster = new SiloProcessCluster(3);
        return _cluster.LeaderAsync();
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private async Task<T> Retry<T>(Func<Task<T>> attempt)
    {
        // A client during failover: retry refusals (no leader yet) within a bound.
        for (var i = 0; ; i++)
        {
            try
            {
                return await attempt();
            }
            catch (Exception e) when (i < 200 && e is HttpRequestException or TaskCanceledException or Xunit.Sdk.XunitException)
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task Any_silo_accepts_a_write_and_every_silo_reads_it_linearizably()
    {
        var leader = await _cluster.LeaderAsync();
        var follower = _cluster.Ids.First(id => id != leader);
        using var viaFollower = _cluster.Client(follower);
        var written = await (await viaFollower.Put("/v1/config/cluster-app", new { value = new { x = 1 } })).Json(HttpStatusCode.OK);
        var revision = written.GetProperty("revision").GetUInt64();
        foreach (var id in _cluster.Ids)
        {
            using var client = _cluster.Client(id);
            var read = await client.GetAsync("/v1/config/cluster-app");
            var body = await read.Json(HttpStatusCode.OK);
            Assert.Equal(1, body.GetProperty("value").GetProperty("x").GetInt32());
            Assert.True(ulong.Parse(read.Headers.GetValues("X-Coordination-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture) >= revision);
        }

        using var stale = _cluster.Client(follower);
        var staleRead = await stale.GetAsync("/v1/config/cluster-app?consistency=stale");
        Assert.Equal("true", staleRead.Headers.GetValues("X-Coordination-Stale").Single());
        Assert.True(staleRead.Headers.Contains("X-Coordination-Leader-Contact-Ms"));
    }

    [Fact]
    public async Task After_the_leader_is_killed_a_held_lock_stays_held_its_token_fences_and_writes_continue()
    {
        var leader = await _cluster.LeaderAsync();
        var survivor = _cluster.Ids.First(id => id != leader);
        using var client = _cluster.Client(survivor);
        var holder = await client.Session(20_000);
        var other = await client.Session(20_000);
        var token = (await (await client.Post("/v1/locks/cluster-lock/acquire", new { sessionId = holder })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        await (await client.Put("/v1/config/cluster-guarded/fenced", new { value = "v1", lockName = "cluster-lock", token })).Json(HttpStatusCode.OK);

        _cluster.Kill(leader);
        var next = await _cluster.LeaderAsync(except: leader);
        Assert.NotEqual(leader, next);

        // The new leader extended every session: the lock is still held by the same session and token.
        var info = await Retry(async () => await (await client.GetAsync("/v1/locks/cluster-lock")).Json(HttpStatusCode.OK));
        Assert.Equal((holder, token), (info.GetProperty("holders")[0].GetProperty("sessionId").GetUInt64(), info.GetProperty("holders")[0].GetProperty("token").GetUInt64()));
        Assert.Equal("lock-busy", await Retry(async () => await (await client.Post("/v1/locks/cluster-lock/acquire", new { sessionId = other })).Problem(HttpStatusCode.Conflict)));

        // The holder keeps writing with its token; after it releases, the next holder's token fences it out.
        await Retry(async () => await (await client.Put("/v1/config/cluster-guarded/fenced", new { value = "v2", lockName = "cluster-lock", token })).Json(HttpStatusCode.OK));
        await (await client.Post("/v1/locks/cluster-lock/release", new { sessionId = holder, token })).Json(HttpStatusCode.OK);
        var newer = (await (await client.Post("/v1/locks/cluster-lock/acquire", new { sessionId = other })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        Assert.True(newer > token);
        Assert.Equal(409, (int)(await client.Put("/v1/config/cluster-guarded/fenced", new { value = "stale", lockName = "cluster-lock", token })).StatusCode);
        Assert.Equal("v2", (await (await client.GetAsync("/v1/config/cluster-guarded")).Json(HttpStatusCode.OK)).GetProperty("value").GetString());

        // The killed silo comes back and catches up from its own log and the leader.
        _cluster.Start(leader);
        using var restarted = _cluster.Client(leader);
        var caughtUp = await Retry(async () => await (await restarted.GetAsync("/v1/config/cluster-guarded")).Json(HttpStatusCode.OK));
        Assert.Equal("v2", caughtUp.GetProperty("value").GetString());
    }

    [Fact]
    public async Task A_watch_sees_every_change_in_order_across_a_leader_kill_without_gaps_or_duplicates()
    {
        var leader = await _cluster.LeaderAsync();
        var watcherSilo = _cluster.Ids.First(id => id != leader);
        using var writer = _cluster.Client(watcherSilo);
        using var watcher = _cluster.Client(watcherSilo);
        var start = (await (await writer.Put("/v1/config/cluster-watched", new { value = 0 })).Json(HttpStatusCode.OK)).GetProperty("revision").GetUInt64();

        const int writes = 20;
        var seen = new List<long>();
        var after = start;
        var watching = Task.Run(async () =>
        {
            for (var round = 0; round < 1_000 && seen.Count < writes; round++)
            {
                var page = await Retry(async () => await (await watcher.GetAsync($"/v1/events?after={after}&kind=config&name=cluster-watched&waitMs=2000")).Json(HttpStatusCode.OK));
                Assert.False(page.GetProperty("compacted").GetBoolean());
                seen.AddRange(page.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("version").GetInt64()));
                after = page.GetProperty("resumeAfter").GetUInt64();
            }
        });

        for (var i = 1; i <= writes; i++)
        {
            if (i == writes / 2)
            {
                _cluster.Kill(leader);
            }

            var key = $"watch-write-{i}";
            await Retry(async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Put, "/v1/config/cluster-watched") { Content = System.Net.Http.Json.JsonContent.Create(new { value = i }) };
                request.Headers.Add("Idempotency-Key", key);
                return await (await writer.SendAsync(request)).Json(HttpStatusCode.OK);
            });
        }

        await watching.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(2, writes).Select(v => (long)v), seen);
    }

    [Fact]
    public async Task A_watch_on_a_silo_cut_off_from_every_other_says_no_leader_instead_of_waiting_forever()
    {
        // Before, a silo that could hear no leader answered empty pages for as long as that lasted,
        // and its watchers never learnt that the cluster had moved on without it.
        var leader = await _cluster.LeaderAsync();
        var alone = _cluster.Ids.First(id => id != leader);
        using var client = _cluster.Client(alone);
        var start = (await (await client.Put("/v1/config/cluster-cutoff", new { value = 0 })).Json(HttpStatusCode.OK)).GetProperty("revision").GetUInt64();
        using var streamClient = _cluster.Client(alone);
        using var stream = await streamClient.GetAsync($"/v1/events/stream?after={start}&kind=config&name=cluster-cutoff", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        foreach (var id in _cluster.Ids.Where(id => id != alone))
        {
            _cluster.Kill(id);
        }

        // Long-polls: empty pages while the silo may yet hear from a leader, then 503 no-leader.
        string? code = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var round = 0; round < 100 && code is null && clock.Elapsed < TimeSpan.FromSeconds(20); round++)
        {
            var response = await client.GetAsync($"/v1/events?after={start}&kind=config&name=cluster-cutoff&waitMs=500");
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                code = await response.Problem(HttpStatusCode.ServiceUnavailable);
            }
            else
            {
                Assert.Empty((await response.Json(HttpStatusCode.OK)).GetProperty("events").EnumerateArray());
            }
        }

        Assert.Equal("no-leader", code);

        // The stream opened before says so too, and ends (a client reconnects, to another silo).
        var body = await stream.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Contains("event: no-leader", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_input_on_a_real_server_gets_a_4xx_and_changes_nothing()
    {
        var leader = await _cluster.LeaderAsync();
        using var client = _cluster.Client(leader);
        await (await client.Put("/v1/config/cluster-bad", new { value = "kept" })).Json(HttpStatusCode.OK);
        var huge = new StringContent("{\"value\":\"" + new string('x', 400_000) + "\"}", Encoding.UTF8, "application/json");
        Assert.Equal("body-too-large", await (await client.PutAsync("/v1/config/cluster-bad", huge)).Problem(HttpStatusCode.RequestEntityTooLarge));
        var malformed = new StringContent("{\"value\": ", Encoding.UTF8, "application/json");
        Assert.Equal("malformed-json", await (await client.PutAsync("/v1/config/cluster-bad", malformed)).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("invalid-name", await (await client.GetAsync("/v1/config/%2Fbad")).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("not-found", await (await client.Post("/v1/elections/cluster-el/proclaim", new { token = 12345, value = 1 })).Problem(HttpStatusCode.NotFound));
        var kept = await (await client.GetAsync("/v1/config/cluster-bad")).Json(HttpStatusCode.OK);
        Assert.Equal(("kept", 1), (kept.GetProperty("value").GetString(), kept.GetProperty("version").GetInt32()));
    }
}
