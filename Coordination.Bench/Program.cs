using System.Globalization;
using Coordination.Bench;
using Coordination.Client;

// The load tool of issue 8. Drives a running cluster (scripts/cluster.sh start 3) over REST, or with
// --api client through the .NET client (Coordination.Client).
//   dotnet run -c Release --project Coordination.Bench -- --workloads config-put,get-linearizable --clients 1,16,64,256 --seconds 10
// Options: --endpoints (default 127.0.0.1:5081..5083), --workloads (or all), --clients, --seconds,
//          --json FILE (JSON lines), --cluster-dir (pid files, for CPU seconds and the failover kill; default data/cluster),
//          --target etcd (the same workloads against etcd's JSON gateway; scripts/etcd-cluster.sh, --cluster-dir data/etcd),
//          --warmup SECONDS (default 3: each workload first runs unmeasured (at up to 64 clients), so the
//          silos' JIT has tiered up, as a long-running service's has),
//          --settle SECONDS (default 15: the first workload's warm-up; a silo started moments ago still
//          spends a sixth of its CPU in the JIT 8-14 s after start, and under 1% a minute later),
//          --watch-put-interval-ms MS (default 5: how often the watch workloads' writer puts; 0: back to back),
//          --api rest|client (default rest; client: the workloads through CoordinationClient, one per silo,
//          over HTTP/2 with --http 2; --idempotency-keys false: its writes without keys, sent once),
//          --http 1.1|2 (default 1.1; 2: HTTP/2 without TLS, to the silos' HTTP/2 ports 7081.. by default,
//          each silo's requests multiplexed over one connection (more past 100 in flight)).
// Each row also gives the silos' allocations per operation (KB/op, from their /metrics).
var arguments = ParseArguments(args);
var http = arguments.GetValueOrDefault("http", "1.1") switch
{
    "1.1" => System.Net.HttpVersion.Version11,
    "2" => System.Net.HttpVersion.Version20,
    var other => throw new ArgumentException($"--http is 1.1 or 2, not '{other}'"),
};
var defaultEndpoints = (arguments.GetValueOrDefault("target"), http.Major) switch
{
    ("etcd", _) => "http://127.0.0.1:2379,http://127.0.0.1:22379,http://127.0.0.1:32379",
    (_, 2) => "http://127.0.0.1:7081,http://127.0.0.1:7082,http://127.0.0.1:7083",
    _ => "http://127.0.0.1:5081,http://127.0.0.1:5082,http://127.0.0.1:5083",
};
var endpoints = arguments.GetValueOrDefault("endpoints", defaultEndpoints)
    .Split(',', StringSplitOptions.RemoveEmptyEntries).Select(e => new Uri(e)).ToArray();
var api = arguments.GetValueOrDefault("api", "rest");
var workloads = arguments.GetValueOrDefault("workloads", "all") is "all"
    ? Workloads.Names.Where(w => api != "client" || w != "watch-latency-stream").ToArray() // the client watches by long-poll
    : arguments["workloads"].Split(',');
var sweep = arguments.GetValueOrDefault("clients", "1,16,64,256").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
var duration = TimeSpan.FromSeconds(double.Parse(arguments.GetValueOrDefault("seconds", "10"), CultureInfo.InvariantCulture));
var clusterDirectory = arguments.GetValueOrDefault("cluster-dir", "data/cluster");
var jsonPath = arguments.GetValueOrDefault("json");
var target = arguments.GetValueOrDefault("target", "coordination");
if (target is not ("coordination" or "etcd"))
{
    throw new ArgumentException("--target is coordination or etcd");
}

if (target == "etcd" && http.Major == 2)
{
    throw new ArgumentException("--http 2 is for our silos: etcd's JSON gateway takes no HTTP/2 without TLS");
}

if (api is not ("rest" or "client") || (api == "client" && target != "coordination"))
{
    throw new ArgumentException("--api is rest or client (client only with --target coordination)");
}

