using System.CommandLine;
using System.Text.Json;
using Coordination.Cli;
using Coordination.Client;
using Coordination.Tests.Api;

namespace Coordination.Tests.Client;

/// <summary>
/// The client and the CLI against one real silo in process (<see cref="SiloFactory"/>: the whole ASP.NET
/// pipeline, a real write-ahead log). Real time; every wait is bounded by <see cref="WaitMax"/>.
/// </summary>
public sealed class ClientIntegrationTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(15);

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    private Task<CoordinationClient> ClientAsync() => silo.ReadyCoordinationClientAsync(watchPollWait: TimeSpan.FromSeconds(5));

    [Fact]
    public async Task The_client_learns_the_leader_from_the_cluster_document()
    {
        using var client = await ClientAsync();

        var cluster = await client.GetClusterAsync();

        Assert.Equal("1", cluster.Leader);
        Assert.Equal("leader", cluster.Role);
        Assert.NotNull(client.KnownLeader);
    }

    [Fact]
    public async Task Locks_grant_increasing_fencing_tokens_and_a_stale_holder_is_fenced_out()
    {
        using var client = await ClientAsync();
        await using var a = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var b = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));

        var first = await a.AcquireLockAsync("it-db", wait: TimeSpan.FromSeconds(5));
        Assert.Null(await b.TryAcquireLockAsync("it-db"));
        var inspected = await client.InspectLockAsync("it-db");
        Assert.Equal(a.Id, Assert.Single(inspected.Holders).SessionId);
        Assert.Contains(new SessionAttachment { Kind = "lock", Name = "it-db" }, (await client.GetSessionAsync(a.Id)).Attachments);
        Assert.Equal(1, (await first.PutConfigAsync("it-fenced", Json("1"))).Version);

        var waiting = b.AcquireLockAsync("it-db", wait: TimeSpan.FromSeconds(10));
        await first.DisposeAsync();
        await using var second = await waiting.WaitAsync(WaitMax);

        Assert.True(second.Token > first.Token);
        var fenced = await Assert.ThrowsAsync<CoordinationException>(() => first.PutConfigAsync("it-fenced", Json("2")));
        Assert.Contains(fenced.Error, new[] { CoordinationError.WrongToken, CoordinationError.LockNotHeld });
        Assert.Equal(2, (await second.PutConfigAsync("it-fenced", Json("3"))).Version);
    }

    [Fact]
    public async Task A_lock_handle_holds_the_guarded_document_as_of_its_grant()
    {
        using var client = await ClientAsync();
        await using var a = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var b = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await client.PutConfigAsync("it-guarded", Json("10"));

        var first = await a.AcquireLockAsync("it-guard", wait: TimeSpan.FromSeconds(5), readConfig: "it-guarded");
        Assert.Equal(10, first.Config!.Value.GetInt32());
        var waiting = b.AcquireLockAsync("it-guard", wait: TimeSpan.FromSeconds(10), readConfig: "it-guarded");
        await first.PutConfigAsync("it-guarded", Json("11"));
        await first.DisposeAsync();

        await using var second = await waiting.WaitAsync(WaitMax);
        Assert.Equal(11, second.Config!.Value.GetInt32());
        var absent = (await b.TryAcquireLockAsync("it-guard-2", readConfig: "it-guarded-absent"))!;
        Assert.True(absent.ConfigRead);
        Assert.Null(absent.Config);
        Assert.False((await b.TryAcquireLockAsync("it-guard-3"))!.ConfigRead);
    }

    [Fact]
    public async Task A_release_that_failed_can_be_sent_again()
    {
        using var client = await ClientAsync();
        await using var a = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        var held = await a.AcquireLockAsync("it-release-again", wait: TimeSpan.FromSeconds(5));

        // Before the fix the handle counted itself released before the request went out: after a
        // failed release every later call did nothing, and the session kept the lock for nobody.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held.ReleaseAsync(new CancellationToken(canceled: true)));
        Assert.Equal(a.Id, Assert.Single((await client.InspectLockAsync("it-release-again")).Holders).SessionId);

        await held.ReleaseAsync();
        Assert.Empty((await client.InspectLockAsync("it-release-again")).Holders);
        await held.ReleaseAsync(); // released: nothing more is sent, nothing fails
    }

    [Fact]
    public async Task Shared_and_semaphore_modes_admit_several_holders()
    {
        using var client = await ClientAsync();
        await using var a = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var b = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var c = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));

        Assert.NotNull(await a.TryAcquireLockAsync("it-shared", LockMode.Shared));
        Assert.NotNull(await b.TryAcquireLockAsync("it-shared", LockMode.Shared));
        Assert.NotNull(await a.TryAcquireLockAsync("it-pool", LockMode.Semaphore, permits: 2));
        Assert.NotNull(await b.TryAcquireLockAsync("it-pool", LockMode.Semaphore, permits: 2));
        Assert.Null(await c.TryAcquireLockAsync("it-pool", LockMode.Semaphore, permits: 2));
        var busy = await Assert.ThrowsAsync<CoordinationException>(() => c.AcquireLockAsync("it-pool", LockMode.Semaphore, TimeSpan.FromMilliseconds(200), permits: 2));

        Assert.Equal(CoordinationError.LockWaitTimeout, busy.Error);
        Assert.Equal(2, (await client.InspectLockAsync("it-shared")).Holders.Count);
    }

    [Fact]
    public async Task A_queued_candidate_becomes_leader_when_the_leader_resigns_and_observers_see_every_leader()
    {
        using var client = await ClientAsync();
        await using var a = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var b = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        using var stop = new CancellationTokenSource(WaitMax);

        var campaign = await a.CampaignAsync("it-primary", Json("\"a\""));
        Assert.True(campaign.Leader);
        await using var observer = client.ObserveElectionAsync("it-primary", stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await observer.MoveNextAsync());
        Assert.Equal((a.Id, campaign.Token), (observer.Current.LeaderSessionId, observer.Current.Token));

        await client.ProclaimAsync("it-primary", campaign.Token!.Value, Json("\"a2\""));
        Assert.True(await observer.MoveNextAsync());
        Assert.Equal("a2", observer.Current.Value?.GetString());

        var bLeads = b.CampaignUntilLeaderAsync("it-primary", Json("\"b\""), stop.Token);
        Assert.True(await a.ResignAsync("it-primary"));
        var token = await bLeads.WaitAsync(WaitMax);

        Assert.True(token > campaign.Token);
        while (await observer.MoveNextAsync() && observer.Current.LeaderSessionId != b.Id)
        {
            // Coalesced observations may show "no leader" between the two leaders; any order ends at b.
        }

        Assert.Equal((b.Id, token), (observer.Current.LeaderSessionId, observer.Current.Token));
    }

    [Fact]
    public async Task Members_join_update_and_leave_and_a_watcher_sees_each_change()
    {
        using var client = await ClientAsync();
        await using var session = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var other = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        using var stop = new CancellationTokenSource(WaitMax);
        await session.JoinGroupAsync("it-workers", "w1", Json("""{"zone":"a"}"""));
        await using var watch = client.WatchMembersAsync("it-workers", cancellationToken: stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(["w1"], watch.Current.Members!.Select(m => m.MemberId));

        // A session is a member of a group at most once: the generated id goes to another session.
        var generated = await other.JoinGroupAsync("it-workers");
        await client.UpdateMemberAsync("it-workers", "w1", Json("""{"zone":"b"}"""));
        await client.LeaveGroupAsync("it-workers", "w1");

        var seen = new List<MembershipChange>();
        for (var i = 0; i < 3 && await watch.MoveNextAsync(); i++)
        {
            seen.Add(watch.Current);
        }

        Assert.Equal([generated, "w1", "w1"], seen.Select(c => c.MemberId));
        Assert.Equal(seen.Select(c => c.Revision).Order(), seen.Select(c => c.Revision));
        Assert.Equal([generated], (await client.ListMembersAsync("it-workers")).Select(m => m.MemberId));
        await using var third = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await third.JoinGroupAsync("it-workers", "w3");
        var taken = await Assert.ThrowsAsync<CoordinationException>(() => session.JoinGroupAsync("it-workers", "w3"));
        Assert.Equal(CoordinationError.AlreadyExists, taken.Error);
    }

    [Fact]
    public async Task Config_documents_are_versioned_compared_rolled_back_and_watched_without_gaps()
    {
        using var client = await ClientAsync();
        using var stop = new CancellationTokenSource(WaitMax);
        var created = await client.PutConfigAsync("it-app", Json("""{"replicas":1}"""), expectedVersion: 0);
        await using var watch = client.WatchConfigAsync("it-app", created.Revision, stop.Token).GetAsyncEnumerator(stop.Token);

        Assert.Null(await client.CompareAndSetConfigAsync("it-app", Json("""{"replicas":9}"""), expectedVersion: 7));
        var second = await client.CompareAndSetConfigAsync("it-app", Json("""{"replicas":2}"""), expectedVersion: 1);
        var rolledBack = await client.RollbackConfigAsync("it-app", toVersion: 1);
        var current = await client.GetConfigAsync("it-app");
        var stale = await client.GetConfigAsync("it-app", ReadConsistency.Stale);
        var history = await client.GetConfigHistoryAsync("it-app");
        Assert.Equal(3, await client.DeleteConfigAsync("it-app", expectedVersion: 3));

        Assert.Equal((2L, 3L), (second!.Version, rolledBack.Version));
        Assert.Equal(1, current!.Value.GetProperty("replicas").GetInt32());
        Assert.True(stale!.Read!.Stale);
        Assert.Equal([1L, 2, 3], history.Versions.Select(v => v.Version));
        Assert.Null(await client.GetConfigAsync("it-app"));
        var changes = new List<ConfigChange>();
        for (var i = 0; i < 3 && await watch.MoveNextAsync(); i++)
        {
            changes.Add(watch.Current);
        }

        Assert.Equal([2L, 3, 3], changes.Select(c => c.Version ?? 0));
        Assert.Equal([second.Revision, rolledBack.Revision], changes.Take(2).Select(c => c.Revision));
        Assert.True(changes[2].Revision > rolledBack.Revision);
    }

    [Fact]
    public async Task Sequences_hand_out_unique_increasing_ranges()
    {
        using var client = await ClientAsync();

        var first = await client.NextAsync("it-ids", 3);
        var second = await client.NextAsync("it-ids");

        Assert.Equal(first.First + 3, second.First);
        Assert.Equal(second.First, await client.GetSequenceAsync("it-ids"));
    }

    [Fact]
    public async Task A_session_revoked_elsewhere_is_signalled_lost_by_its_keep_alive()
    {
        using var client = await ClientAsync();
        await using var session = await client.CreateSessionAsync(TimeSpan.FromSeconds(1));
        var lost = new TaskCompletionSource<SessionLostEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.Lost += (_, e) => lost.TrySetResult(e);
        Assert.Contains(await client.ListSessionsAsync(limit: 1000), s => s.SessionId == session.Id);

        await client.DeleteSessionAsync(session.Id);

        Assert.Equal("session-not-found", (await lost.Task.WaitAsync(WaitMax)).Reason);
        Assert.True(session.SessionLost.IsCancellationRequested);
    }

    [Fact]
    public async Task The_cli_reports_the_real_cluster_and_config_in_json()
    {
        using var ready = await silo.ReadyClientAsync();
        var root = CoordCli.Build(urls => new CoordinationClient(new HttpClient(silo.Server.CreateHandler()), new CoordinationClientOptions { Endpoints = urls }));
        using var output = new StringWriter();
        var configuration = new InvocationConfiguration { Output = output, Error = output };

        Assert.Equal(0, await root.Parse(["config", "put", "it-cli", """{"on":true}"""]).InvokeAsync(configuration));
        Assert.Equal(0, await root.Parse(["--json", "config", "get", "it-cli"]).InvokeAsync(configuration));
        Assert.Equal(0, await root.Parse(["--json", "cluster", "status"]).InvokeAsync(configuration));

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("wrote it-cli  version 1", lines[0], StringComparison.Ordinal);
        Assert.True(JsonDocument.Parse(lines[1]).RootElement.GetProperty("value").GetProperty("on").GetBoolean());
        Assert.Equal("1", JsonDocument.Parse(lines[2]).RootElement.GetProperty("leader").GetString());
    }

    [Fact]
    public async Task The_cli_saves_the_whole_state_and_a_new_silo_restores_from_the_file()
    {
        using var ready = await silo.ReadyClientAsync();
        var root = CoordCli.Build(urls => new CoordinationClient(new HttpClient(silo.Server.CreateHandler()), new CoordinationClientOptions { Endpoints = urls }));
        using var output = new StringWriter();
        var configuration = new InvocationConfiguration { Output = output, Error = output };
        var file = Path.Combine(Path.GetTempPath(), $"coord-cli-{Guid.NewGuid():N}.snap");
        try
        {
            Assert.Equal(0, await root.Parse(["config", "put", "it-saved", """{"kept":42}"""]).InvokeAsync(configuration));
            Assert.Equal(0, await root.Parse(["snapshot", "save", file]).InvokeAsync(configuration));
            Assert.Contains("saved ", output.ToString(), StringComparison.Ordinal);

            using var fresh = new SiloFactory();
            using var restored = fresh.WithWebHostBuilder(b => b.UseSetting("Coordination:RestoreFrom", file));
            var client = await restored.ReadyClientAsync();
            var document = await (await client.GetAsync("/v1/config/it-saved")).Json(System.Net.HttpStatusCode.OK);
            Assert.Equal(42, document.GetProperty("value").GetProperty("kept").GetInt32());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task The_cli_stages_a_saved_state_in_an_empty_data_directory_and_a_silo_starts_from_it()
    {
        using var ready = await silo.ReadyClientAsync();
        var root = CoordCli.Build(urls => new CoordinationClient(new HttpClient(silo.Server.CreateHandler()), new CoordinationClientOptions { Endpoints = urls }));
        using var output = new StringWriter();
        var configuration = new InvocationConfiguration { Output = output, Error = output };
        var file = Path.Combine(Path.GetTempPath(), $"coord-cli-{Guid.NewGuid():N}.snap");
        var dataDir = Path.Combine(Path.GetTempPath(), $"coord-cli-restore-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(0, await root.Parse(["config", "put", "it-staged", """{"kept":7}"""]).InvokeAsync(configuration));
            Assert.Equal(0, await root.Parse(["snapshot", "save", file]).InvokeAsync(configuration));

            // A damaged file is refused and stages nothing.
            var damaged = file + ".bad";
            var bytes = await File.ReadAllBytesAsync(file);
            bytes[20] ^= 0x40; // inside the grains, which carry a CRC-32C
            await File.WriteAllBytesAsync(damaged, bytes);
            Assert.Equal(ExitCodes.Usage, await root.Parse(["snapshot", "restore", damaged, "--data-dir", dataDir]).InvokeAsync(configuration));
            File.Delete(damaged);
            Assert.False(Directory.Exists(dataDir) && Directory.EnumerateFiles(dataDir).Any());

            Assert.Equal(0, await root.Parse(["snapshot", "restore", file, "--data-dir", dataDir]).InvokeAsync(configuration));
            Assert.True(File.Exists(Path.Combine(dataDir, Coordination.Cli.Commands.SnapshotCommands.StagedRestoreFileName)));

            using (var fresh = new SiloFactory())
            using (var restored = fresh.WithWebHostBuilder(b => b.UseSetting("Coordination:DataDirectory", dataDir)))
            {
                var client = await restored.ReadyClientAsync();
                var document = await (await client.GetAsync("/v1/config/it-staged")).Json(System.Net.HttpStatusCode.OK);
                Assert.Equal(7, document.GetProperty("value").GetProperty("kept").GetInt32());
            }

            // Consumed: the log holds the state now, and a non-empty directory is refused.
            Assert.False(File.Exists(Path.Combine(dataDir, Coordination.Cli.Commands.SnapshotCommands.StagedRestoreFileName)));
            Assert.Equal(ExitCodes.Usage, await root.Parse(["snapshot", "restore", file, "--data-dir", dataDir]).InvokeAsync(configuration));
        }
        finally
        {
            File.Delete(file);
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }
}
