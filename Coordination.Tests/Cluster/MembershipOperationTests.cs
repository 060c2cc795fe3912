using System.Net;
using Coordination.Tests.Api;

namespace Coordination.Tests.Cluster;

/// <summary>Operators grow and shrink a running cluster of real silo processes, one silo at a time.</summary>
public sealed class MembershipOperationTests : IAsyncLifetime
{
    private SiloProcessCluster _cluster = null!;

    public Task InitializeAsync()
    {
        _cluster = new SiloProcessCluster(3);
        return _cluster.LeaderAsync();
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private static async Task<System.Text.Json.JsonElement> Until(Func<Task<HttpResponseMessage>> send, HttpStatusCode wanted)
    {
        // Bounded: catching up and committing take a few round trips.
        for (var attempt = 0; ; attempt++)
        {
            var response = await send();
            if (response.StatusCode == wanted || attempt >= 300)
            {
                return await response.Json(wanted);
            }

            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_silo_is_added_as_a_learner_promoted_once_caught_up_a_founder_is_removed_and_replaced_with_an_empty_disk()
    {
        var leader = await _cluster.LeaderAsync();
        using var client = _cluster.Client(leader);
        for (var i = 0; i < 20; i++)
        {
            await (await client.Put($"/v1/config/member-ops-{i}", new { value = i })).Json(HttpStatusCode.OK);
        }

        var (clientUrl, peerAddress) = _cluster.StartJoining(4);
        var follower = _cluster.Ids.First(id => id != leader && id != 4);
        using var viaFollower = _cluster.Client(follower);
        var added = await (await viaFollower.Post("/v1/cluster/members", new { id = 4, clientUrl, peerAddress })).Json(HttpStatusCode.OK);
        Assert.Contains(4UL, added.GetProperty("learners").EnumerateArray().Select(v => v.GetUInt64()));

        var promoted = await Until(() => client.Post("/v1/cluster/members/4/promote"), HttpStatusCode.OK);
        Assert.Contains(4UL, promoted.GetProperty("voters").EnumerateArray().Select(v => v.GetUInt64()));

        // The new silo has every document and serves linearizable reads.
        using var newcomer = _cluster.Client(4);
        var read = await Until(() => newcomer.GetAsync("/v1/config/member-ops-19"), HttpStatusCode.OK);
        Assert.Equal(19, read.GetProperty("value").GetInt32());

        var removed = await Until(() => client.DeleteAsync($"/v1/cluster/members/{follower}"), HttpStatusCode.OK);
        Assert.DoesNotContain(follower, removed.GetProperty("voters").EnumerateArray().Select(v => v.GetUInt64()));
        _cluster.Kill(follower);
        await (await client.Put("/v1/config/member-ops-after", new { value = 1 })).Json(HttpStatusCode.OK);
        Assert.Equal(1, (await Until(() => newcomer.GetAsync("/v1/config/member-ops-after"), HttpStatusCode.OK)).GetProperty("value").GetInt32());

        // The same operations through the .NET client (which the CLI's `coord cluster add|promote|remove` uses).
        using var coordination = new Coordination.Client.CoordinationClient(new Coordination.Client.CoordinationClientOptions { Endpoints = [.. _cluster.Ids.Where(_cluster.IsRunning).Select(_cluster.Url)] });
        var afterRemoval = await coordination.RemoveSiloAsync(4);
        Assert.DoesNotContain("4", afterRemoval.Voters.Select(v => v.ToString()));
        Assert.Equal(2, afterRemoval.Voters.Count);

        // Replace the removed silo with an empty disk under its old id: it rejoins as a learner.
        var (replacementUrl, replacementPeer) = _cluster.StartJoining(follower);
        await Until(() => client.Post("/v1/cluster/members", new { id = follower, clientUrl = replacementUrl, peerAddress = replacementPeer }), HttpStatusCode.OK);
        var replaced = await Until(() => client.Post($"/v1/cluster/members/{follower}/promote"), HttpStatusCode.OK);
        Assert.Contains(follower, replaced.GetProperty("voters").EnumerateArray().Select(v => v.GetUInt64()));
        using var replacement = _cluster.Client(follower);
        Assert.Equal(1, (await Until(() => replacement.GetAsync("/v1/config/member-ops-after"), HttpStatusCode.OK)).GetProperty("value").GetInt32());

        Assert.Equal("validation", await (await client.Post("/v1/cluster/members", new { id = 0 })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("invalid-membership-change", await (await client.Post("/v1/cluster/members/99/promote")).Problem(HttpStatusCode.Conflict));
    }
}
