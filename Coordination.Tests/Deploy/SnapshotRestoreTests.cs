using System.Net;
using Coordination.Tests.Api;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Coordination.Tests.Deploy;

/// <summary>Save the whole state from one silo, start a new cluster from it (<c>Coordination:RestoreFrom</c>).</summary>
public sealed class SnapshotRestoreTests
{
    [Fact]
    public async Task A_new_cluster_restored_from_a_saved_state_serves_it_past_everything_the_old_cluster_handed_out()
    {
        using var file = new TempFile("coord-restore");
        ulong savedIndex, nextId, lateToken, lateRevision;
        using (var original = new SiloFactory())
        {
            var client = await original.ReadyClientAsync();
            await (await client.Put("/v1/config/restored", new { value = new { limit = 1 }, expectedVersion = 0 })).Json(HttpStatusCode.OK);
            await (await client.Put("/v1/config/restored", new { value = new { limit = 2 }, expectedVersion = 1 })).Json(HttpStatusCode.OK);
            var ids = await (await client.Post("/v1/sequences/restored/next", new { count = 10 })).Json(HttpStatusCode.OK);
            nextId = ids.GetProperty("first").GetUInt64() + 10;
            var response = await client.GetAsync("/v1/cluster/snapshot");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            Assert.Equal("CSA2"u8.ToArray(), bytes[..4]); // sealed with its checksum
            savedIndex = Coordination.Silo.Backup.StateSnapshots.AppliedIndex(bytes);
            Assert.True(savedIndex >= 3, $"the state was saved at index {savedIndex}, before the writes");
            await File.WriteAllBytesAsync(file.Path, bytes);

            // The old cluster goes on after the save: a lock grant, a watcher's position.
            var session = await client.Session();
            lateToken = (await (await client.Post("/v1/locks/restored/acquire", new { sessionId = session })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
            lateRevision = await client.Applied();
        }

        using var fresh = new SiloFactory();
        using var restored = fresh.WithWebHostBuilder(b => b.UseSetting("Coordination:RestoreFrom", file.Path));
        var restoredClient = await restored.ReadyClientAsync();
        var config = await (await restoredClient.GetAsync("/v1/config/restored")).Json(HttpStatusCode.OK);
        Assert.Equal(2, config.GetProperty("value").GetProperty("limit").GetInt32());
        await (await restoredClient.Put("/v1/config/restored", new { value = new { limit = 3 }, expectedVersion = 2 })).Json(HttpStatusCode.OK);
        var next = await (await restoredClient.Post("/v1/sequences/restored/next", new { count = 1 })).Json(HttpStatusCode.OK);
        Assert.Equal(nextId + Coordination.Silo.Backup.StateSnapshots.RevisionSkip, next.GetProperty("first").GetUInt64());
        var cluster = await (await restoredClient.GetAsync("/v1/cluster")).Json(HttpStatusCode.OK);
        Assert.True(cluster.GetProperty("appliedIndex").GetUInt64() > savedIndex + Coordination.Silo.Backup.StateSnapshots.RevisionSkip, cluster.GetRawText());

        // Nothing the old cluster handed out after the save comes again: its lock token is below
        // the new cluster's, and a watcher resuming from its revisions is told to start over.
        var token = (await (await restoredClient.Post("/v1/locks/restored/acquire", new { sessionId = await restoredClient.Session() })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        Assert.True(token > lateToken, $"token {token} after the old cluster's {lateToken}");
        var watch = await (await restoredClient.GetAsync($"/v1/events?after={lateRevision}&waitMs=0")).Json(HttpStatusCode.OK);
        Assert.True(watch.GetProperty("compacted").GetBoolean(), watch.GetRawText());
    }

    [Fact]
    public async Task Three_new_silos_restored_from_the_same_state_elect_a_leader_and_each_serve_it()
    {
        using var file = new TempFile("coord-restore");
        using (var original = new SiloFactory())
        {
            var client = await original.ReadyClientAsync();
            await (await client.Put("/v1/config/restored-3", new { value = new { replicas = 3 }, expectedVersion = 0 })).Json(HttpStatusCode.OK);
            await File.WriteAllBytesAsync(file.Path, await client.GetByteArrayAsync("/v1/cluster/snapshot"));
        }

        await using var cluster = new Cluster.SiloProcessCluster(3, "--restore-from", file.Path);
        var leader = await cluster.LeaderAsync();
        using (var write = cluster.Client(leader))
        {
            await (await write.Put("/v1/config/restored-3", new { value = new { replicas = 5 }, expectedVersion = 1 })).Json(HttpStatusCode.OK);
        }

        foreach (var id in cluster.Ids)
        {
            using var client = cluster.Client(id);
            var config = await (await client.GetAsync("/v1/config/restored-3")).Json(HttpStatusCode.OK);
            Assert.Equal(5, config.GetProperty("value").GetProperty("replicas").GetInt32());
            Assert.Equal(2, config.GetProperty("version").GetInt32());
        }
    }

    [Fact]
    public async Task A_file_that_is_not_a_state_snapshot_stops_the_silo()
    {
        using var file = new TempFile("coord-restore");
        await File.WriteAllBytesAsync(file.Path, new byte[64]);
        using var fresh = new SiloFactory();
        using var restored = fresh.WithWebHostBuilder(b => b.UseSetting("Coordination:RestoreFrom", file.Path));
        var error = Assert.ThrowsAny<Exception>(() => restored.CreateClient());
        Assert.Contains("snapshot", error.ToString(), StringComparison.OrdinalIgnoreCase);
    }
}
