using System.CommandLine;
using System.Net;
using System.Text.Json;
using Coordination.Cli;

namespace Coordination.Tests.Client;

public sealed class CliTests
{
    private sealed record Run(int Exit, string Output, string Error, IReadOnlyList<IList<Uri>> Endpoints);

    private static async Task<Run> RunAsync(FakeHandler handler, string[] args, Func<string, string?>? environment = null)
    {
        var endpoints = new List<IList<Uri>>();
        var root = CoordCli.Build(
            urls =>
            {
                endpoints.Add(urls);
                return ClientFixture.Create(handler, null, urls.Select(u => u.ToString()).ToArray());
            },
            environment ?? (_ => null));
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }).WaitAsync(FakeHandler.WaitMax);
        return new Run(exit, output.ToString().ReplaceLineEndings("\n"), error.ToString(), endpoints);
    }

    private static string Lines(params string[] lines) => string.Join("\n", lines) + "\n";

    [Fact]
    public async Task Endpoints_come_from_the_flag_then_COORD_ENDPOINTS_then_the_default()
    {
        var handler = new FakeHandler().Cluster("/", leader: 1, times: 3);
        Func<string, string?> environment = name => name == "COORD_ENDPOINTS" ? "http://b:5080, http://c:5080" : null;

        var byDefault = await RunAsync(handler, ["cluster", "status"]);
        var byEnvironment = await RunAsync(handler, ["cluster", "status"], environment);
        var byFlag = await RunAsync(handler, ["cluster", "status", "--endpoints", "http://a:5080"], environment);

        Assert.Equal([new Uri("http://127.0.0.1:5080")], byDefault.Endpoints.Single());
        Assert.Equal([new Uri("http://b:5080"), new Uri("http://c:5080")], byEnvironment.Endpoints.Single());
        Assert.Equal([new Uri("http://a:5080")], byFlag.Endpoints.Single());
        Assert.Equal(["127.0.0.1:5080", "b:5080", "a:5080"], handler.Requests.Select(r => r.Authority));
    }

    [Fact]
    public async Task Cluster_status_prints_an_aligned_table_by_default()
    {
        var handler = new FakeHandler().Cluster("/", leader: 2);

        var run = await RunAsync(handler, ["cluster", "status"]);

        Assert.Equal(0, run.Exit);
        Assert.Equal(
            Lines(
                "leader 2  term 4  commit 90  applied 90  log 1..90  (answered by 1, follower)",
                "NODE  ROLE    CLIENT URL     PEER    HTTP/2 URL",
                "1     voter   http://a:5080  a:5081  -",
                "2     leader  http://b:5080  b:5081  -",
                "3     voter   http://c:5080  c:5081  -"),
            run.Output);
    }

    [Fact]
    public async Task Cluster_status_says_when_newer_commands_are_held_back()
    {
        var handler = new FakeHandler().Json("GET", "/v1/cluster", """
            {"nodeId": 1, "role": "leader", "term": 4, "leader": 1, "commitIndex": 90, "appliedIndex": 90, "firstIndex": 1, "lastIndex": 90,
             "voters": [1], "learners": [], "members": [{"id": 1, "clientUrl": "http://a:5080", "peerAddress": "a:5081"}], "decodeLevel": 2, "commandLevel": 1}
            """, HttpStatusCode.OK);

        var run = await RunAsync(handler, ["cluster", "status"]);

        Assert.Equal(0, run.Exit);
        Assert.Contains("commands up to level 1 of the 2 this build decodes", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_output_is_one_document_per_line_for_scripts()
    {
        var handler = new FakeHandler().Cluster("/", leader: 2);

        var run = await RunAsync(handler, ["--json", "cluster", "status"]);

        var line = Assert.Single(run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var document = JsonDocument.Parse(line);
        Assert.Equal("2", document.RootElement.GetProperty("leader").GetString());
        Assert.Equal("http://c:5080", document.RootElement.GetProperty("members")[2].GetProperty("clientUrl").GetString());
    }

    [Fact]
    public async Task Lock_acquire_creates_a_session_waits_and_prints_the_fencing_token()
    {
        var handler = new FakeHandler()
            .Cluster("/", leader: 1)
            .SessionCreated(7, 10_000)
            .Json("POST", "/v1/locks/db/acquire", """{"name": "db", "token": 42}""");

        var run = await RunAsync(handler, ["lock", "acquire", "db", "--wait", "5s", "--ttl", "10s"]);

        Assert.Equal((0, ""), (run.Exit, run.Error));
        Assert.Equal(Lines("acquired db  token 42  session 7 (new, ttl 10s)"), run.Output);
        Assert.Equal("""{"ttlMs":10000}""", handler.Requests[1].Body);
        Assert.Equal("""{"sessionId":7,"mode":"exclusive","waitMs":5000,"maxHoldMs":0}""", handler.Requests[2].Body);
    }

    [Fact]
    public async Task Lock_acquire_with_hold_keeps_the_lock_until_cancelled_then_releases_it_and_ends_the_session()
    {
        var handler = new FakeHandler()
            .Cluster("/", leader: 1)
            .SessionCreated(7, 30_000)
            .Json("POST", "/v1/locks/db/acquire", """{"name": "db", "token": 42}""")
            .Json("POST", "/v1/locks/db/release", """{"name": "db", "token": 42, "waitersGranted": 0}""")
            .Json("DELETE", "/v1/sessions/7", """{"sessionId": 7}""");
        var root = CoordCli.Build(urls => ClientFixture.Create(handler, null, urls.Select(u => u.ToString()).ToArray()), _ => null);
        using var output = new StringWriter();
        using var interrupt = new CancellationTokenSource();

        var holding = root.Parse(["lock", "acquire", "db", "--hold"]).InvokeAsync(new InvocationConfiguration { Output = output, Error = output }, interrupt.Token);
        while ((await handler.NextRequestAsync()).PathAndQuery != "/v1/locks/db/acquire")
        {
        }

        Assert.False(holding.IsCompleted);
        await interrupt.CancelAsync();

        Assert.Equal(0, await holding.WaitAsync(FakeHandler.WaitMax));
        Assert.Equal(["/v1/cluster", "/v1/sessions", "/v1/locks/db/acquire", "/v1/locks/db/release", "/v1/sessions/7"], handler.Requests.Select(r => r.PathAndQuery));
        Assert.StartsWith("acquired db  token 42  session 7", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lock_acquire_on_a_busy_lock_for_an_existing_session_fails_with_the_error_code()
    {
        var handler = new FakeHandler()
            .Cluster("/", leader: 1)
            .Problem("POST", "/v1/locks/db/acquire", HttpStatusCode.Conflict, "lock-busy");

        var run = await RunAsync(handler, ["lock", "acquire", "db", "--session", "9", "--mode", "Shared"]);

        Assert.Equal(ExitCodes.Refused, run.Exit);
        Assert.StartsWith("coord: lock-busy:", run.Error, StringComparison.Ordinal);
        Assert.Equal("""{"sessionId":9,"mode":"shared","waitMs":0,"maxHoldMs":0}""", handler.Requests[^1].Body);
    }

    [Fact]
    public async Task Lock_release_sends_session_and_token_and_reports_in_json()
    {
        var handler = new FakeHandler()
            .Cluster("/", leader: 1)
            .Json("POST", "/v1/locks/db/release", """{"name": "db", "token": 42, "waitersGranted": 1}""");

        var run = await RunAsync(handler, ["lock", "release", "db", "--session", "7", "--token", "42", "--json"]);

        Assert.Equal(0, run.Exit);
        Assert.Equal("""{"sessionId":7,"token":42}""", handler.Requests[^1].Body);
        Assert.Equal(Lines("""{"name":"db","sessionId":7,"token":42,"waitersGranted":1}"""), run.Output);
    }

    [Fact]
    public async Task Lock_abandon_sends_the_session_and_reports_what_it_ended()
    {
        var handler = new FakeHandler()
            .Cluster("/", leader: 1)
            .Json("POST", "/v1/locks/db/abandon", """{"name": "db", "outcome": "released", "token": 42, "waitersGranted": 1}""");

        var run = await RunAsync(handler, ["lock", "abandon", "db", "--session", "7"]);

        Assert.Equal(0, run.Exit);
        Assert.Equal("""{"sessionId":7}""", handler.Requests[^1].Body);
        Assert.Equal(Lines("abandoned db  session 7: released (token 42)  waiters granted 1"), run.Output);
    }

    [Fact]
    public async Task Lock_release_without_its_required_options_sends_nothing()
    {
        var handler = new FakeHandler();

        var run = await RunAsync(handler, ["lock", "release", "db", "--token", "42"]);

        Assert.NotEqual(0, run.Exit);
        Assert.Contains("--session", run.Error, StringComparison.Ordinal);
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task Lock_inspect_lists_holders_then_waiters()
    {
        var handler = new FakeHandler().Json("GET", "/v1/locks/db", """
            {"name": "db", "permits": 1,
             "holders": [{"sessionId": 7, "mode": "exclusive", "token": 42, "sinceMs": 1763700000000, "revokeAtMs": null}],
             "waiters": [{"sessionId": 12, "mode": "exclusive", "queuedRevision": 50, "queuedAtMs": 1763700001000, "deadlineMs": 1763700006000}]}
            """);

        var run = await RunAsync(handler, ["lock", "inspect", "db"]);

        Assert.Equal(
            Lines(
                "db  permits 1  holders 1  waiters 1",
                "ROLE    SESSION  MODE       TOKEN/QUEUED  SINCE                     UNTIL",
                "holder  7        exclusive  42            2025-11-21 04:40:00.000Z  -",
                "waiter  12       exclusive  50            2025-11-21 04:40:01.000Z  2025-11-21 04:40:06.000Z"),
            run.Output);
    }

    [Fact]
    public async Task Config_put_sends_the_json_value_with_the_expected_version()
    {
        var handler = new FakeHandler()
            .Cluster("/", leader: 1)
            .Json("PUT", "/v1/config/app", """{"name": "app", "version": 4, "revision": 90}""");

        var run = await RunAsync(handler, ["config", "put", "app", """{"replicas": 3}""", "--expected-version", "3"]);

        Assert.Equal(Lines("wrote app  version 4  revision 90"), run.Output);
        Assert.Equal("""{"value":{"replicas":3},"expectedVersion":3}""", handler.Requests[^1].Body);
    }

    [Fact]
    public async Task Config_put_of_a_value_that_is_not_json_is_a_usage_error_that_sends_nothing()
    {
        var handler = new FakeHandler();

        var run = await RunAsync(handler, ["config", "put", "app", "{replicas"]);

        Assert.Equal(ExitCodes.Usage, run.Exit);
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task Config_get_prints_the_document_header_and_value_and_missing_is_an_error()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/config/app", """{"name": "app", "version": 3, "revision": 88, "writtenMs": 1763700000000, "value": {"replicas": 3}}""")
            .Problem("GET", "/v1/config/gone", HttpStatusCode.NotFound, "not-found");

        var found = await RunAsync(handler, ["config", "get", "app"]);
        var missing = await RunAsync(handler, ["config", "get", "gone"]);

        Assert.Equal(Lines("app  version 3  revision 88  written 2025-11-21 04:40:00.000Z", """{"replicas":3}"""), found.Output);
        Assert.Equal(ExitCodes.Refused, missing.Exit);
        Assert.StartsWith("coord: not-found:", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_history_and_rollback_print_tables_and_results()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/config/app/history", """{"name": "app", "versions": [{"version": 1, "revision": 10, "writtenMs": 1763700000000, "value": {"a": 1}}, {"version": 2, "revision": 12, "writtenMs": 1763700060000, "value": "two"}]}""")
            .Cluster("/", leader: 1)
            .Json("POST", "/v1/config/app/rollback", """{"name": "app", "version": 3, "revision": 14}""");

        var history = await RunAsync(handler, ["config", "history", "app"]);
        var rollback = await RunAsync(handler, ["config", "rollback", "app", "1"]);

        Assert.Equal(
            Lines(
                "VERSION  REVISION  WRITTEN                   VALUE",
                "1        10        2025-11-21 04:40:00.000Z  {\"a\":1}",
                "2        12        2025-11-21 04:41:00.000Z  \"two\""),
            history.Output);
        Assert.Equal(Lines("rolled back to version 1 as app  version 3  revision 14"), rollback.Output);
        Assert.Equal("""{"toVersion":1}""", handler.Requests[^1].Body);
    }

    [Fact]
    public async Task Config_watch_prints_changes_as_json_lines_and_stops_after_count()
    {
        var handler = new FakeHandler().Json("GET", "/v1/events?after=10&kind=config&name=app&waitMs=30000", """
            {"compacted": false, "resumeAfter": 12, "events": [
              {"revision": 11, "type": "config-put", "kind": "config", "name": "app", "version": 2},
              {"revision": 12, "type": "config-deleted", "kind": "config", "name": "app", "version": 2}]}
            """);

        var run = await RunAsync(handler, ["config", "watch", "app", "--after", "10", "--count", "2", "--json"]);

        Assert.Equal(
            Lines(
                """{"name":"app","revision":11,"type":"config-put","version":2,"document":null,"isResync":false}""",
                """{"name":"app","revision":12,"type":"config-deleted","version":2,"document":null,"isResync":false}"""),
            run.Output);
    }

    [Fact]
    public async Task Members_list_and_election_observe_print_readable_lines()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/groups/workers/members", """{"group": "workers", "members": [{"memberId": "w1", "sessionId": 7, "metadata": {"zone": "a"}, "joinedRevision": 3, "updatedRevision": 5}]}""")
            .Json("GET", "/v1/elections/primary", """{"name": "primary", "leader": null, "candidates": []}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "60"));

        var members = await RunAsync(handler, ["members", "list", "workers"]);
        var election = await RunAsync(handler, ["election", "observe", "primary", "--count", "1"]);

        Assert.Equal(Lines("MEMBER  SESSION  JOINED  UPDATED  METADATA", "w1      7        3       5        {\"zone\":\"a\"}"), members.Output);
        Assert.Equal(Lines("revision 60  no leader"), election.Output);
    }

    [Fact]
    public async Task Sessions_list_prints_ttl_deadline_and_attachments()
    {
        var handler = new FakeHandler().Json("GET", "/v1/sessions?after=0&limit=100", """
            {"sessions": [{"sessionId": 7, "ttlMs": 10000, "createdMs": 1763700000000, "deadlineMs": 1763700010000, "attachments": [{"kind": "lock", "name": "db"}, {"kind": "election", "name": "primary"}]},
                          {"sessionId": 8, "ttlMs": 1500, "createdMs": 1763700000000, "deadlineMs": 1763700001500, "attachments": []}]}
            """);

        var run = await RunAsync(handler, ["sessions", "list"]);

        Assert.Equal(
            Lines(
                "SESSION  TTL     CREATED                   DEADLINE                  HOLDS",
                "7        10s     2025-11-21 04:40:00.000Z  2025-11-21 04:40:10.000Z  lock:db, election:primary",
                "8        1500ms  2025-11-21 04:40:00.000Z  2025-11-21 04:40:01.500Z  -"),
            run.Output);
    }

    [Fact]
    public async Task A_malformed_endpoint_is_a_usage_error()
    {
        var run = await RunAsync(new FakeHandler(), ["cluster", "status", "--endpoints", "not a url"]);

        Assert.Equal(ExitCodes.Usage, run.Exit);
        Assert.Contains("not an absolute http(s) URL", run.Error, StringComparison.Ordinal);
    }
}
