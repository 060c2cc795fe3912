using System.Net;
using System.Text;
using System.Text.Json;

namespace Coordination.Tests.Api;

public sealed class DocumentApiTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    [Fact]
    public async Task A_config_document_is_versioned_compared_and_set_rolled_back_and_deleted()
    {
        var client = await silo.ReadyClientAsync();
        Assert.Equal("not-found", await (await client.GetAsync("/v1/config/api-app")).Problem(HttpStatusCode.NotFound));
        var v1 = await (await client.Put("/v1/config/api-app", new { value = new { replicas = 1 }, expectedVersion = 0 })).Json(HttpStatusCode.OK);
        Assert.Equal(1, v1.GetProperty("version").GetInt64());
        await (await client.Put("/v1/config/api-app", new { value = new { replicas = 2 }, expectedVersion = 1 })).Json(HttpStatusCode.OK);
        Assert.Equal("version-mismatch", await (await client.Put("/v1/config/api-app", new { value = new { replicas = 9 }, expectedVersion = 1 })).Problem(HttpStatusCode.Conflict));

        var current = await (await client.GetAsync("/v1/config/api-app")).Json(HttpStatusCode.OK);
        Assert.Equal((2, 2), (current.GetProperty("version").GetInt32(), current.GetProperty("value").GetProperty("replicas").GetInt32()));
        var stale = await client.GetAsync("/v1/config/api-app?consistency=stale");
        Assert.Equal("true", stale.Headers.GetValues("X-Coordination-Stale").Single());

        var history = await (await client.GetAsync("/v1/config/api-app/history")).Json(HttpStatusCode.OK);
        Assert.Equal([1L, 2L], history.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetInt64()));
        var rolledBack = await (await client.Post("/v1/config/api-app/rollback", new { toVersion = 1 })).Json(HttpStatusCode.OK);
        Assert.Equal(3, rolledBack.GetProperty("version").GetInt64());
        Assert.Equal(1, (await (await client.GetAsync("/v1/config/api-app")).Json(HttpStatusCode.OK)).GetProperty("value").GetProperty("replicas").GetInt32());

        await (await client.DeleteAsync("/v1/config/api-app?expectedVersion=3")).Json(HttpStatusCode.OK);
        Assert.Equal("not-found", await (await client.GetAsync("/v1/config/api-app")).Problem(HttpStatusCode.NotFound));
    }

    [Fact]
    public async Task A_fenced_put_from_a_stale_lock_holder_is_refused()
    {
        var client = await silo.ReadyClientAsync();
        var (a, b) = (await client.Session(), await client.Session());
        var old = (await (await client.Post("/v1/locks/api-fence/acquire", new { sessionId = a })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        await (await client.Put("/v1/config/api-fenced/fenced", new { value = "a", lockName = "api-fence", token = old })).Json(HttpStatusCode.OK);
        await (await client.DeleteAsync($"/v1/sessions/{a}")).Json(HttpStatusCode.OK);
        var fresh = (await (await client.Post("/v1/locks/api-fence/acquire", new { sessionId = b })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();

        var refused = await (await client.Put("/v1/config/api-fenced/fenced", new { value = "stale", lockName = "api-fence", token = old })).Problem(HttpStatusCode.Conflict);
        Assert.Contains(refused, new[] { "wrong-token", "lock-not-held" });
        await (await client.Put("/v1/config/api-fenced/fenced", new { value = "b", lockName = "api-fence", token = fresh })).Json(HttpStatusCode.OK);
        Assert.Equal("b", (await (await client.GetAsync("/v1/config/api-fenced")).Json(HttpStatusCode.OK)).GetProperty("value").GetString());
    }

    [Fact]
    public async Task Oversized_values_and_bodies_are_refused_with_their_limits_and_change_nothing()
    {
        var client = await silo.ReadyClientAsync();
        await (await client.Put("/v1/config/api-big", new { value = "small" })).Json(HttpStatusCode.OK);
        Assert.Equal("limit-exceeded", await (await client.Put("/v1/config/api-big", new { value = new string('x', 100_000) })).Problem(HttpStatusCode.UnprocessableEntity));
        var huge = new StringContent("{\"value\":\"" + new string('x', 300_000) + "\"}", Encoding.UTF8, "application/json");
        Assert.Equal("body-too-large", await (await client.PutAsync("/v1/config/api-big", huge)).Problem(HttpStatusCode.RequestEntityTooLarge));
        Assert.Equal("validation", await (await client.Put("/v1/config/api-big", new { expectedVersion = 1 })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("small", (await (await client.GetAsync("/v1/config/api-big")).Json(HttpStatusCode.OK)).GetProperty("value").GetString());
        Assert.Equal(1, (await (await client.GetAsync("/v1/config/api-big")).Json(HttpStatusCode.OK)).GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task A_retried_request_with_the_same_idempotency_key_applies_once()
    {
        var client = await silo.ReadyClientAsync();
        async Task<HttpResponseMessage> Next(string key, int count)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/sequences/api-ids/next") { Content = System.Net.Http.Json.JsonContent.Create(new { count }) };
            request.Headers.Add("Idempotency-Key", key);
            return await client.SendAsync(request);
        }

        var first = await (await Next("retry-1", 5)).Json(HttpStatusCode.OK);
        var again = await (await Next("retry-1", 5)).Json(HttpStatusCode.OK);
        Assert.Equal(first.GetProperty("first").GetUInt64(), again.GetProperty("first").GetUInt64());
        Assert.Equal(first.GetProperty("first").GetUInt64() + 4, (await (await client.GetAsync("/v1/sequences/api-ids")).Json(HttpStatusCode.OK)).GetProperty("last").GetUInt64());
        Assert.Equal("idempotency-key-reused", await (await Next("retry-1", 6)).Problem(HttpStatusCode.UnprocessableEntity));
        Assert.Equal("validation", await (await Next("bad key!", 1)).Problem(HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task An_events_page_reaches_past_entries_that_carry_no_events()
    {
        // A retried write is an entry of its own that the grains never see (answered from its key).
        // A watcher at the write's revision must resume after that entry too, or it would wait for
        // a revision already applied, read again at once, and spin until the next grain command.
        var client = await silo.ReadyClientAsync();
        async Task<JsonElement> Put()
        {
            var request = new HttpRequestMessage(HttpMethod.Put, "/v1/config/api-no-events") { Content = System.Net.Http.Json.JsonContent.Create(new { value = 1 }) };
            request.Headers.Add("Idempotency-Key", "no-events-1");
            return await (await client.SendAsync(request)).Json(HttpStatusCode.OK);
        }

        var revision = (await Put()).GetProperty("revision").GetUInt64();
        await Put();
        var applied = (await (await client.GetAsync("/v1/cluster")).Json(HttpStatusCode.OK)).GetProperty("appliedIndex").GetUInt64();
        Assert.True(applied > revision, $"the retry was applied as an entry of its own ({applied} > {revision})");

        var page = await (await client.GetAsync($"/v1/events?after={revision}&waitMs=0")).Json(HttpStatusCode.OK);
        Assert.Empty(page.GetProperty("events").EnumerateArray());
        Assert.True(page.GetProperty("resumeAfter").GetUInt64() >= applied, $"resumeAfter {page.GetProperty("resumeAfter")} is before the applied {applied}");
    }

    [Fact]
    public async Task A_query_value_that_does_not_parse_is_a_validation_error_not_malformed_json()
    {
        var client = await silo.ReadyClientAsync();
        var refused = await (await client.GetAsync("/v1/events?after=-1")).Json(HttpStatusCode.BadRequest);
        Assert.Equal("validation", refused.GetProperty("code").GetString());
        Assert.True(refused.GetProperty("errors").TryGetProperty("after", out _), refused.ToString());
        Assert.Equal("malformed-json", await (await client.PutAsync("/v1/config/api-bad-json", new StringContent("{\"value\":", Encoding.UTF8, "application/json"))).Problem(HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task A_delete_or_rollback_to_no_version_is_refused_by_the_gateway_as_a_validation_error()
    {
        var client = await silo.ReadyClientAsync();
        await (await client.Put("/v1/config/api-versions", new { value = 1 })).Json(HttpStatusCode.OK);

        // "validation" comes from the gateway's own checks, before anything is proposed (the grains
        // would answer invalid-argument or not-found, after a log entry).
        Assert.Equal("validation", await (await client.DeleteAsync("/v1/config/api-versions?expectedVersion=-2")).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.Post("/v1/config/api-versions/rollback", new { toVersion = 0 })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.Post("/v1/config/api-versions/rollback", new { toVersion = 1, expectedVersion = -3 })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal(1, (await (await client.GetAsync("/v1/config/api-versions")).Json(HttpStatusCode.OK)).GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task The_services_own_documents_are_read_only_to_clients()
    {
        var client = await silo.ReadyClientAsync();
        const string book = "/v1/config/coordination:members";
        var before = await client.GetAsync(book);

        Assert.Equal("invalid-name", await (await client.Put(book, new { value = new { members = Array.Empty<object>() } })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("invalid-name", await (await client.DeleteAsync(book)).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("invalid-name", await (await client.Post(book + "/rollback", new { toVersion = 1 })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("invalid-name", await (await client.Put("/v1/config/coordination:other", new { value = 1 })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("invalid-name", await (await client.Post("/v1/transactions", new { operations = new object[] { new { type = "put", name = "coordination:members", value = 1 } } })).Problem(HttpStatusCode.BadRequest));

        // Reading stays allowed, and nothing changed.
        var after = await client.GetAsync(book);
        Assert.Equal(before.StatusCode, after.StatusCode);
        if (after.StatusCode == HttpStatusCode.OK)
        {
            Assert.Equal((await before.Json(HttpStatusCode.OK)).GetProperty("version").GetInt64(), (await after.Json(HttpStatusCode.OK)).GetProperty("version").GetInt64());
        }
        await (await client.Put("/v1/config/coordination-like:ok", new { value = 1 })).Json(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Sequences_hand_out_unique_increasing_ranges()
    {
        var client = await silo.ReadyClientAsync();
        var a = await (await client.Post("/v1/sequences/api-seq/next", new { count = 3 })).Json(HttpStatusCode.OK);
        var b = await (await client.Post("/v1/sequences/api-seq/next")).Json(HttpStatusCode.OK);
        Assert.Equal(a.GetProperty("first").GetUInt64() + 3, b.GetProperty("first").GetUInt64());
        Assert.Equal("validation", await (await client.Post("/v1/sequences/api-seq/next", new { count = 2_000_000 })).Problem(HttpStatusCode.BadRequest));
    }
}

public sealed class TransactionAndNameApiTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    [Fact]
    public async Task A_transaction_applies_all_operations_or_refuses_with_the_failed_condition()
    {
        var client = await silo.ReadyClientAsync();
        await (await client.Put("/v1/config/tx-a", new { value = 1 })).Json(HttpStatusCode.OK);
        var applied = await (await client.Post("/v1/transactions", new
        {
            conditions = new object[] { new { type = "config-version", name = "tx-a", version = 1 }, new { type = "config-absent", name = "tx-b" } },
            operations = new object[] { new { type = "put", name = "tx-a", value = 2 }, new { type = "put", name = "tx-b", value = 3 }, new { type = "next", name = "tx-ids", count = 2 } },
        })).Json(HttpStatusCode.OK);
        var revision = applied.GetProperty("revision").GetUInt64();
        Assert.Equal(["put", "put", "next"], applied.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("type").GetString()));
        Assert.Equal(revision, (await (await client.GetAsync("/v1/config/tx-b")).Json(HttpStatusCode.OK)).GetProperty("revision").GetUInt64());

        var refused = await client.Post("/v1/transactions", new
        {
            conditions = new object[] { new { type = "config-version", name = "tx-a", version = 1 } },
            operations = new object[] { new { type = "delete", name = "tx-b" } },
        });
        Assert.Equal("condition-failed", await refused.Problem(HttpStatusCode.Conflict));
        await (await client.GetAsync("/v1/config/tx-b")).Json(HttpStatusCode.OK);
        Assert.Equal("validation", await (await client.Post("/v1/transactions", new { operations = new object[] { new { type = "upsert", name = "x" } } })).Problem(HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task A_transaction_can_write_and_release_a_lock_in_one_step_and_the_next_holder_reads_it_at_its_token()
    {
        var client = await silo.ReadyClientAsync();
        var first = (await (await client.Post("/v1/sessions", new { ttlMs = 30_000 })).Json(HttpStatusCode.Created)).GetProperty("sessionId").GetUInt64();
        var second = (await (await client.Post("/v1/sessions", new { ttlMs = 30_000 })).Json(HttpStatusCode.Created)).GetProperty("sessionId").GetUInt64();
        var token = (await (await client.Post("/v1/locks/tx-lock/acquire", new { sessionId = first })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        var waiting = client.Post("/v1/locks/tx-lock/acquire", new { sessionId = second, waitMs = 20_000 });

        Assert.Equal("validation", await (await client.Post("/v1/transactions", new { operations = new object[] { new { type = "release", name = "tx-lock", sessionId = first } } })).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("wrong-token", await (await client.Post("/v1/transactions", new
        {
            operations = new object[] { new { type = "put", name = "tx-guarded", value = 1 }, new { type = "release", name = "tx-lock", sessionId = first, token = token + 1 } },
        })).Problem(HttpStatusCode.Conflict));
        Assert.Equal("not-found", await (await client.GetAsync("/v1/config/tx-guarded")).Problem(HttpStatusCode.NotFound));

        var applied = await (await client.Post("/v1/transactions", new
        {
            operations = new object[] { new { type = "put", name = "tx-guarded", value = 1 }, new { type = "release", name = "tx-lock", sessionId = first, token } },
        })).Json(HttpStatusCode.OK);
        var release = applied.GetProperty("results")[1];
        Assert.Equal(("release", token, 1), (release.GetProperty("type").GetString(), release.GetProperty("token").GetUInt64(), release.GetProperty("waitersGranted").GetInt32()));

        // The waiter's grant is the transaction's entry; a stale read at that revision sees the write.
        var granted = (await (await waiting.WaitAsync(TimeSpan.FromSeconds(30))).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        Assert.Equal(applied.GetProperty("revision").GetUInt64(), granted);
        var read = await client.GetAsync($"/v1/config/tx-guarded?consistency=stale&minRevision={granted}");
        Assert.Equal(1, (await read.Json(HttpStatusCode.OK)).GetProperty("value").GetInt32());
        Assert.True(ulong.Parse(read.Headers.GetValues("X-Coordination-Revision").Single(), System.Globalization.CultureInfo.InvariantCulture) >= granted);
    }

    [Fact]
    public async Task A_read_with_a_min_revision_this_silo_does_not_reach_is_refused_and_bad_ones_are_validation_errors()
    {
        var client = await silo.ReadyClientAsync();
        Assert.Equal("validation", await (await client.GetAsync("/v1/config/tx-a?minRevision=-1")).Problem(HttpStatusCode.BadRequest));
        Assert.Equal("validation", await (await client.GetAsync("/v1/config/tx-a?minRevision=abc")).Problem(HttpStatusCode.BadRequest));
        // Far beyond anything written: waits MinRevisionWait, then says so.
        Assert.Equal("revision-not-applied", await (await client.GetAsync($"/v1/config/tx-a?consistency=stale&minRevision={ulong.MaxValue}")).Problem(HttpStatusCode.ServiceUnavailable));
    }

    [Fact]
    public async Task A_name_with_a_slash_is_addressed_as_one_escaped_path_segment()
    {
        var client = await silo.ReadyClientAsync();
        await (await client.Put("/v1/config/team%2Fapp:prod", new { value = "x" })).Json(HttpStatusCode.OK);
        var read = await (await client.GetAsync("/v1/config/team%2Fapp:prod")).Json(HttpStatusCode.OK);
        Assert.Equal("team/app:prod", read.GetProperty("name").GetString());
    }
}

/// <summary>A silo of its own: no sessions, so no expiry entries land while the applied index is compared.</summary>
public sealed class ValueLimitApiTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    [Fact]
    public async Task A_value_over_its_limit_is_refused_without_taking_a_log_entry()
    {
        var client = await silo.ReadyClientAsync();

        // A write first: the new leader's own entries (its session extension) are applied by then.
        await (await client.Put("/v1/config/api-small", new { value = 1 })).Json(HttpStatusCode.OK);
        var applied = await client.Applied();
        var big = new StringContent("{\"value\":\"" + new string('x', 70_000) + "\"}", Encoding.UTF8, "application/json");
        Assert.Equal("limit-exceeded", await (await client.PutAsync("/v1/config/api-too-big", big)).Problem(HttpStatusCode.UnprocessableEntity));
        Assert.Equal(applied, await client.Applied());
        Assert.Equal("not-found", await (await client.GetAsync("/v1/config/api-too-big")).Problem(HttpStatusCode.NotFound));
    }

    [Theory]
    [InlineData("semaphore", 0, 0)]
    [InlineData("semaphore", 1_025, 0)]
    [InlineData("exclusive", 0, -1)]
    [InlineData("shared", 0, 86_400_001)]
    public async Task Lock_arguments_out_of_range_are_refused_without_taking_a_log_entry(string mode, int permits, long maxHoldMs)
    {
        var client = await silo.ReadyClientAsync();
        await (await client.Put("/v1/config/api-small", new { value = 1 })).Json(HttpStatusCode.OK);
        var applied = await client.Applied();

        // No session is made (an expiry entry could land meanwhile): the arguments are refused first.
        var refused = await client.Post("/v1/locks/api-arguments/acquire", new { sessionId = 424_242, mode, permits, maxHoldMs });

        Assert.Equal("invalid-argument", await refused.Problem(HttpStatusCode.BadRequest));
        Assert.Equal(applied, await client.Applied());
    }
}
