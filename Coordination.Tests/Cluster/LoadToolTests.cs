extern alias bench;

using bench::Coordination.Bench;
using Coordination.Client;

namespace Coordination.Tests.Cluster;

/// <summary>
/// The load tool's own checks on three real silo processes, briefly: every workload shape it reports
/// figures for must also be right, over REST and through the .NET client.
/// </summary>
public sealed class LoadToolTests : IAsyncLifetime
{
    private static readonly TimeSpan RunFor = TimeSpan.FromSeconds(1);

    private SiloProcessCluster _cluster = null!;

    public Task InitializeAsync()
    {
        _cluster = new SiloProcessCluster(3);
        return _cluster.LeaderAsync();
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Theory]
    [InlineData("rest", "lock-contended")]
    [InlineData("client", "lock-contended")]
    [InlineData("client", "lock-contended-txn")]
    public async Task A_contended_lock_counts_every_grant_exactly_once(string api, string workload)
    {
        var result = await RunAsync(api, workload, clients: 8);

        Assert.True(result.Operations > 0, $"no grants in {RunFor}");
        Assert.Equal(0, result.Errors);
        Assert.Equal($"count {result.Operations} = grants", result.Note!.Split(';')[0]);
    }

    [Theory]
    [InlineData("rest", "watch-latency")]
    [InlineData("rest", "watch-latency-stream")]
    [InlineData("client", "watch-latency")]
    public async Task Every_watcher_is_notified_of_the_puts(string api, string workload)
    {
        var result = await RunAsync(api, workload, clients: 3);

        Assert.Equal(0, result.Errors);
        Assert.True(result.Operations >= 3 * 10, $"{result.Operations} notifications to 3 watchers of a put every 5 ms for {RunFor}");
        Assert.Contains("from its ack", result.Note);
    }

    private async Task<LoadResult> RunAsync(string api, string workload, int clients)
    {
        var urls = _cluster.Urls.ToArray();
        using var rest = new RestCluster(urls);
        await rest.DiscoverLeaderAsync();
        var through = api == "client"
            ? urls.Select(u => new CoordinationClient(new CoordinationClientOptions { Endpoints = [u, .. urls.Where(o => o != u)] })).ToArray()
            : null;
        try
        {
            var workloads = new Workloads(rest, RunFor, [], clusterDirectory: null) { Clients = through };
            return await workloads.RunAsync(workload, clients).WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            foreach (var client in through ?? [])
            {
                client.Dispose();
            }
        }
    }
}
