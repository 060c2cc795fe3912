using System.Net;
using Coordination.Client;

namespace Coordination.Tests.Client;

public sealed class WatchTests
{
    private const string Poll = "/v1/events?after={0}&kind={1}&name={2}&waitMs=30000";

    private static string Events(string kind, string name, long after) => string.Format(System.Globalization.CultureInfo.InvariantCulture, Poll, after, kind, name);

    private static string Page(long resumeAfter, params (long Revision, string Type, long? Version)[] events) =>
        $$"""{"compacted": false, "resumeAfter": {{resumeAfter}}, "events": [{{string.Join(",", events.Select(e =>
            $$"""{"revision": {{e.Revision}}, "type": "{{e.Type}}", "kind": "config", "name": "app", "version": {{e.Version?.ToString() ?? "null"}}}"""))}}]}""";

    private static async Task<List<T>> TakeAsync<T>(IAsyncEnumerable<T> source, int count)
    {
        var taken = new List<T>();
        using var bound = new CancellationTokenSource(FakeHandler.WaitMax);
        await foreach (var item in source.WithCancellation(bound.Token))
        {
            taken.Add(item);
            if (taken.Count == count)
            {
                break;
            }
        }

        return taken;
    }

    [Fact]
    public async Task A_config_watch_resumes_after_a_dropped_connection_without_gaps_or_duplicates()
    {
        var handler = new FakeHandler()
            .Json("GET", Events("config", "app", 10), Page(12, (11, "config-put", 2), (12, "config-put", 3)))
            .Refuse("GET", Events("config", "app", 12))
            .Problem("GET", Events("config", "app", 12), HttpStatusCode.ServiceUnavailable, "no-leader")
            // The silo answers from the revision asked for; a replayed event (12) must not come out twice.
            .Json("GET", Events("config", "app", 12), Page(14, (12, "config-put", 3), (13, "config-deleted", 3), (14, "config-put", 1)));
        using var client = ClientFixture.Create(handler);

        var changes = await TakeAsync(client.WatchConfigAsync("app", afterRevision: 10), 4);

        Assert.Equal([11L, 12, 13, 14], changes.Select(c => c.Revision));
        Assert.Equal(["config-put", "config-put", "config-deleted", "config-put"], changes.Select(c => c.Type));
        Assert.Equal([2L, 3, 3, 1], changes.Select(c => c.Version ?? -1));
        Assert.Equal(4, handler.Requests.Count);
    }

    [Fact]
    public async Task An_event_watch_yields_every_event_of_a_revision_and_resumes_after_it()
    {
        // One entry releases the lock and grants it to the next waiter: two events, one revision.
        var handler = new FakeHandler()
            .Json("GET", "/v1/events?after=40&kind=lock&name=db&waitMs=30000", """{"compacted": false, "resumeAfter": 41, "events": [{"revision": 41, "type": "lock-released", "kind": "lock", "name": "db", "sessionId": 7}, {"revision": 41, "type": "lock-granted", "kind": "lock", "name": "db", "sessionId": 8, "token": 41}]}""")
            .Json("GET", "/v1/events?after=41&kind=lock&name=db&waitMs=30000", """{"compacted": false, "resumeAfter": 42, "events": [{"revision": 42, "type": "lock-released", "kind": "lock", "name": "db", "sessionId": 8}]}""");
        using var client = ClientFixture.Create(handler);

        var events = await TakeAsync(client.WatchEventsAsync(40, "lock", "db"), 3);

        Assert.Equal([(41L, "lock-released", 7L), (41, "lock-granted", 8), (42, "lock-released", 8)], events.Select(e => (e.Revision, e.Type, e.SessionId ?? 0)));
        Assert.Equal(2, handler.Requests.Count);
    }