var idempotencyKeys = arguments.GetValueOrDefault("idempotency-keys", "true") switch
{
    "true" => true,
    "false" => false,
    var other => throw new ArgumentException($"--idempotency-keys is true or false, not '{other}'"),
};
var warmup = TimeSpan.FromSeconds(double.Parse(arguments.GetValueOrDefault("warmup", "3"), CultureInfo.InvariantCulture));

using var cluster = new RestCluster(endpoints, http);
await (target == "etcd" ? cluster.DiscoverEtcdLeaderAsync() : cluster.DiscoverLeaderAsync());
// Through the client: one per silo, each listing its own silo first (where it sends reads).
var apiClients = api == "client"
    ? endpoints.Select((_, i) => new CoordinationClient(new CoordinationClientOptions { Endpoints = [.. endpoints.Skip(i), .. endpoints.Take(i)], UseIdempotencyKeys = idempotencyKeys, UseHttp2 = cluster.Http2 })).ToArray()
    : null;
var watchPutInterval = TimeSpan.FromMilliseconds(double.Parse(arguments.GetValueOrDefault("watch-put-interval-ms", "5"), CultureInfo.InvariantCulture));
var runner = new Workloads(cluster, duration, ClusterCpu.PidsFrom(clusterDirectory), Directory.Exists(clusterDirectory) ? clusterDirectory : null, target) { WatchPutInterval = watchPutInterval, Clients = apiClients };
var httpName = cluster.Http2 ? "HTTP/2" : "HTTP/1.1";
Console.WriteLine(api == "client" ? $"# through the .NET client (Coordination.Client), one per silo, {httpName}" : $"# over REST ({target}, {httpName})");
Console.WriteLine(LoadResult.TableHeader);
var settle = TimeSpan.FromSeconds(double.Parse(arguments.GetValueOrDefault("settle", "15"), CultureInfo.InvariantCulture));
var settled = false;
foreach (var workload in workloads)
{
    if (warmup > TimeSpan.Zero && workload != "failover")
    {
        var warmupRunner = new Workloads(cluster, settled ? warmup : TimeSpan.FromTicks(Math.Max(settle.Ticks, warmup.Ticks)), [], null, target) { WatchPutInterval = watchPutInterval, Clients = apiClients };
        await warmupRunner.RunAsync(workload, Math.Min(sweep.Max(), 64));
        settled = true;
    }

    foreach (var clients in workload == "failover" ? [1] : sweep)
    {
        var allocatedBefore = target == "coordination" ? await cluster.AllocatedBytesAsync() : null;
        var result = await runner.RunAsync(workload, clients);
        if (allocatedBefore is { } before && await cluster.AllocatedBytesAsync() is { } after && result.Operations > 0)
        {
            // All three silos' allocations (the leader's work, the followers' and the gateways') per operation.
            result = result with { AllocatedKbPerOp = (after - before) / 1024.0 / result.Operations };
        }

        Console.WriteLine(result.ToTableRow());
        if (jsonPath is not null)
        {
            await File.AppendAllTextAsync(jsonPath, (result with { Api = api }).ToJsonLine() + Environment.NewLine);
        }
    }
}

foreach (var client in apiClients ?? [])
{
    client.Dispose();
}

static Dictionary<string, string> ParseArguments(string[] args)
{
    // A misspelt option would otherwise run the default workload and look like a measurement of the intended one.
    string[] known = ["endpoints", "workloads", "clients", "seconds", "json", "cluster-dir", "target", "api", "http", "warmup", "settle", "watch-put-interval-ms", "idempotency-keys"];
    var parsed = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 0; i < args.Length; i += 2)
    {
        if (!args[i].StartsWith("--", StringComparison.Ordinal) || !known.Contains(args[i][2..]) || i + 1 == args.Length)
        {
            throw new ArgumentException($"expected --option value pairs with options {string.Join(", ", known.Select(k => "--" + k))} (see the top of Coordination.Bench/Program.cs); got '{args[i]}'");
        }

        parsed[args[i][2..]] = args[i + 1];
    }

    return parsed;
}
