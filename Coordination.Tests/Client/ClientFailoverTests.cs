using System.Text.Json;
using Coordination.Client;
using Coordination.Tests.Cluster;

namespace Coordination.Tests.Client;

/// <summary>
/// The client against three real silo processes whose leader is killed with SIGKILL: it finds the new
/// leader by itself, its session survives, its lock keeps its guarantees and its watch has no gap.
/// </summary>
public sealed class ClientFailoverTests : IAsyncLifetime
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(60);
    private SiloProcessCluster _cluster = null!;

    public Task InitializeAsync()
    {
        _cluster = new SiloProcessCluster(3);
        return _cluster.LeaderAsync();
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task After_the_leader_is_killed_the_client_carries_on_without_losing_its_session_lock_or_watch()
    {
        var leader = await _cluster.LeaderAsync();
        using var client = new CoordinationClient(new CoordinationClientOptions
        {
            // The killed leader first: the client must move away from it on its own.
            Endpoints = [_cluster.Url(leader), .. _cluster.Ids.Where(id => id != leader).Select(_cluster.Url)],
            AttemptTimeout = TimeSpan.FromSeconds(2),
            RetryAttemptsMax = 20,
            RetryBaseDelay = TimeSpan.FromMilliseconds(50),
            RetryDelayMax = TimeSpan.FromMilliseconds(500),
            WatchPollWait = TimeSpan.FromSeconds(2),
            WatchRetryDelay = TimeSpan.FromMilliseconds(100),
        });
        await using var session = await client.CreateSessionAsync(TimeSpan.FromSeconds(15));
        await using var held = await session.AcquireLockAsync("failover-db", wait: TimeSpan.FromSeconds(5));
        var start = await client.PutConfigAsync("failover-app", JsonSerializer.SerializeToElement(0));
        using var stop = new CancellationTokenSource(WaitMax);
        const int writes = 12;
        var watching = Task.Run(async () =>
        {
            var versions = new List<long>();
            await foreach (var change in client.WatchConfigAsync("failover-app", start.Revision, stop.Token))
            {
                versions.Add(change.Version ?? -1);
                if (versions.Count == writes)
                {
                    return versions;
                }
            }

            return versions;
        });

        for (var i = 1; i <= writes; i++)
        {
            if (i == writes / 2)
            {
                _cluster.Kill(leader);
            }

            await held.PutConfigAsync("failover-app", JsonSerializer.SerializeToElement(i), stop.Token);
        }

        Assert.Equal(Enumerable.Range(2, writes).Select(v => (long)v), await watching.WaitAsync(WaitMax));
        var newLeader = await _cluster.LeaderAsync(except: leader);
        await client.GetClusterAsync(stop.Token);
        Assert.Equal(_cluster.Url(newLeader), client.KnownLeader);
        Assert.False(session.SessionLost.IsCancellationRequested);
        Assert.Equal(held.Token, Assert.Single((await client.InspectLockAsync("failover-db", stop.Token)).Holders).Token);
        await session.KeepAliveAsync(stop.Token);
    }
}
