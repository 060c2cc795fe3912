using System.CommandLine;
using System.Net;
using System.Text.Json;
using Coordination.Cli;
using Coordination.Client;
using Coordination.Client.Transactions;
using Coordination.Tests.Client;

namespace Coordination.Tests.Transactions;

/// <summary>
/// The distributed-transaction client methods and <c>coord dtx</c> against a scripted coordinator
/// (<see cref="FakeHandler"/>): what goes on the wire and how answers map. End-to-end tests run against the real coordinator.
/// </summary>
public sealed class DistributedTransactionClientTests
{
    private const string View = """
        {"id": "t-1", "state": "committing", "createdMs": 1763700000000, "deadlineMs": 1763700005000, "decidedMs": 1763700000100,
         "participants": [{"name": "a", "endpoint": "http://127.0.0.1:7001/tx", "vote": "commit", "acknowledged": true},
                          {"name": "b", "endpoint": "http://127.0.0.1:7002/tx", "vote": "commit", "acknowledged": false}]}
        """;

    private static string Preparing(string id = "t-1") =>
        $$"""{"id": "{{id}}", "state": "preparing", "createdMs": 1, "deadlineMs": 2, "participants": [{"name": "a", "endpoint": "http://127.0.0.1:7001/tx", "vote": "none", "acknowledged": false}]}""";

    [Fact]
    public async Task Begin_posts_the_participants_with_an_idempotency_key_and_maps_the_view()
    {
        var handler = new FakeHandler().Cluster("/", leader: 1).Json("POST", "/v1/distributed-transactions", View, HttpStatusCode.Accepted);
        using var client = ClientFixture.Create(handler);

        var view = await client.BeginDistributedTransactionAsync(new DistributedTransactionRequest(
            [new DistributedTransactionParticipant("a", new Uri("http://127.0.0.1:7001/tx"), JsonDocument.Parse("""{"account":"alice","delta":-100}""").RootElement)],
            Id: "t-1", PrepareTimeout: TimeSpan.FromSeconds(5)));

        var sent = handler.Requests.Single(r => r.Method == HttpMethod.Post);
        Assert.NotNull(sent.IdempotencyKey);
        using var body = JsonDocument.Parse(sent.Body!);
        Assert.Equal("t-1", body.RootElement.GetProperty("id").GetString());
        Assert.Equal(5000, body.RootElement.GetProperty("prepareTimeoutMs").GetInt32());
        var participant = body.RootElement.GetProperty("participants")[0];
        Assert.Equal("a", participant.GetProperty("name").GetString());
        Assert.Equal("http://127.0.0.1:7001/tx", participant.GetProperty("endpoint").GetString());
        Assert.Equal(-100, participant.GetProperty("work").GetProperty("delta").GetInt32());

        Assert.Equal("t-1", view.Id);
        Assert.Equal(DistributedTransactionState.Committing, view.State);
        Assert.True(view.IsDecided);
        Assert.True(view.IsCommitDecided);
        Assert.False(view.IsFinished);
        Assert.Equal(1763700000100, view.DecidedMs);
        Assert.Equal([ParticipantVoteState.Commit, ParticipantVoteState.Commit], view.Participants.Select(p => p.Vote));
        Assert.Equal([true, false], view.Participants.Select(p => p.Acknowledged));
    }

    [Fact]
    public async Task A_begin_without_an_id_omits_it_and_the_timeout()
    {
        var handler = new FakeHandler().Cluster("/", leader: 1).Json("POST", "/v1/distributed-transactions", Preparing(), HttpStatusCode.Accepted);
        using var client = ClientFixture.Create(handler);

        await client.BeginDistributedTransactionAsync(new DistributedTransactionRequest(
            [new DistributedTransactionParticipant("a", new Uri("http://127.0.0.1:7001/tx"), JsonDocument.Parse("null").RootElement)]));

        using var body = JsonDocument.Parse(handler.Requests.Single(r => r.Method == HttpMethod.Post).Body!);
        Assert.False(body.RootElement.TryGetProperty("id", out _));
        Assert.False(body.RootElement.TryGetProperty("prepareTimeoutMs", out _));
    }

