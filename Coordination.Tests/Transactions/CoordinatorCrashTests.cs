using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Coordination.Tests.Api;
using Coordination.Tests.Cluster;

namespace Coordination.Tests.Transactions;

/// <summary>
/// The coordinator's leader is killed (SIGKILL) at each step of two-phase commit on a 3-process
/// cluster; the new leader must finish every transaction from the replicated state alone.
/// Participants are scripted HTTP servers in this process, so each step is reached exactly.
/// </summary>
public sealed class CoordinatorCrashTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private SiloProcessCluster _cluster = null!;

    public Task InitializeAsync()
    {
        _cluster = new SiloProcessCluster(3);
        return _cluster.LeaderAsync();
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_leader_killed_at_any_step_leaves_no_transaction_in_doubt()
    {
        await using var a = await FakeParticipant.StartAsync();
        await using var b = await FakeParticipant.StartAsync();

        // 1. Right after the begin commits, while nobody has voted (every prepare is refused so far).
        a.Vote = b.Vote = null;
        await Begin("crash-before-votes", a, b);
        await Until(() => a.Count("prepare", "crash-before-votes") >= 1 && b.Count("prepare", "crash-before-votes") >= 1);
        await KillLeaderAndRestart(() => a.Vote = b.Vote = "commit");
        await WaitForState("crash-before-votes", "committed");
        Assert.Equal((1, 1), (a.Count("commit", "crash-before-votes"), b.Count("commit", "crash-before-votes")));

        // 2. After some votes: b voted, a's prepare hangs.
        a.HoldPrepare = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Begin("crash-after-some-votes", a, b);
        await Until(async () => Vote(await View("crash-after-some-votes"), "b") == "commit" && a.Count("prepare", "crash-after-some-votes") >= 1);
        await KillLeaderAndRestart(() => a.HoldPrepare.SetResult());
        await WaitForState("crash-after-some-votes", "committed");
        Assert.True(a.Count("prepare", "crash-after-some-votes") >= 2, "the new leader asks the participant that had not voted again");
        Assert.Equal(1, b.Count("prepare", "crash-after-some-votes"));
        a.HoldPrepare = null;

        // 3. After the decision, before any delivery got through.
        a.RefuseDeliveries = b.RefuseDeliveries = int.MaxValue;
        await Begin("crash-before-delivery", a, b);
        await WaitForState("crash-before-delivery", "committing");
        await Until(() => a.Count("commit", "crash-before-delivery") >= 1 && b.Count("commit", "crash-before-delivery") >= 1);
        await KillLeaderAndRestart(() => a.RefuseDeliveries = b.RefuseDeliveries = 0);
        await WaitForState("crash-before-delivery", "committed");

        // 4. During delivery: a acknowledged, b has not.
        b.RefuseDeliveries = int.MaxValue;
        await Begin("crash-during-delivery", a, b);
        await Until(async () => Acknowledged(await View("crash-during-delivery"), "a"));
        await KillLeaderAndRestart(() => b.RefuseDeliveries = 0);
        var done = await WaitForState("crash-during-delivery", "committed");
        Assert.Equal(1, a.Count("commit", "crash-during-delivery"));
        Assert.All(done.GetProperty("participants").EnumerateArray(), p => Assert.True(p.GetProperty("acknowledged").GetBoolean()));

        // 5. An abort decision survives too: b votes no, a cannot be told yet.
        b.Vote = "abort";
        a.RefuseDeliveries = int.MaxValue;
        await Begin("crash-delivering-abort", a, b);
        await WaitForState("crash-delivering-abort", "aborting");
        await KillLeaderAndRestart(() => a.RefuseDeliveries = 0);
        await WaitForState("crash-delivering-abort", "aborted");
        Assert.Equal(0, a.Count("commit", "crash-delivering-abort") + b.Count("commit", "crash-delivering-abort"));

        // No participant ever heard both outcomes of one transaction.
        foreach (var participant in new[] { a, b })
        {
            var heard = participant.Received.Where(r => r.Action is "commit" or "abort").GroupBy(r => r.TransactionId);
            Assert.All(heard, g => Assert.Single(g.Select(r => r.Action).Distinct()));
        }
    }

    private async Task Begin(string id, FakeParticipant a, FakeParticipant b) =>
        await Retry(async client => await (await client.Post("/v1/distributed-transactions", new
        {
            id,
            prepareTimeoutMs = 60_000,
            participants = new[] { new { name = "a", endpoint = a.Endpoint, work = (object)new { n = 1 } }, new { name = "b", endpoint = b.Endpoint, work = (object)new { n = 2 } } },
        })).Json(HttpStatusCode.Accepted));

    private async Task KillLeaderAndRestart(Action thenAllow)
    {
        var leader = await _cluster.LeaderAsync();
        _cluster.Kill(leader);
        thenAllow();
        await _cluster.LeaderAsync(except: leader);
        _cluster.Start(leader);
    }

    private Task<JsonElement> View(string id) => Retry(async client => await (await client.GetAsync($"/v1/distributed-transactions/{id}")).Json(HttpStatusCode.OK));

    private static string? Vote(JsonElement view, string participant) =>
        view.GetProperty("participants").EnumerateArray().Single(p => p.GetProperty("name").GetString() == participant).GetProperty("vote").GetString();

    private static bool Acknowledged(JsonElement view, string participant) =>
        view.GetProperty("participants").EnumerateArray().Single(p => p.GetProperty("name").GetString() == participant).GetProperty("acknowledged").GetBoolean();

    private async Task<JsonElement> WaitForState(string id, string state)
    {
        JsonElement view = default;
        await Until(async () => (view = await View(id)).GetProperty("state").GetString() == state, $"{id} to reach {state}");
        return view;
    }

    private static Task Until(Func<bool> condition) => Until(() => Task.FromResult(condition()), "the condition");

    private static Task Until(Func<Task<bool>> condition, string what = "the condition") => ClusterCalls.Until(condition, what, Patience);

    private Task<T> Retry<T>(Func<HttpClient, Task<T>> attempt) => _cluster.Retry(attempt);

}
