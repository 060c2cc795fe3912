using System.Net;
using System.Text.Json;
using Coordination.Client;

namespace Coordination.Tests.Client;

public sealed class TransportTests
{
    private static readonly JsonElement Value = JsonDocument.Parse("""{"replicas": 3}""").RootElement;

    [Fact]
    public async Task Stale_read_goes_to_the_exact_path_and_reports_its_staleness()
    {
        var handler = new FakeHandler().Json("GET", "/v1/config/app%2Fdb?consistency=stale",
            """{"name": "app/db", "version": 3, "revision": 88, "writtenMs": 5, "value": {"replicas": 3}}""", HttpStatusCode.OK, 1,
            ("X-Coordination-Revision", "91"), ("X-Coordination-Stale", "true"), ("X-Coordination-Applied-Index", "91"), ("X-Coordination-Leader-Contact-Ms", "40"));
        using var client = ClientFixture.Create(handler);

        var document = await client.GetConfigAsync("app/db", ReadConsistency.Stale);

        Assert.NotNull(document);
        Assert.Equal((3L, 88L, 3), (document.Version, document.Revision, document.Value.GetProperty("replicas").GetInt32()));
        Assert.Equal(new ReadMetadata(91, true, 91, 40), document.Read);
        Assert.Single(handler.Requests);
    }

    [Fact]
    public async Task A_read_at_a_revision_names_it_in_the_query_and_a_negative_one_is_refused_before_sending()
    {
        var handler = new FakeHandler().Json("GET", "/v1/config/app?consistency=stale&minRevision=120",
            """{"name": "app", "version": 4, "revision": 118, "writtenMs": 5, "value": {"replicas": 3}}""", HttpStatusCode.OK, 1,
            ("X-Coordination-Revision", "120"), ("X-Coordination-Stale", "true"));
        using var client = ClientFixture.Create(handler);

        var document = await client.GetConfigAsync("app", ReadConsistency.Stale, minRevision: 120);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetConfigAsync("app", ReadConsistency.Stale, minRevision: -1));

