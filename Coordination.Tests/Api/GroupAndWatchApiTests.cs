using System.Net;
using System.Text.Json;
using Coordination.Grains;

namespace Coordination.Tests.Api;

public sealed class GroupAndWatchApiTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    [Fact]
    public async Task An_election_has_one_leader_with_a_token_and_the_next_candidate_takes_over_on_resign()
    {
        var client = await silo.ReadyClientAsync();
        var (a, b) = (await client.Session(), await client.Session());
        var first = await (await client.Post("/v1/elections/api-el/campaign", new { sessionId = a, value = "node-a" })).Json(HttpStatusCode.OK);
        Assert.True(first.GetProperty("leader").GetBoolean());
        var token = first.GetProperty("token").GetUInt64();
        var second = await (await client.Post("/v1/elections/api-el/campaign", new { sessionId = b, value = "node-b" })).Json(HttpStatusCode.OK);
        Assert.False(second.GetProperty("leader").GetBoolean());

        await (await client.Post("/v1/elections/api-el/proclaim", new { token, value = "node-a2" })).Json(HttpStatusCode.OK);
        Assert.Equal("wrong-token", await (await client.Post("/v1/elections/api-el/proclaim", new { token = token + 100, value = "x" })).Problem(HttpStatusCode.Conflict));
        Assert.Equal("node-a2", (await (await client.GetAsync("/v1/elections/api-el")).Json(HttpStatusCode.OK)).GetProperty("leader").GetProperty("value").GetString());

        await (await client.Post("/v1/elections/api-el/resign", new { sessionId = a })).Json(HttpStatusCode.OK);
        var now = await (await client.GetAsync("/v1/elections/api-el")).Json(HttpStatusCode.OK);
        Assert.Equal(b, now.GetProperty("leader").GetProperty("sessionId").GetUInt64());
        Assert.True(now.GetProperty("token").GetUInt64() > token);
    }

    [Fact]
    public async Task Members_join_update_leave_and_are_listed()
    {
        var client = await silo.ReadyClientAsync();
        var session = await client.Session();
        await (await client.Put("/v1/groups/api-svc/members/web-1", new { sessionId = session, metadata = new { port = 80 } })).Json(HttpStatusCode.OK);
        var generated = await (await client.Post("/v1/groups/api-svc/members", new { sessionId = await client.Session() })).Json(HttpStatusCode.Created);
        var generatedId = generated.GetProperty("memberId").GetString()!;
        Assert.StartsWith("_", generatedId);
        Assert.Equal("already-exists", await (await client.Put("/v1/groups/api-svc/members/web-1", new { sessionId = await client.Session() })).Problem(HttpStatusCode.Conflict));
        await (await client.PatchAsync("/v1/groups/api-svc/members/web-1", System.Net.Http.Json.JsonContent.Create(new { metadata = new { port = 81 } }))).Json(HttpStatusCode.OK);

        var members = (await (await client.GetAsync("/v1/groups/api-svc/members")).Json(HttpStatusCode.OK)).GetProperty("members").EnumerateArray().ToArray();
        Assert.Equal(81, members.Single(m => m.GetProperty("memberId").GetString() == "web-1").GetProperty("metadata").GetProperty("port").GetInt32());
        await (await client.DeleteAsync($"/v1/groups/api-svc/members/{generatedId}")).Json(HttpStatusCode.OK);
        Assert.Single((await (await client.GetAsync("/v1/groups/api-svc/members")).Json(HttpStatusCode.OK)).GetProperty("members").EnumerateArray());
        Assert.Equal("limit-exceeded", await (await client.Put("/v1/groups/api-svc/members/big", new { sessionId = await client.Session(), metadata = new string('m', 5_000) })).Problem(HttpStatusCode.UnprocessableEntity));
    }

    [Fact]
    public async Task A_long_poll_watch_returns_the_next_change_and_resumes_without_gaps()
    {
        var client = await silo.ReadyClientAsync();
        var start = (await (await client.Put("/v1/config/api-watched", new { value = 0 })).Json(HttpStatusCode.OK)).GetProperty("revision").GetUInt64();
        var poll = client.GetAsync($"/v1/events?after={start}&kind=config&name=api-watched&waitMs=20000");
        await (await client.Put("/v1/config/api-watched", new { value = 1 })).Json(HttpStatusCode.OK);
        await (await client.Put("/v1/config/api-watched", new { value = 2 })).Json(HttpStatusCode.OK);
        var page = await (await poll.WaitAsync(TimeSpan.FromSeconds(10))).Json(HttpStatusCode.OK);
        var versions = page.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("version").GetInt64()).ToList();
        Assert.Equal(2, versions[0]);
        if (versions.Count == 1)
        {
            var rest = await (await client.GetAsync($"/v1/events?after={page.GetProperty("resumeAfter").GetUInt64()}&kind=config&name=api-watched&waitMs=5000")).Json(HttpStatusCode.OK);
            versions.AddRange(rest.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("version").GetInt64()));
        }

        Assert.Equal([2L, 3L], versions);
        Assert.Equal("validation", await (await client.GetAsync("/v1/events?kind=planet")).Problem(HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task A_server_sent_event_stream_delivers_changes_with_their_revisions()
    {
        var client = await silo.ReadyClientAsync();
        var start = (await (await client.Put("/v1/config/api-sse", new { value = 0 })).Json(HttpStatusCode.OK)).GetProperty("revision").GetUInt64();
        using var response = await client.GetAsync($"/v1/events/stream?after={start}&kind=config&name=api-sse", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await (await client.Put("/v1/config/api-sse", new { value = 1 })).Json(HttpStatusCode.OK);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var lines = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!lines.Any(l => l.StartsWith("data:", StringComparison.Ordinal)))
        {
            lines.Add(await reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException());
        }

        Assert.Contains(lines, l => l.StartsWith("id: ", StringComparison.Ordinal) && ulong.Parse(l[4..], System.Globalization.CultureInfo.InvariantCulture) > start);
        Assert.Contains("\"type\":\"config-put\"", lines.Single(l => l.StartsWith("data:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_server_sent_event_stream_of_one_document_delivers_a_backlog_longer_than_a_page()
    {
        // The stream's first read returns one page (EventsPerPageMax); the rest of the backlog is in
        // the history only. Before the fix the stream then waited for the document's next event and
        // answered from its subscription, which held none of the backlog: every version between the
        // page's end and the next put was skipped, silently, and its id moved past them.
        var client = await silo.ReadyClientAsync();
        const string name = "api-sse-backlog";
        var start = (await (await client.Put($"/v1/config/{name}", new { value = 0 })).Json(HttpStatusCode.OK)).GetProperty("revision").GetUInt64();
        var backlog = Limits.EventsPerPageMax + 100;
        for (var v = 1; v <= backlog; v++)
        {
            await (await client.Put($"/v1/config/{name}", new { value = v })).Json(HttpStatusCode.OK);
        }

        using var response = await client.GetAsync($"/v1/events/stream?after={start}&kind=config&name={name}", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var versions = new List<long>();
        var last = backlog + 2; // version 1 was the put of value 0
        while (versions.Count == 0 || versions[^1] < last)
        {
            var line = await reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException();
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                versions.Add(JsonDocument.Parse(line[5..]).RootElement.GetProperty("version").GetInt64());
                if (versions.Count == Limits.EventsPerPageMax)
                {
                    // One more put once the first page is in: without the fix, the stream's next event.
                    await (await client.Put($"/v1/config/{name}", new { value = -1 })).Json(HttpStatusCode.OK);
                }
            }
        }

        Assert.Equal(Enumerable.Range(2, backlog + 1).Select(v => (long)v), versions);
    }

    [Fact]
    public async Task A_server_sent_event_stream_gives_a_revision_one_id_after_its_last_event()
    {
        var client = await silo.ReadyClientAsync();
        // A transaction is one entry: both puts are events of one revision.
        var applied = await (await client.Post("/v1/transactions", new
        {
            operations = new object[] { new { type = "put", name = "api-sse-tx-a", value = 1 }, new { type = "put", name = "api-sse-tx-b", value = 2 } },
        })).Json(HttpStatusCode.OK);
        var revision = applied.GetProperty("revision").GetUInt64();
        using var response = await client.GetAsync($"/v1/events/stream?after={revision - 1}&kind=config", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var lines = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (lines.Count(l => l.StartsWith("data:", StringComparison.Ordinal)) < 2)
        {
            lines.Add(await reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException());
        }

        var fields = lines.Where(l => l.Length > 0).Select(l => l.StartsWith("data:", StringComparison.Ordinal) ? "data: " + l[(l.IndexOf("api-sse-tx-", StringComparison.Ordinal) + "api-sse-tx-".Length)] : l);
        Assert.Equal(["event: change", "data: a", $"id: {revision}", "event: change", "data: b"], fields);
    }

    [Fact]
    public async Task Health_readiness_cluster_metrics_and_openapi_are_served()
    {
        var client = await silo.ReadyClientAsync();
        await (await client.GetAsync("/healthz")).Json(HttpStatusCode.OK);
        await (await client.GetAsync("/readyz")).Json(HttpStatusCode.OK);
        var cluster = await (await client.GetAsync("/v1/cluster")).Json(HttpStatusCode.OK);
        Assert.Equal("leader", cluster.GetProperty("role").GetString());
        var metrics = await (await client.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Contains("coordination_is_leader 1", metrics);
        Assert.Contains("coordination_log_sync_seconds_bucket", metrics);
        // The silo runs in this process (SiloFactory): a full collection here is one it must count.
        double Metric(string text, string name) => double.Parse(text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var gen2Before = Metric(metrics, "coordination_gc_collections{generation=\"2\"}");
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        var after = await (await client.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.True(Metric(after, "coordination_gc_collections{generation=\"2\"}") > gen2Before);
        Assert.True(Metric(after, "coordination_gc_pause_seconds") > 0);

        var openApi = await (await client.GetAsync("/openapi/v1.json")).Content.ReadAsStringAsync();
        Assert.Contains("/v1/locks/{name}/acquire", openApi);
        var committed = Path.Combine(RepositoryRoot(), "docs", "openapi.v1.json");
        if (Environment.GetEnvironmentVariable("UPDATE_OPENAPI") == "1")
        {
            await File.WriteAllTextAsync(committed, openApi);
        }

        Assert.True(File.Exists(committed), "docs/openapi.v1.json is committed (regenerate with UPDATE_OPENAPI=1)");
        Assert.Equal(await File.ReadAllTextAsync(committed), openApi);
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        for (var depth = 0; depth < 10 && directory is not null && !File.Exists(Path.Combine(directory.FullName, "Coordination.slnx")); depth++)
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("the repository root (Coordination.slnx) was not found");
    }
}
