using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Tests.Api;
using Microsoft.AspNetCore.Hosting;

namespace Coordination.Tests.Transactions;

/// <summary>
/// The two-phase-commit coordinator end to end on one real silo: REST in, the leader's driver out
/// to real HTTP participants on loopback, decisions through the replicated log.
/// </summary>
public sealed class DistributedTransactionApiTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static object Participant(string name, FakeParticipant p, object? work = null) => new { name, endpoint = p.Endpoint, work = work ?? new { amount = 5 } };

    private static async Task<JsonElement> WaitForState(HttpClient client, string id, string state)
    {
        var until = DateTime.UtcNow + Patience;
        JsonElement view = default;
        for (var round = 0; round < 2_000 && DateTime.UtcNow < until; round++)
        {
            view = await (await client.GetAsync($"/v1/distributed-transactions/{id}?waitMs=1000")).Json(HttpStatusCode.OK);
            if (view.GetProperty("state").GetString() == state)
            {
                return view;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"{id} did not reach {state} within {Patience}: {view}");
    }

    [Fact]
    public async Task A_begin_without_an_id_retried_with_its_idempotency_key_is_answered_as_the_first_was()
    {
        var client = await silo.ReadyClientAsync();
        await using var a = await FakeParticipant.StartAsync();
        var key = $"begin-{Guid.NewGuid():N}";
        async Task<JsonElement> Begin()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/distributed-transactions")
            {
                Content = JsonContent.Create(new { participants = new[] { Participant("a", a) } }),
            };
            request.Headers.Add("Idempotency-Key", key);
            return await (await client.SendAsync(request)).Json(HttpStatusCode.Accepted);
        }

        var first = await Begin();
        var retried = await Begin();
        Assert.Equal(first.GetProperty("id").GetString(), retried.GetProperty("id").GetString());
        await WaitForState(client, first.GetProperty("id").GetString()!, "committed");
    }

    [Fact]
    public async Task Every_yes_vote_commits_and_every_participant_hears_commit_once_acknowledged()
    {
        var client = await silo.ReadyClientAsync();
        await using var a = await FakeParticipant.StartAsync();
        await using var b = await FakeParticipant.StartAsync();

        var begun = await (await client.Post("/v1/distributed-transactions", new { id = "dtx-commit", participants = new[] { Participant("a", a, new { account = "alice", delta = -5 }), Participant("b", b) } })).Json(HttpStatusCode.Accepted);
        Assert.Equal("preparing", begun.GetProperty("state").GetString());

        var done = await WaitForState(client, "dtx-commit", "committed");
        Assert.All(done.GetProperty("participants").EnumerateArray(), p => Assert.Equal(("commit", true), (p.GetProperty("vote").GetString(), p.GetProperty("acknowledged").GetBoolean())));
        Assert.Equal((1, 1, 0), (a.Count("prepare", "dtx-commit"), a.Count("commit", "dtx-commit"), a.Count("abort", "dtx-commit")));
        Assert.Equal((1, 1), (b.Count("prepare", "dtx-commit"), b.Count("commit", "dtx-commit")));
        var prepare = JsonDocument.Parse(a.Received.First(r => r.Action == "prepare").Body).RootElement;
        Assert.Equal(("a", "alice", -5), (prepare.GetProperty("participant").GetString(), prepare.GetProperty("work").GetProperty("account").GetString(), prepare.GetProperty("work").GetProperty("delta").GetInt32()));
        Assert.Equal("commit", (await (await client.GetAsync("/v1/distributed-transactions/dtx-commit/outcome")).Json(HttpStatusCode.OK)).GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task One_no_vote_aborts_and_the_others_hear_abort()
    {
        var client = await silo.ReadyClientAsync();
        await using var a = await FakeParticipant.StartAsync();
        await using var b = await FakeParticipant.StartAsync();
        b.Vote = "abort";

        await (await client.Post("/v1/distributed-transactions", new { id = "dtx-no", participants = new[] { Participant("a", a), Participant("b", b) } })).Json(HttpStatusCode.Accepted);
        var done = await WaitForState(client, "dtx-no", "aborted");
        Assert.Contains("scripted refusal", done.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, a.Count("commit", "dtx-no") + b.Count("commit", "dtx-no"));
        Assert.True(a.Count("abort", "dtx-no") >= 1 || a.Count("prepare", "dtx-no") == 0, "a prepared participant must hear abort");
        Assert.Equal("abort", (await (await client.GetAsync("/v1/distributed-transactions/dtx-no/outcome")).Json(HttpStatusCode.OK)).GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task A_participant_that_never_votes_aborts_the_transaction_at_the_deadline()
    {
        var client = await silo.ReadyClientAsync();
        await using var a = await FakeParticipant.StartAsync();
        await using var silent = await FakeParticipant.StartAsync();
        silent.Vote = null;

        await (await client.Post("/v1/distributed-transactions", new { id = "dtx-silent", prepareTimeoutMs = 600, participants = new[] { Participant("a", a), Participant("silent", silent) } })).Json(HttpStatusCode.Accepted);
        Assert.Equal("pending", (await (await client.GetAsync("/v1/distributed-transactions/dtx-silent/outcome")).Json(HttpStatusCode.OK)).GetProperty("outcome").GetString());
        var done = await WaitForState(client, "dtx-silent", "aborted");
        Assert.Contains("presumed abort", done.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.True(silent.Count("prepare", "dtx-silent") >= 2, "prepare is retried until the deadline");
        Assert.Equal(0, a.Count("commit", "dtx-silent"));
    }

    [Fact]
    public async Task A_refused_delivery_is_retried_until_acknowledged()
    {
        var client = await silo.ReadyClientAsync();
        await using var a = await FakeParticipant.StartAsync();
        await using var b = await FakeParticipant.StartAsync();
        b.RefuseDeliveries = 3;

        await (await client.Post("/v1/distributed-transactions", new { id = "dtx-retry", participants = new[] { Participant("a", a), Participant("b", b) } })).Json(HttpStatusCode.Accepted);
        await WaitForState(client, "dtx-retry", "committed");
        Assert.Equal(4, b.Count("commit", "dtx-retry"));
        Assert.Equal(1, a.Count("commit", "dtx-retry"));
    }

    [Fact]
    public async Task An_undecided_transaction_can_be_aborted_and_a_committed_one_cannot()
    {
        var client = await silo.ReadyClientAsync();
        await using var a = await FakeParticipant.StartAsync();
        a.HoldPrepare = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        await (await client.Post("/v1/distributed-transactions", new { id = "dtx-admin", participants = new[] { Participant("a", a) } })).Json(HttpStatusCode.Accepted);
        var listed = await (await client.GetAsync("/v1/distributed-transactions?state=preparing")).Json(HttpStatusCode.OK);
        Assert.Contains("dtx-admin", listed.GetProperty("transactions").EnumerateArray().Select(t => t.GetProperty("id").GetString()));
        var aborted = await (await client.Post("/v1/distributed-transactions/dtx-admin/abort", new { reason = "operator" })).Json(HttpStatusCode.OK);
        Assert.Equal(("aborting", "operator"), (aborted.GetProperty("state").GetString(), aborted.GetProperty("reason").GetString()));
        a.HoldPrepare.SetResult();
        await WaitForState(client, "dtx-admin", "aborted");
        Assert.Equal(0, a.Count("commit", "dtx-admin"));

        await using var b = await FakeParticipant.StartAsync();
        await (await client.Post("/v1/distributed-transactions", new { id = "dtx-late", participants = new[] { Participant("b", b) } })).Json(HttpStatusCode.Accepted);
        await WaitForState(client, "dtx-late", "committed");
        Assert.Equal("already-decided", await (await client.Post("/v1/distributed-transactions/dtx-late/abort", new { })).Problem(HttpStatusCode.Conflict));
        var committed = await (await client.GetAsync("/v1/distributed-transactions?state=committed")).Json(HttpStatusCode.OK);
        Assert.Contains("dtx-late", committed.GetProperty("transactions").EnumerateArray().Select(t => t.GetProperty("id").GetString()));
    }

    private static StringContent Body(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    [Fact]
    public async Task Bad_requests_get_problems_and_unknown_transactions_are_presumed_aborted()
    {
        var client = await silo.ReadyClientAsync();
        Assert.Equal("abort", (await (await client.GetAsync("/v1/distributed-transactions/never-begun/outcome")).Json(HttpStatusCode.OK)).GetProperty("outcome").GetString());
        Assert.Equal("not-found", await (await client.GetAsync("/v1/distributed-transactions/never-begun")).Problem(HttpStatusCode.NotFound));
        Assert.Equal("not-found", await (await client.Post("/v1/distributed-transactions/never-begun/abort", new { })).Problem(HttpStatusCode.NotFound));
        Assert.Equal("validation", await (await client.Post("/v1/distributed-transactions", new { id = "dtx-bad", participants = new[] { new { name = "a" } } })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("invalid-argument", await (await client.Post("/v1/distributed-transactions", new { id = "dtx-bad", participants = new[] { new { name = "a", endpoint = "file:///etc/passwd", work = 1 } } })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("invalid-argument", await (await client.Post("/v1/distributed-transactions", new { id = "dtx-bad", prepareTimeoutMs = 5, participants = new[] { new { name = "a", endpoint = "http://127.0.0.1:1/tx", work = 1 } } })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("limit-exceeded", await (await client.Post("/v1/distributed-transactions", new { id = "dtx-bad", participants = Array.Empty<object>() })).Problem(HttpStatusCode.UnprocessableEntity));
        Assert.Equal("invalid-name", await (await client.Post("/v1/distributed-transactions", new { id = "bad id", participants = new[] { new { name = "a", endpoint = "http://127.0.0.1:1/tx", work = 1 } } })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.GetAsync("/v1/distributed-transactions?state=sideways")).Problem(HttpStatusCode.BadRequest));
        // A null element was a NullReferenceException (500); one endpoint twice would be one vote and one
        // commit for two pieces of work (a participant knows a transaction by its id alone).
        Assert.Equal("validation", await (await client.PostAsync("/v1/distributed-transactions", Body("""{"id": "dtx-bad", "participants": [null]}"""))).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.Post("/v1/distributed-transactions", new { id = "dtx-bad", participants = new[]
        {
            new { name = "from", endpoint = "http://127.0.0.1:1/tx", work = 1 },
            new { name = "to", endpoint = "HTTP://127.0.0.1:1/tx/", work = 2 },
        } })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.PostAsync("/v1/transactions", Body("""{"operations": [null]}"""))).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.PostAsync("/v1/transactions", Body("""{"conditions": [null], "operations": [{"type": "delete", "name": "x"}]}"""))).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.GetAsync("/v1/distributed-transactions?limit=0")).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("not-found", await (await client.GetAsync("/v1/distributed-transactions/dtx-bad")).Problem(HttpStatusCode.NotFound));
    }

    [Fact]
    public async Task A_participant_that_never_takes_its_decision_does_not_starve_new_transactions_of_driving_slots()
    {
        // One slot: before drivers yielded, the stuck delivery held it for good and every later
        // transaction aborted at its vote deadline without being prepared.
        using var factory = new SiloFactory();
        using var oneSlot = factory.WithWebHostBuilder(b => b
            .UseSetting("Coordination:Transactions:DrivenMax", "1")
            .UseSetting("Coordination:Transactions:DeliveryRoundMax", "00:00:00.300"));
        var client = await oneSlot.ReadyClientAsync();
        await using var gone = await FakeParticipant.StartAsync();
        await using var healthy = await FakeParticipant.StartAsync();
        gone.RefuseDeliveries = int.MaxValue;

        await (await client.Post("/v1/distributed-transactions", new { id = "dtx-stuck", participants = new[] { Participant("gone", gone) } })).Json(HttpStatusCode.Accepted);
        await WaitForState(client, "dtx-stuck", "committing");

        await (await client.Post("/v1/distributed-transactions", new { id = "dtx-after", prepareTimeoutMs = 5_000, participants = new[] { Participant("healthy", healthy) } })).Json(HttpStatusCode.Accepted);
        await WaitForState(client, "dtx-after", "committed");

        // The stuck one keeps getting its turn.
        var deliveries = gone.Count("commit", "dtx-stuck");
        var until = DateTime.UtcNow + Patience;
        while (gone.Count("commit", "dtx-stuck") == deliveries && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }

        Assert.True(gone.Count("commit", "dtx-stuck") > deliveries, "the stuck transaction was not delivered to again");
    }
}