    [Fact]
    public async Task A_membership_watch_yields_every_member_that_expired_in_one_revision()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/groups/workers/members", """{"group": "workers", "members": []}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "30"))
            .Json("GET", Events("membership", "workers", 30), """{"compacted": false, "resumeAfter": 31, "events": [{"revision": 31, "type": "member-expired", "kind": "membership", "name": "workers", "sessionId": 7, "subject": "w1"}, {"revision": 31, "type": "member-expired", "kind": "membership", "name": "workers", "sessionId": 7, "subject": "w2"}]}""");
        using var client = ClientFixture.Create(handler);

        var changes = await TakeAsync(client.WatchMembersAsync("workers"), 3);

        Assert.Equal([(31L, "w1"), (31, "w2")], changes.Skip(1).Select(c => (c.Revision, c.MemberId!)));
    }

    [Fact]
    public async Task A_config_watch_keeps_polling_from_the_same_revision_when_every_retry_fails()
    {
        var handler = new FakeHandler()
            .Refuse("GET", Events("config", "app", 5), times: 4)
            .Json("GET", Events("config", "app", 5), Page(6, (6, "config-put", 1)));
        using var client = ClientFixture.Create(handler, o => o.RetryAttemptsMax = 1);

        var change = Assert.Single(await TakeAsync(client.WatchConfigAsync("app", afterRevision: 5), 1));

        Assert.Equal(6, change.Revision);
        Assert.Equal(5, handler.Requests.Count);
    }

    [Fact]
    public async Task A_config_watch_starts_with_the_current_document_and_resyncs_after_compaction()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/config/app", """{"name": "app", "version": 3, "revision": 20, "writtenMs": 1, "value": "v3"}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "25"))
            .Json("GET", Events("config", "app", 25), """{"compacted": true, "resumeAfter": 40, "events": []}""")
            .Json("GET", "/v1/config/app", """{"name": "app", "version": 5, "revision": 44, "writtenMs": 2, "value": "v5"}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "45"))
            .Json("GET", Events("config", "app", 45), Page(46, (46, "config-put", 6)));
        using var client = ClientFixture.Create(handler);

        var changes = await TakeAsync(client.WatchConfigAsync("app"), 3);

        Assert.True(changes[0].IsResync);
        Assert.Equal((25L, "v3"), (changes[0].Revision, changes[0].Document!.Value.GetString()));
        Assert.True(changes[1].IsResync);
        Assert.Equal((45L, 5L, "v5"), (changes[1].Revision, changes[1].Version ?? 0, changes[1].Document!.Value.GetString()));
        Assert.Equal((46L, "config-put", 6L), (changes[2].Revision, changes[2].Type, changes[2].Version ?? 0));
    }

    [Fact]
    public async Task A_generic_event_watch_refuses_to_skip_compacted_history()
    {
        var handler = new FakeHandler().Json("GET", "/v1/events?after=3&waitMs=30000", """{"compacted": true, "resumeAfter": 9, "events": []}""");
        using var client = ClientFixture.Create(handler);

        var error = await Assert.ThrowsAsync<CoordinationException>(() => TakeAsync(client.WatchEventsAsync(3), 1));

        Assert.Equal(("compacted", 9L), (error.Code, error.Revision ?? 0));
    }

    [Fact]
    public async Task An_election_observer_sees_the_leader_then_no_leader_then_a_new_leader()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/elections/primary", """{"name": "primary", "leader": {"sessionId": 7, "value": "a", "joinedMs": 1}, "token": 51, "sinceMs": 1, "candidates": []}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "60"))
            .Json("GET", Events("election", "primary", 60), """{"compacted": false, "resumeAfter": 61, "events": [{"revision": 61, "type": "no-leader", "kind": "election", "name": "primary"}]}""")
            .Json("GET", "/v1/elections/primary", """{"name": "primary", "leader": null, "token": null, "candidates": []}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "61"))
            .Json("GET", Events("election", "primary", 61), """{"compacted": false, "resumeAfter": 70, "events": []}""")
            .Json("GET", Events("election", "primary", 70), """{"compacted": false, "resumeAfter": 72, "events": [{"revision": 72, "type": "leader-elected", "kind": "election", "name": "primary", "sessionId": 8, "token": 72}]}""")
            .Json("GET", "/v1/elections/primary", """{"name": "primary", "leader": {"sessionId": 8, "value": "b", "joinedMs": 2}, "token": 72, "sinceMs": 2, "candidates": []}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "72"));
        using var client = ClientFixture.Create(handler);

        var seen = await TakeAsync(client.ObserveElectionAsync("primary"), 3);

        Assert.Equal(
            [new ElectionObservation("primary", 60, 7, 51, null), new ElectionObservation("primary", 61, null, null, null), new ElectionObservation("primary", 72, 8, 72, null)],
            seen.Select(o => o with { Value = null }));
        Assert.Equal(["a", null, "b"], seen.Select(o => o.Value?.GetString()));
        Assert.False(seen[1].HasLeader);
    }

    [Fact]
    public async Task A_queued_candidate_returns_its_token_once_the_observer_sees_it_lead()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .SessionCreated(8, 3000)
            .Json("POST", "/v1/elections/primary/campaign", """{"name": "primary", "leader": false, "position": 1}""")
            .Json("GET", "/v1/elections/primary", """{"name": "primary", "leader": {"sessionId": 7, "value": null, "joinedMs": 1}, "token": 51, "candidates": []}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "60"))
            .Json("GET", Events("election", "primary", 60), """{"compacted": false, "resumeAfter": 62, "events": [{"revision": 62, "type": "leader-elected", "kind": "election", "name": "primary", "sessionId": 8, "token": 62}]}""")
            .Json("GET", "/v1/elections/primary", """{"name": "primary", "leader": {"sessionId": 8, "value": "me", "joinedMs": 1}, "token": 62, "candidates": []}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "62"));
        using var client = ClientFixture.Create(handler, o => o.TimeProvider = new ManualTimeProvider());
        var session = await client.CreateSessionAsync(TimeSpan.FromSeconds(3));

        var token = await session.CampaignUntilLeaderAsync("primary", System.Text.Json.JsonDocument.Parse("\"me\"").RootElement).WaitAsync(FakeHandler.WaitMax);

        Assert.Equal(62, token);
        Assert.Equal("""{"sessionId":8,"value":"me"}""", handler.Requests.Single(r => r.PathAndQuery.EndsWith("/campaign", StringComparison.Ordinal)).Body);
    }

    [Fact]
    public async Task A_membership_watch_lists_the_group_then_yields_each_member_event()
    {
        var handler = new FakeHandler()
            .Json("GET", "/v1/groups/workers/members", """{"group": "workers", "members": [{"memberId": "w1", "sessionId": 7, "metadata": {"zone": "a"}, "joinedRevision": 3, "updatedRevision": 3}]}""", HttpStatusCode.OK, 1, ("X-Coordination-Revision", "30"))
            .Json("GET", Events("membership", "workers", 30), """{"compacted": false, "resumeAfter": 32, "events": [{"revision": 31, "type": "member-joined", "kind": "membership", "name": "workers", "sessionId": 9, "subject": "w2"}, {"revision": 32, "type": "member-expired", "kind": "membership", "name": "workers", "sessionId": 7, "subject": "w1"}]}""");
        using var client = ClientFixture.Create(handler);

        var changes = await TakeAsync(client.WatchMembersAsync("workers"), 3);

        Assert.Equal(MembershipChange.ResyncType, changes[0].Type);
        Assert.Equal("w1", Assert.Single(changes[0].Members!).MemberId);
        Assert.Equal([("member-joined", "w2", 9L), ("member-expired", "w1", 7L)], changes.Skip(1).Select(c => (c.Type, c.MemberId!, c.SessionId ?? 0)));
    }

    [Fact]
    public async Task Group_join_update_and_leave_use_the_contract_paths()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .SessionCreated(7, 3000)
            .Json("PUT", "/v1/groups/workers/members/w1", """{"group": "workers", "memberId": "w1"}""")
            .Json("POST", "/v1/groups/workers/members", """{"group": "workers", "memberId": "m-000000000042"}""", HttpStatusCode.Created)
            .Json("PATCH", "/v1/groups/workers/members/w1", """{"group": "workers", "memberId": "w1"}""")
            .Json("DELETE", "/v1/groups/workers/members/w1", """{"group": "workers", "memberId": "w1"}""");
        using var client = ClientFixture.Create(handler, o => o.TimeProvider = new ManualTimeProvider());
        var session = await client.CreateSessionAsync(TimeSpan.FromSeconds(3));
        var metadata = System.Text.Json.JsonDocument.Parse("""{"zone":"a"}""").RootElement;

        Assert.Equal("w1", await session.JoinGroupAsync("workers", "w1", metadata));
        Assert.Equal("m-000000000042", await session.JoinGroupAsync("workers"));
        await client.UpdateMemberAsync("workers", "w1", metadata);
        await client.LeaveGroupAsync("workers", "w1");

        Assert.Equal(
            ["""{"sessionId":7,"metadata":{"zone":"a"}}""", """{"sessionId":7}""", """{"metadata":{"zone":"a"}}""", null],
            handler.Requests.Skip(2).Select(r => r.Body));
    }
}