    [Fact]
    public async Task Get_sends_waitMs_cut_to_the_silos_limit_and_an_unknown_transaction_is_null()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/distributed-transactions/t-1?waitMs=2500", View)
            .Json("GET", "/v1/distributed-transactions/t-1?waitMs=60000&until=finished", View)
            .Problem("GET", "/v1/distributed-transactions/nope", HttpStatusCode.NotFound, "not-found");
        using var client = ClientFixture.Create(handler);

        var view = await client.GetDistributedTransactionAsync("t-1", TimeSpan.FromMilliseconds(2500));
        await client.GetDistributedTransactionAsync("t-1", TimeSpan.FromMinutes(5), DistributedTransactionMilestone.Finished);
        var missing = await client.GetDistributedTransactionAsync("nope");

        Assert.Equal(DistributedTransactionState.Committing, view!.State);
        Assert.Null(missing);
    }

    [Fact]
    public async Task Waiting_polls_until_the_decision_and_for_finished_until_every_acknowledgement()
    {
        var finished = View.Replace("\"committing\"", "\"committed\"", StringComparison.Ordinal);
        var handler = new FakeHandler()
            .Json("GET", "/v1/distributed-transactions/t-1?waitMs=30000", Preparing(), times: 2)
            .Json("GET", "/v1/distributed-transactions/t-1?waitMs=30000", View)
            .Json("GET", "/v1/distributed-transactions/t-1?waitMs=30000&until=finished", View)
            .Json("GET", "/v1/distributed-transactions/t-1?waitMs=30000&until=finished", finished);
        using var client = ClientFixture.Create(handler);

        var decided = await client.WaitForDistributedTransactionAsync("t-1");
        var done = await client.WaitForDistributedTransactionAsync("t-1", DistributedTransactionMilestone.Finished);

        Assert.Equal(DistributedTransactionState.Committing, decided.State);
        Assert.Equal(DistributedTransactionState.Committed, done.State);
        Assert.Equal(5, handler.Requests.Count);
    }

    [Fact]
    public async Task Waiting_with_a_timeout_returns_the_last_view_once_it_passes()
    {
        var time = new ManualTimeProvider();
        var handler = new FakeHandler().When("GET", "/v1/distributed-transactions/t-1?waitMs=1000", (_, _) =>
        {
            time.Advance(TimeSpan.FromSeconds(1));
            return Task.FromResult(FakeHandler.Answer(HttpStatusCode.OK, Preparing(), "application/json"));
        });
        using var client = ClientFixture.Create(handler, o => o.TimeProvider = time);

        var view = await client.WaitForDistributedTransactionAsync("t-1", timeout: TimeSpan.FromSeconds(1));

        Assert.Equal(DistributedTransactionState.Preparing, view.State);
        Assert.Single(handler.Requests);
    }

    [Fact]
    public async Task Outcome_maps_commit_abort_and_pending()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/distributed-transactions/a/outcome", """{"id":"a","outcome":"commit"}""")
            .Json("GET", "/v1/distributed-transactions/b/outcome", """{"id":"b","outcome":"abort"}""")
            .Json("GET", "/v1/distributed-transactions/c/outcome", """{"id":"c","outcome":"pending"}""");
        using var client = ClientFixture.Create(handler);

        Assert.Equal(TransactionOutcome.Commit, await client.GetDistributedTransactionOutcomeAsync("a"));
        Assert.Equal(TransactionOutcome.Abort, await client.GetDistributedTransactionOutcomeAsync("b"));
        Assert.Equal(TransactionOutcome.Pending, await client.GetDistributedTransactionOutcomeAsync("c"));
    }

    [Fact]
    public async Task List_filters_by_state_name_and_limit()
    {
        var handler = new FakeHandler().Json("GET", "/v1/distributed-transactions?state=preparing&after=w&limit=10", $$"""{"transactions": [{{Preparing("x")}}, {{Preparing("y")}}]}""");
        using var client = ClientFixture.Create(handler);

        var list = await client.ListDistributedTransactionsAsync(DistributedTransactionState.Preparing, 10, after: "w");

        Assert.Equal(["x", "y"], list.Select(v => v.Id));
    }

    [Fact]
    public async Task Abort_after_a_commit_decision_is_refused_as_already_decided()
    {
        var handler = new FakeHandler().Cluster("/", leader: 1)
            .Json("POST", "/v1/distributed-transactions/t-2/abort", Preparing("t-2").Replace("preparing", "aborting", StringComparison.Ordinal))
            .Problem("POST", "/v1/distributed-transactions/t-1/abort", HttpStatusCode.Conflict, "already-decided");
        using var client = ClientFixture.Create(handler);

        var aborted = await client.AbortDistributedTransactionAsync("t-2", "operator");
        var refused = await Assert.ThrowsAsync<CoordinationException>(() => client.AbortDistributedTransactionAsync("t-1"));

        Assert.Equal(DistributedTransactionState.Aborting, aborted.State);
        Assert.Equal("""{"reason":"operator"}""", handler.Requests.First(r => r.PathAndQuery.EndsWith("t-2/abort", StringComparison.Ordinal)).Body);
        Assert.Equal(CoordinationError.AlreadyDecided, refused.Error);
        Assert.All(handler.Requests.Where(r => r.Method == HttpMethod.Post), r => Assert.NotNull(r.IdempotencyKey));
    }

    [Fact]
    public async Task Coord_dtx_begin_sends_each_participant_with_its_work_and_prints_the_view()
    {
        var handler = new FakeHandler().Cluster("/", leader: 1).Json("POST", "/v1/distributed-transactions", View, HttpStatusCode.Accepted);

        var run = await RunAsync(handler, ["dtx", "begin", "--id", "t-1", "--participant", "a=http://127.0.0.1:7001/tx", "--participant", "b=http://127.0.0.1:7002/tx", "--work", "a={\"delta\":-5}"]);

        Assert.Equal(0, run.Exit);
        using var body = JsonDocument.Parse(handler.Requests.Single(r => r.Method == HttpMethod.Post).Body!);
        Assert.Equal(-5, body.RootElement.GetProperty("participants")[0].GetProperty("work").GetProperty("delta").GetInt32());
        Assert.Equal(JsonValueKind.Null, body.RootElement.GetProperty("participants")[1].GetProperty("work").ValueKind);
        Assert.StartsWith("t-1  committing  created 2025-11-21 04:40:00.000Z", run.Output, StringComparison.Ordinal);
        Assert.Contains("b            http://127.0.0.1:7002/tx  commit  no", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Coord_dtx_show_list_outcome_and_abort_speak_the_coordinator_api()
    {
        var handler = new FakeHandler().Cluster("/", leader: 1)
            .Json("GET", "/v1/distributed-transactions/t-1?waitMs=2000", View)
            .Json("GET", "/v1/distributed-transactions?state=committing", $$"""{"transactions": [{{View}}]}""")
            .Json("GET", "/v1/distributed-transactions/t-1/outcome", """{"id":"t-1","outcome":"commit"}""")
            .Problem("POST", "/v1/distributed-transactions/t-1/abort", HttpStatusCode.Conflict, "already-decided");

        var show = await RunAsync(handler, ["--json", "dtx", "show", "t-1", "--wait", "2s"]);
        var list = await RunAsync(handler, ["dtx", "list", "--state", "committing"]);
        var outcome = await RunAsync(handler, ["dtx", "outcome", "t-1"]);
        var abort = await RunAsync(handler, ["dtx", "abort", "t-1"]);
        var badState = await RunAsync(handler, ["dtx", "list", "--state", "done"]);

        Assert.Equal("committing", JsonDocument.Parse(show.Output).RootElement.GetProperty("state").GetString());
        Assert.Contains("t-1  committing  2", list.Output, StringComparison.Ordinal);
        Assert.Equal("commit\n", outcome.Output);
        Assert.Equal(ExitCodes.Refused, abort.Exit);
        Assert.StartsWith("coord: already-decided:", abort.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, badState.Exit);
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(FakeHandler handler, string[] args)
    {
        var root = CoordCli.Build(urls => ClientFixture.Create(handler, null, urls.Select(u => u.ToString()).ToArray()), _ => null);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await root.Parse([.. args, "--endpoints", ClientFixture.A]).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }).WaitAsync(FakeHandler.WaitMax);
        return (exit, output.ToString().ReplaceLineEndings("\n"), error.ToString());
    }
}
