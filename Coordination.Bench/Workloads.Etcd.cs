using System.Text;

namespace Coordination.Bench;

/// <summary>
/// The same workloads against etcd 3.4 through its JSON gateway (`--target etcd`), for the side-by-side
/// comparison issue 8 asks for: a put per client key, a linearizable range read, and a lock cycle
/// (etcd's lock service: lock under a lease, then unlock), each one request per operation as ours.
/// </summary>
public sealed partial class Workloads
{
    private Task<LoadResult> RunOnEtcdAsync(string workload, int clients) => workload switch
    {
        "config-put" => Loop(workload, clients, _ => Task.CompletedTask, (i, n) => cluster.SendAsync(HttpMethod.Post, "/v3/kv/put", new { key = Base64($"bench-put-{i}"), value = Base64($"{n}") })),
        "get-linearizable" => Loop(workload, clients, SeedEtcd, (i, _) => cluster.SendAsync(HttpMethod.Post, "/v3/kv/range", new { key = Base64("bench-get") }, at: cluster.Endpoint(i))),
        "get-stale" => Loop(workload, clients, SeedEtcd, (i, _) => cluster.SendAsync(HttpMethod.Post, "/v3/kv/range", new { key = Base64("bench-get"), serializable = true }, at: cluster.Endpoint(i))),
        "lock-cycle" => EtcdLockCycle(clients),
        "lock-contended" => EtcdLockContended(clients, ContendedShape.FourRequests),
        "lock-contended-linearizable" => EtcdLockContended(clients, ContendedShape.FourRequestsLinearizable),
        "lock-contended-txn" => EtcdLockContended(clients, ContendedShape.OneStep),
        "lock-contended-fetch" => EtcdLockContended(clients, ContendedShape.ReadWithGrant),
        "watch-latency-stream" => EtcdWatchLatency(clients),
        _ => throw new ArgumentException($"workload '{workload}' is not implemented for etcd; known: config-put, get-linearizable, get-stale, lock-cycle, lock-contended, lock-contended-linearizable, lock-contended-txn, lock-contended-fetch, watch-latency-stream"),
    };

    /// <summary>
    /// Our event-stream watch workload on etcd: each watcher holds one watch stream (the gateway's
    /// `/v3/watch`, newline-delimited JSON) on a member in turn; the key's version names the put.
    /// </summary>
    private async Task<LoadResult> EtcdWatchLatency(int watchers)
    {
        var key = Base64($"bench-watch-{Guid.NewGuid():N}");
        await cluster.SendAsync(HttpMethod.Post, "/v3/kv/put", new { key, value = Base64("1") });
        Task Watch(Action<long, long> onEvent, Action onError, CancellationToken stop) =>
            StreamEvents(cluster.OpenStreamAsync(HttpMethod.Post, "/v3/watch", new { create_request = new { key } }, cluster.AnyEndpoint(), stop), "", (line, at) =>
            {
                if (line.TryGetProperty("result", out var result) && result.TryGetProperty("events", out var events))
                {
                    foreach (var e in events.EnumerateArray())
                    {
                        // The gateway writes 64-bit integers as strings.
                        onEvent(long.Parse(e.GetProperty("kv").GetProperty("version").GetString()!, System.Globalization.CultureInfo.InvariantCulture), at);
                    }
                }
            }, stop, onError);

        return await MeasureWatch("watch-latency-stream", watchers, version => cluster.SendAsync(HttpMethod.Post, "/v3/kv/put", new { key, value = Base64($"{version}") }), Watch, streamsOpenFirst: true);
    }

    private Task SeedEtcd(int client) =>
        client == 0 ? cluster.SendAsync(HttpMethod.Post, "/v3/kv/put", new { key = Base64("bench-get"), value = Base64("{\"seeded\":true}") }) : Task.CompletedTask;

    private async Task<LoadResult> EtcdLockCycle(int clients)
    {
        var leases = new string[clients];
        return await Loop("lock-cycle", clients, async i => leases[i] = (await cluster.SendAsync(HttpMethod.Post, "/v3/lease/grant", new Dictionary<string, int> { ["TTL"] = 60 })).GetProperty("ID").GetString()!, async (i, _) =>
        {
            // The gateway names the field "TTL"; the tool's JSON is camelCase, hence the dictionary above.
            var key = (await cluster.SendAsync(HttpMethod.Post, "/v3/lock/lock", new { name = Base64($"bench-own-{i}"), lease = leases[i] })).GetProperty("key").GetString();
            await cluster.SendAsync(HttpMethod.Post, "/v3/lock/unlock", new { key });
        });
    }

    /// <summary>
    /// Our contended-lock workloads on etcd: the lock service under a lease per client; the counter is
    /// a key. Four requests per holder (lock, a serializable range on the member that granted it, or a
    /// linearizable one, a put fenced by a txn comparing that the lock key still exists, unlock), or
    /// three in one step (lock, serializable range, one txn that puts and deletes the lock key).
    /// </summary>
    private async Task<LoadResult> EtcdLockContended(int clients, ContendedShape shape)
    {
        var workload = WorkloadName(shape);
        // etcd's lock grant carries no value: ReadWithGrant is its one-step shape under that name.
        var oneStepRelease = ReleasesInOneStep(shape);
        var leases = new string[clients];
        var name = $"bench-contended-{Guid.NewGuid():N}";
        var counter = Base64($"{name}-count");
        long grants = 0;
        await cluster.SendAsync(HttpMethod.Post, "/v3/kv/put", new { key = counter, value = Base64("0") });
        var result = await Loop(workload, clients, async i => leases[i] = (await cluster.SendAsync(HttpMethod.Post, "/v3/lease/grant", new Dictionary<string, int> { ["TTL"] = 60 })).GetProperty("ID").GetString()!, async (i, _) =>
        {
            var key = (await cluster.SendAsync(HttpMethod.Post, "/v3/lock/lock", new { name = Base64(name), lease = leases[i] })).GetProperty("key").GetString()!;
            Interlocked.Increment(ref grants);
            var count = await ReadEtcdCounter(counter, serializable: shape != ContendedShape.FourRequestsLinearizable);
            var stillHeld = new[] { new Dictionary<string, string> { ["key"] = key, ["target"] = "CREATE", ["result"] = "GREATER", ["create_revision"] = "0" } };
            var put = new { request_put = new { key = counter, value = Base64($"{count + 1}") } };
            object[] success = oneStepRelease ? [put, new { request_delete_range = new { key } }] : [put];
            var txn = await cluster.SendAsync(HttpMethod.Post, "/v3/kv/txn", new { compare = stillHeld, success });
            if (!txn.TryGetProperty("succeeded", out var succeeded) || !succeeded.GetBoolean())
            {
                throw new HttpRequestException($"the fenced txn of a holder of {name} failed: it no longer held the lock");
            }

            if (!oneStepRelease)
            {
                await cluster.SendAsync(HttpMethod.Post, "/v3/lock/unlock", new { key });
            }
        });
        var final = await ReadEtcdCounter(counter, serializable: false);
        return result with { Note = CountVerdict(final, grants) };
    }

    private async Task<long> ReadEtcdCounter(string key, bool serializable)
    {
        var range = await cluster.SendAsync(HttpMethod.Post, "/v3/kv/range", new { key, serializable });
        return long.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(range.GetProperty("kvs")[0].GetProperty("value").GetString()!)), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
}
