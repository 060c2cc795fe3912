using System.Diagnostics;

namespace Coordination.Tests.Cluster;

/// <summary>What tests on a process cluster do during failovers: wait for a condition, call any running silo and retry.</summary>
internal static class ClusterCalls
{
    /// <summary>Polls <paramref name="condition"/> every 25 ms until it holds; throws after <paramref name="patience"/>.</summary>
    public static async Task Until(Func<Task<bool>> condition, string what, TimeSpan patience)
    {
        var clock = Stopwatch.StartNew();
        for (var round = 0; round < 100_000 && clock.Elapsed < patience; round++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"waited {patience} for {what}");
    }

    /// <summary>A client during failover: each attempt on the next running silo (5 s timeout), refusals retried within a bound.</summary>
    public static async Task<T> Retry<T>(this SiloProcessCluster cluster, Func<HttpClient, Task<T>> attempt)
    {
        for (var i = 0; ; i++)
        {
            var running = cluster.Ids.Where(cluster.IsRunning).ToArray();
            using var client = cluster.Client(running[i % running.Length]);
            client.Timeout = TimeSpan.FromSeconds(5);
            try
            {
                return await attempt(client);
            }
            catch (Exception e) when (i < 300 && e is HttpRequestException or TaskCanceledException or Xunit.Sdk.XunitException)
            {
                await Task.Delay(50);
            }
        }
    }
}