        Assert.Equal((4L, 120L), (document!.Version, document.Read!.Revision));
        Assert.Single(handler.Requests);
    }

    [Theory]
    [InlineData("overloaded", 1000, 0, 1000)]
    [InlineData("overloaded", 60_000, 0, 2000)]
    public void A_silos_retry_after_is_honoured_within_the_retry_delays(string code, int retryAfterMs, int attempt, int expectedMs)
    {
        var refusal = new CoordinationException(code, 503, "refused", retryAfter: TimeSpan.FromMilliseconds(retryAfterMs));

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Coordination.Client.Http.CoordinationTransport.RetryDelay(refusal, attempt, RetryOptions));
    }

    [Fact]
    public void While_the_leader_changes_retries_double_only_up_to_their_cap_and_ignore_retry_after()
    {
        var noLeader = new CoordinationException("no-leader", 503, "no leader", retryAfter: TimeSpan.FromSeconds(1));
        var refused = new HttpRequestException("connection refused");

        var delays = Enumerable.Range(0, 8).Select(a => Coordination.Client.Http.CoordinationTransport.RetryDelay(a % 2 == 0 ? noLeader : refused, a, RetryOptions)!.Value).ToList();

        Assert.InRange(delays[0], TimeSpan.FromMilliseconds(37.5), TimeSpan.FromMilliseconds(62.5)); // 50 ms, jittered ±25%
        Assert.All(delays.Skip(1), d => Assert.InRange(d, TimeSpan.FromMilliseconds(75), TimeSpan.FromMilliseconds(125)));
        Assert.Null(Coordination.Client.Http.CoordinationTransport.RetryDelay(new CoordinationException("overloaded", 503, "busy"), 3, RetryOptions));
    }

    private static readonly CoordinationClientOptions RetryOptions = new()
    {
        RetryBaseDelay = TimeSpan.FromMilliseconds(50),
        LeaderChangeRetryDelayMax = TimeSpan.FromMilliseconds(100),
        RetryDelayMax = TimeSpan.FromSeconds(2),
    };

    [Fact]
    public async Task Missing_config_document_reads_as_null()
    {
        var handler = new FakeHandler().Problem("GET", "/v1/config/app", HttpStatusCode.NotFound, "not-found");
        using var client = ClientFixture.Create(handler);

        Assert.Null(await client.GetConfigAsync("app"));
    }

    [Fact]
    public async Task A_write_keeps_one_idempotency_key_across_its_retries_and_sends_the_exact_body()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .Problem("PUT", "/v1/config/app", HttpStatusCode.GatewayTimeout, "timeout")
            .Refuse("PUT", "/v1/config/app")
            // The refused connection sends the client to the next silo (learned from the cluster document) to rediscover.
            .Cluster(ClientFixture.B, leader: 1)
            .Json("PUT", "/v1/config/app", """{"name": "app", "version": 4, "revision": 90}""");
        using var client = ClientFixture.Create(handler);

        var written = await client.PutConfigAsync("app", Value, expectedVersion: 3);

        Assert.Equal((4L, 90L), (written.Version, written.Revision));
        var puts = handler.Requests.Where(r => r.Method == HttpMethod.Put).ToList();
        Assert.Equal(3, puts.Count);
        Assert.All(puts, p => Assert.Equal("""{"value":{"replicas":3},"expectedVersion":3}""", p.Body));
        Assert.NotNull(puts[0].IdempotencyKey);
        Assert.All(puts, p => Assert.Equal(puts[0].IdempotencyKey, p.IdempotencyKey));
    }

    [Fact]
    public async Task Each_logical_write_gets_its_own_idempotency_key()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .Json("POST", "/v1/sequences/ids/next", """{"name": "ids", "first": 1, "count": 1}""")
            .Json("POST", "/v1/sequences/ids/next", """{"name": "ids", "first": 2, "count": 1}""");
        using var client = ClientFixture.Create(handler);

        var first = await client.NextAsync("ids");
        var second = await client.NextAsync("ids");

        Assert.Equal((1L, 2L), (first.First, second.First));
        var keys = handler.Requests.Where(r => r.Method == HttpMethod.Post).Select(r => r.IdempotencyKey).ToList();
        Assert.Equal(2, keys.Distinct().Count());
        Assert.All(handler.Requests.Where(r => r.Method == HttpMethod.Post), r => Assert.Equal("""{"count":1}""", r.Body));
    }

    [Fact]
    public async Task A_write_without_an_idempotency_key_is_never_retried()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .Problem("PUT", "/v1/config/app", HttpStatusCode.ServiceUnavailable, "no-leader", times: 5);
        using var client = ClientFixture.Create(handler, o => o.UseIdempotencyKeys = false);

        var error = await Assert.ThrowsAsync<CoordinationException>(() => client.PutConfigAsync("app", Value));

        Assert.Equal((CoordinationError.NoLeader, 503), (error.Error, error.Status));
        var put = Assert.Single(handler.Requests, r => r.Method == HttpMethod.Put);
        Assert.Null(put.IdempotencyKey);
    }

    [Fact]
    public async Task A_refused_connection_of_a_write_without_a_key_is_not_retried_either()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .Refuse("POST", "/v1/sequences/ids/next", times: 5);
        using var client = ClientFixture.Create(handler, o => o.UseIdempotencyKeys = false);

        var error = await Assert.ThrowsAsync<CoordinationException>(() => client.NextAsync("ids"));

        Assert.Equal(CoordinationError.Unreachable, error.Error);
        Assert.Single(handler.Requests, r => r.Method == HttpMethod.Post);
    }

    [Fact]
    public async Task Over_http2_every_request_is_http2_and_writes_go_to_the_leaders_http2_url()
    {
        // Silo 3 serves no HTTP/2 port: over HTTP/2 its cleartext HTTP/1.1 URL would refuse every request.
        var handler = new FakeHandler()
            .Json("GET", "http://a:7080/v1/cluster", """
                {"nodeId": 1, "role": "follower", "term": 4, "leader": 2, "commitIndex": 9, "appliedIndex": 9, "firstIndex": 1, "lastIndex": 9,
                 "voters": [1, 2, 3], "learners": [],
                 "members": [{"id": 1, "clientUrl": "http://a:5080", "peerAddress": "a:5081", "http2Url": "http://a:7080"},
                             {"id": 2, "clientUrl": "http://b:5080", "peerAddress": "b:5081", "http2Url": "http://b:7080"},
                             {"id": 3, "clientUrl": "http://c:5080", "peerAddress": "c:5081"}]}
                """)
            .Json("POST", "http://b:7080/v1/sequences/ids/next", """{"name": "ids", "first": 7, "count": 3}""");
        using var client = ClientFixture.Create(handler, o => o.UseHttp2 = true, "http://a:7080/");

        await client.NextAsync("ids", 3);

        Assert.Equal(new Uri("http://b:7080/"), client.KnownLeader);
        Assert.Equal(["GET http://a:7080/v1/cluster", "POST http://b:7080/v1/sequences/ids/next"], handler.Requests.Select(r => r.ToString()));
        Assert.All(handler.Requests, r => Assert.Equal(HttpVersion.Version20, r.Version));
        Assert.DoesNotContain(client.Transport.Endpoints.InTurn(), e => e.Host == "c" || e.Port == 5080);
    }

    [Fact]
    public async Task Writes_go_to_the_leader_learned_from_the_cluster_document()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 2)
            .Json("POST", ClientFixture.B + "v1/sequences/ids/next", """{"name": "ids", "first": 7, "count": 3}""");
        using var client = ClientFixture.Create(handler);

        var range = await client.NextAsync("ids", 3);

        Assert.Equal((7L, 3), (range.First, range.Count));
        Assert.Equal(new Uri(ClientFixture.B), client.KnownLeader);
        Assert.Equal(["GET http://a:5080/v1/cluster", "POST http://b:5080/v1/sequences/ids/next"], handler.Requests.Select(r => r.ToString()));
        Assert.All(handler.Requests, r => Assert.Equal(HttpVersion.Version11, r.Version));
    }

    [Fact]
    public async Task A_read_fails_over_to_the_next_endpoint_when_the_connection_is_refused()
    {
        var handler = new FakeHandler()
            .Refuse("GET", ClientFixture.A + "v1/sequences/ids")
            .Json("GET", ClientFixture.B + "v1/sequences/ids", """{"name": "ids", "last": 17}""");
        using var client = ClientFixture.Create(handler, null, ClientFixture.A, ClientFixture.B);

        Assert.Equal(17, await client.GetSequenceAsync("ids"));
        Assert.Equal(["GET http://a:5080/v1/sequences/ids", "GET http://b:5080/v1/sequences/ids"], handler.Requests.Select(r => r.ToString()));
    }

    [Fact]
    public async Task No_leader_at_the_leader_moves_the_write_on_and_rediscovers_the_new_leader()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .Problem("POST", ClientFixture.A + "v1/sequences/ids/next", HttpStatusCode.ServiceUnavailable, "no-leader")
            .Cluster(ClientFixture.B, leader: 3)
            .Json("POST", ClientFixture.C + "v1/sequences/ids/next", """{"name": "ids", "first": 1, "count": 1}""");
        using var client = ClientFixture.Create(handler, null, ClientFixture.A, ClientFixture.B);

        await client.NextAsync("ids");

        Assert.Equal(
            ["GET http://a:5080/v1/cluster", "POST http://a:5080/v1/sequences/ids/next", "GET http://b:5080/v1/cluster", "POST http://c:5080/v1/sequences/ids/next"],
            handler.Requests.Select(r => r.ToString()));
        Assert.Equal(new Uri(ClientFixture.C), client.KnownLeader);
        Assert.Single(handler.Requests.Where(r => r.Method == HttpMethod.Post).Select(r => r.IdempotencyKey).Distinct());
    }

    [Fact]
    public async Task A_cluster_without_a_leader_is_asked_once_and_the_write_goes_to_any_silo()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: null)
            .Json("POST", ClientFixture.A + "v1/sequences/ids/next", """{"name": "ids", "first": 1, "count": 1}""", times: 2);
        using var client = ClientFixture.Create(handler);

        await client.NextAsync("ids");
        await client.NextAsync("ids");

        Assert.Single(handler.Requests, r => r.PathAndQuery == "/v1/cluster");
        Assert.Null(client.KnownLeader);
    }

    [Fact]
    public async Task Every_endpoint_refusing_ends_in_unreachable_after_the_configured_retries()
    {
        var handler = new FakeHandler().Refuse("GET", "/v1/sequences/ids", times: 100);
        using var client = ClientFixture.Create(handler, o => o.RetryAttemptsMax = 2, ClientFixture.A, ClientFixture.B);

        var error = await Assert.ThrowsAsync<CoordinationException>(() => client.GetSequenceAsync("ids"));

        Assert.Equal((CoordinationError.Unreachable, "unreachable", 0), (error.Error, error.Code, error.Status));
        Assert.Equal(["a:5080", "b:5080", "a:5080"], handler.Requests.Select(r => r.Authority));
    }

    [Fact]
    public async Task A_silent_silo_takes_only_its_share_of_an_attempt_while_the_leader_is_sought()
    {
        // A host gone without refusing (powered off, partitioned) answers nothing. Discovery gave each
        // silo the whole attempt timeout, the attempt's own timer fired first, and the silent silo was
        // never marked failed: every retry asked it again, and every write waited out every attempt.
        var time = new ManualTimeProvider();
        var handler = new FakeHandler()
            .When("GET", ClientFixture.A + "v1/cluster", async (_, ct) =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                throw new InvalidOperationException("unreachable");
            })
            .Cluster(ClientFixture.B, leader: 2)
            .Json("POST", ClientFixture.B + "v1/sequences/ids/next", """{"name": "ids", "first": 1, "count": 1}""");
        using var client = ClientFixture.Create(handler, o =>
        {
            o.TimeProvider = time;
            o.AttemptTimeout = TimeSpan.FromSeconds(6);
        }, ClientFixture.A, ClientFixture.B);

        var next = client.NextAsync("ids");
        await handler.NextRequestAsync();
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(2));
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(1, (await next.WaitAsync(FakeHandler.WaitMax)).First);
        Assert.Equal(["GET http://a:5080/v1/cluster", "GET http://b:5080/v1/cluster", "POST http://b:5080/v1/sequences/ids/next"], handler.Requests.Select(r => r.ToString()));
    }

    [Fact]
    public async Task A_hung_attempt_times_out_and_the_retry_answers()
    {
        var time = new ManualTimeProvider();
        var handler = new FakeHandler()
            .When("GET", "/v1/sequences/ids", async (_, ct) =>
            {
                await Task.Delay(Timeout.Infinite, ct);
                throw new InvalidOperationException("unreachable");
            })
            .Json("GET", "/v1/sequences/ids", """{"name": "ids", "last": 5}""");
        using var client = ClientFixture.Create(handler, o =>
        {
            o.TimeProvider = time;
            o.AttemptTimeout = TimeSpan.FromSeconds(7);
        });

        var read = client.GetSequenceAsync("ids");
        await handler.NextRequestAsync();
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(7));
        time.Advance(TimeSpan.FromSeconds(7));

        Assert.Equal(5, await read.WaitAsync(FakeHandler.WaitMax));
        Assert.Equal(2, handler.Requests.Count);
    }

    [Theory]
    [InlineData(400, "validation", CoordinationError.Validation)]
    [InlineData(400, "malformed-json", CoordinationError.MalformedJson)]
    [InlineData(400, "invalid-name", CoordinationError.InvalidName)]
    [InlineData(400, "invalid-argument", CoordinationError.InvalidArgument)]
    [InlineData(404, "session-not-found", CoordinationError.SessionNotFound)]
    [InlineData(409, "version-mismatch", CoordinationError.VersionMismatch)]
    [InlineData(409, "lock-not-held", CoordinationError.LockNotHeld)]
    [InlineData(409, "wrong-token", CoordinationError.WrongToken)]
    [InlineData(409, "already-exists", CoordinationError.AlreadyExists)]
    [InlineData(410, "session-expired", CoordinationError.SessionExpired)]
    [InlineData(413, "body-too-large", CoordinationError.BodyTooLarge)]
    [InlineData(422, "limit-exceeded", CoordinationError.LimitExceeded)]
    [InlineData(422, "idempotency-key-reused", CoordinationError.IdempotencyKeyReused)]
    [InlineData(418, "brand-new-code", CoordinationError.Unknown)]
    public async Task Refusals_map_to_typed_errors_with_their_code_and_status_and_are_not_retried(int status, string code, CoordinationError error)
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .Problem("PUT", "/v1/config/app", (HttpStatusCode)status, code, times: 5);
        using var client = ClientFixture.Create(handler);

        var thrown = await Assert.ThrowsAsync<CoordinationException>(() => client.PutConfigAsync("app", Value));

        Assert.Equal((code, status, error), (thrown.Code, thrown.Status, thrown.Error));
        Assert.Single(handler.Requests, r => r.Method == HttpMethod.Put);
    }

    [Fact]
    public async Task Overloaded_is_retried_and_a_body_that_is_not_problem_json_still_maps_by_status()
    {
        var handler = new FakeHandler()
            .Problem("GET", "/v1/sequences/ids", HttpStatusCode.ServiceUnavailable, "overloaded", 1, ("Retry-After", "1"))
            .When("GET", "/v1/sequences/ids", (_, _) => Task.FromResult(FakeHandler.Answer(HttpStatusCode.BadGateway, "<html>proxy</html>", "text/html")))
            .Json("GET", "/v1/sequences/ids", """{"name": "ids", "last": 9}""");
        using var client = ClientFixture.Create(handler);

        Assert.Equal(9, await client.GetSequenceAsync("ids"));
        Assert.Equal(3, handler.Requests.Count);
    }

    [Fact]
    public async Task Compare_and_set_answers_null_on_a_version_mismatch()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .Problem("PUT", "/v1/config/app", HttpStatusCode.Conflict, "version-mismatch");
        using var client = ClientFixture.Create(handler);

        Assert.Null(await client.CompareAndSetConfigAsync("app", Value, expectedVersion: 2));
        Assert.Equal("""{"value":{"replicas":3},"expectedVersion":2}""", handler.Requests[^1].Body);
    }

    [Fact]
    public async Task Config_delete_history_rollback_and_fenced_put_use_the_contract_paths_and_bodies()
    {
        var handler = new FakeHandler()
            .Cluster(ClientFixture.A, leader: 1)
            .Json("DELETE", "/v1/config/app?expectedVersion=4", """{"name": "app", "version": 4}""")
            .Json("GET", "/v1/config/app/history", """{"name": "app", "versions": [{"version": 1, "revision": 10, "writtenMs": 1, "value": 1}, {"version": 2, "revision": 12, "writtenMs": 2, "value": 2}]}""")
            .Json("POST", "/v1/config/app/rollback", """{"name": "app", "version": 5, "revision": 99}""")
            .Json("PUT", "/v1/config/app/fenced", """{"name": "app", "version": 6, "revision": 100}""");
        using var client = ClientFixture.Create(handler);

        Assert.Equal(4, await client.DeleteConfigAsync("app", expectedVersion: 4));
        Assert.Equal([1L, 2L], (await client.GetConfigHistoryAsync("app")).Versions.Select(v => v.Version));
        Assert.Equal(5, (await client.RollbackConfigAsync("app", toVersion: 2, expectedVersion: 4)).Version);
        Assert.Equal(6, (await client.PutConfigFencedAsync("app", Value, "db", 42)).Version);

        Assert.Null(handler.Requests[1].Body);
        Assert.Equal("""{"toVersion":2,"expectedVersion":4}""", handler.Requests[3].Body);
        Assert.Equal("""{"value":{"replicas":3},"lockName":"db","token":42}""", handler.Requests[4].Body);
    }
}
