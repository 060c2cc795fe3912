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
        "get-linearizable" => Loop(workload, clients, SeedEtcd, (_, _) => cluster.SendAsync(HttpMethod.Post, "/v3/kv/range", new { key = Base64("bench-get") }, at: cluster.AnyEndpoint())),
        "get-stale" => Loop(workload, clients, SeedEtcd, (_, _) => cluster.SendAsync(HttpMethod.Post, "/v3/kv/range", new { key = Base64("bench-get"), serializable = true }, at: cluster.AnyEndpoint())),
        "lock-cycle" => EtcdLockCycle(clients),
        _ => throw new ArgumentException($"workload '{workload}' is not implemented for etcd; known: config-put, get-linearizable, get-stale, lock-cycle"),
    };

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

    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
}
