using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Coordination.Client;

namespace Coordination.Bench;

/// <summary>The workloads of issue 8, each run at one concurrency for a fixed time.</summary>
public sealed partial class Workloads(RestCluster cluster, TimeSpan duration, IReadOnlyList<int> siloPids, string? clusterDirectory, string target = "coordination")
{
    /// <summary>How often the watch workloads' writer puts (zero: back to back).</summary>
    public TimeSpan WatchPutInterval { get; init; } = TimeSpan.FromMilliseconds(5);

    public static readonly string[] Names = ["config-put", "get-linearizable", "get-stale", "lock-cycle", "lock-contended", "lock-contended-linearizable", "lock-contended-txn", "lock-contended-fetch", "watch-latency", "watch-latency-stream", "keepalive", "txn-internal", "txn-2pc", "failover"];

    public Task<LoadResult> RunAsync(string workload, int clients) => target == "etcd" ? RunOnEtcdAsync(workload, clients) : Clients is not null ? RunThroughClientAsync(workload, clients) : workload switch
    {
        "config-put" => Loop(workload, clients, _ => Task.CompletedTask, (i, n) => cluster.SendAsync(HttpMethod.Put, $"/v1/config/bench-put-{i}", new { value = n })),
        "get-linearizable" => Loop(workload, clients, Seed, (i, _) => cluster.SendAsync(HttpMethod.Get, "/v1/config/bench-get", at: cluster.Endpoint(i))),
        "get-stale" => Loop(workload, clients, Seed, (i, _) => cluster.SendAsync(HttpMethod.Get, "/v1/config/bench-get?consistency=stale", at: cluster.Endpoint(i))),
        "lock-cycle" => LockCycle(clients),
        "lock-contended" => LockContended(clients, ContendedShape.FourRequests),
        "lock-contended-linearizable" => LockContended(clients, ContendedShape.FourRequestsLinearizable),
        "lock-contended-txn" => LockContended(clients, ContendedShape.OneStep),
        "lock-contended-fetch" => LockContended(clients, ContendedShape.ReadWithGrant),
        "watch-latency" => WatchLatency(clients, stream: false),
        "watch-latency-stream" => WatchLatency(clients, stream: true),
        "keepalive" => KeepAlive(clients),
        "txn-internal" => Loop(workload, clients, _ => Task.CompletedTask, (i, n) => cluster.SendAsync(HttpMethod.Post, "/v1/transactions", new
        {
            operations = new object[]
            {
                new { type = "put", name = $"bench-txn-{i}-a", value = n },
                new { type = "put", name = $"bench-txn-{i}-b", value = -n },
            },
        })),
        "txn-2pc" => TwoPhaseCommit(clients),
        "failover" => Failover(n => cluster.SendAsync(HttpMethod.Put, "/v1/config/bench-failover", new { value = n }, at: cluster.AnyEndpoint())),
        _ => throw new ArgumentException($"unknown workload '{workload}'; known: {string.Join(", ", Names)}"),
    };

    private Task Seed(int client) => client == 0 ? cluster.SendAsync(HttpMethod.Put, "/v1/config/bench-get", new { value = new { seeded = true } }) : Task.CompletedTask;

    private async Task<ulong> SessionAsync(long ttlMs = 60_000) =>
        (await cluster.SendAsync(HttpMethod.Post, "/v1/sessions", new { ttlMs })).GetProperty("sessionId").GetUInt64();

    /// <summary>Runs <paramref name="clients"/> closed loops of <paramref name="operation"/> for the duration.</summary>
    private async Task<LoadResult> Loop(string workload, int clients, Func<int, Task> setup, Func<int, long, Task> operation, Func<string?>? note = null)
    {
        for (var i = 0; i < clients; i++)
        {
            await setup(i);
        }

        var latencies = new ConcurrentBag<List<long>>();
        var completions = new ConcurrentBag<List<long>>();
        long errors = 0;
        var cpuBefore = ClusterCpu.Seconds(siloPids);
        var runStarted = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var mine = new List<long>(4096);
            var finished = new List<long>(4096);
            for (long n = 0; Stopwatch.GetElapsedTime(runStarted) < duration; n++)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await operation(i, n);
                    var now = Stopwatch.GetTimestamp();
                    mine.Add(now - started);
                    finished.Add(now);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or CoordinationException)
                {
                    Interlocked.Increment(ref errors);
                }
            }

            latencies.Add(mine);
            completions.Add(finished);
        })));
        var elapsed = Stopwatch.GetElapsedTime(runStarted);
        return LoadResult.From(workload, clients, [.. latencies.SelectMany(l => l)], errors, elapsed, ClusterCpu.Seconds(siloPids) - cpuBefore, note?.Invoke())
            with { LongestPauseMs = LoadResult.LongestGapMs(runStarted, [.. completions.SelectMany(c => c)]) };
    }

    private async Task<LoadResult> LockCycle(int clients)
    {
        var sessions = new ulong[clients];
        return await Loop("lock-cycle", clients, async i => sessions[i] = await SessionAsync(), async (i, _) =>
        {
            var token = (await cluster.SendAsync(HttpMethod.Post, $"/v1/locks/bench-own-{i}/acquire", new { sessionId = sessions[i] })).GetProperty("token").GetUInt64();
            await cluster.SendAsync(HttpMethod.Post, $"/v1/locks/bench-own-{i}/release", new { sessionId = sessions[i], token });
        });
    }

    /// <summary>How a contended-lock holder reads the counter and ends its critical section.</summary>
    private enum ContendedShape
    {
        /// <summary>Acquire, read at the grant's revision, fenced put, release: ZooKeeper's recipe, whose getData is served by the connected server with the client's own writes visible.</summary>
        FourRequests,

        /// <summary>The same with a linearizable read (a ReadIndex round), like etcd's default range.</summary>
        FourRequestsLinearizable,

        /// <summary>Acquire, read at the grant's revision, one transaction that writes and releases (an etcd txn deleting the lock key, a ZooKeeper multi).</summary>
        OneStep,

        /// <summary>
        /// An acquire whose grant carries the counter (<c>readConfig</c>: read by the granting silo), then
        /// <see cref="OneStep"/>'s transaction: two requests per holder. The twins have no such acquire and
        /// run their <see cref="OneStep"/> shape under this name, so the comparison is each one's best.
        /// </summary>
        ReadWithGrant,
    }

    /// <summary>Whether the holder ends its critical section with one transaction that writes and releases.</summary>
    private static bool ReleasesInOneStep(ContendedShape shape) => shape is ContendedShape.OneStep or ContendedShape.ReadWithGrant;

    private static string WorkloadName(ContendedShape shape) => shape switch
    {
        ContendedShape.FourRequests => "lock-contended",
        ContendedShape.FourRequestsLinearizable => "lock-contended-linearizable",
        ContendedShape.ReadWithGrant => "lock-contended-fetch",
        _ => "lock-contended-txn",
    };

    /// <summary>
    /// N clients, one lock: each holder reads a counter and writes it back plus one, fenced.
    /// The final count must equal the number of grants: the fencing check of the whole path.
    /// A read at the grant's revision (the token) sees every earlier holder's write: each wrote before
    /// releasing, and the grant comes after the release.
    /// </summary>
    private async Task<LoadResult> LockContended(int clients, ContendedShape shape)
    {
        var workload = WorkloadName(shape);
        long readTicks = 0, putTicks = 0, releaseTicks = 0; // where a four-request holder's time goes
        var sessions = new ulong[clients];
        var name = $"bench-contended-{Guid.NewGuid():N}";
        long grants = 0;
        var turns = new Turns(clients);
        await cluster.SendAsync(HttpMethod.Put, $"/v1/config/{name}", new { value = 0 });
        var result = await Loop(workload, clients, async i => sessions[i] = await SessionAsync(), async (i, _) =>
        {
            var grant = await cluster.SendAsync(HttpMethod.Post, $"/v1/locks/{name}/acquire", new { sessionId = sessions[i], waitMs = 30_000, readConfig = shape == ContendedShape.ReadWithGrant ? name : null });
            var token = grant.GetProperty("token").GetUInt64();
            Interlocked.Increment(ref grants);
            var read = shape == ContendedShape.FourRequestsLinearizable ? $"/v1/config/{name}" : $"/v1/config/{name}?consistency=stale&minRevision={token}";
            if (ReleasesInOneStep(shape))
            {
                // A grant without the document (the silo could not read it) is read as the other shapes do.
                var count = shape == ContendedShape.ReadWithGrant && grant.TryGetProperty("config", out var config)
                    ? config.GetProperty("value").GetInt64()
                    : (await cluster.SendAsync(HttpMethod.Get, read)).GetProperty("value").GetInt64();
                turns.Record(i, count);
                await cluster.SendAsync(HttpMethod.Post, "/v1/transactions", new
                {
                    operations = new object[]
                    {
                        new { type = "put", name, value = (object)(count + 1) },
                        new { type = "release", name, sessionId = sessions[i], token },
                    },
                });
            }
            else
            {
                var t0 = Stopwatch.GetTimestamp();
                var count = (await cluster.SendAsync(HttpMethod.Get, read)).GetProperty("value").GetInt64();
                var t1 = Stopwatch.GetTimestamp();
                turns.Record(i, count);
                await cluster.SendAsync(HttpMethod.Put, $"/v1/config/{name}/fenced", new { value = count + 1, lockName = name, token });
                var t2 = Stopwatch.GetTimestamp();
                await cluster.SendAsync(HttpMethod.Post, $"/v1/locks/{name}/release", new { sessionId = sessions[i], token });
                var t3 = Stopwatch.GetTimestamp();
                Interlocked.Add(ref readTicks, t1 - t0);
                Interlocked.Add(ref putTicks, t2 - t1);
                Interlocked.Add(ref releaseTicks, t3 - t2);
            }
        });
        var final = (await cluster.SendAsync(HttpMethod.Get, $"/v1/config/{name}")).GetProperty("value").GetInt64();
        var verdict = CountVerdict(final, grants);
        string Mean(long ticks) => (ticks * 1000.0 / Stopwatch.Frequency / Math.Max(1, grants)).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
        return result with { Note = ReleasesInOneStep(shape) ? $"{verdict}; {turns.Summary()}" : $"{verdict}; {turns.Summary()}; mean ms get {Mean(readTicks)}, put {Mean(putTicks)}, release {Mean(releaseTicks)}" };
    }

    /// <summary>
    /// How many grants a contended-lock client sees between two of its own (from the counter it reads):
    /// with FIFO waiters and every client queued again at once, always the number of clients. More
    /// means a client was passed over; this separates unfairness from slow handoffs in a long p99.
    /// </summary>
    private sealed class Turns(int clients)
    {
        private readonly long[] _last = Enumerable.Repeat(-1L, clients).ToArray();
        private readonly ConcurrentBag<long> _gaps = [];

        public void Record(int client, long count)
        {
            if (_last[client] >= 0)
            {
                _gaps.Add(count - _last[client]);
            }

            _last[client] = count;
        }

        public string Summary()
        {
            var gaps = _gaps.Order().ToList();
            return gaps.Count == 0 ? "turns: none"
                : $"grants per turn: p50 {LoadResult.Percentile(gaps, 0.50)}, p99 {LoadResult.Percentile(gaps, 0.99)}, max {gaps[^1]}, {gaps.Count(g => g != clients)} of {gaps.Count} not {clients}";
        }
    }

    /// <summary>The contended workloads' check: every grant incremented the counter exactly once.</summary>
    private static string CountVerdict(long count, long grants) =>
        count == grants ? $"count {count} = grants" : $"LOST UPDATES: count {count}, grants {grants}";

    /// <summary>
    /// One writer, <paramref name="watchers"/> watchers spread over the silos. Watchers long-poll (a
    /// request per notification, as a ZooKeeper one-shot watch is set again), or with
    /// <paramref name="stream"/> hold one Server-Sent Events stream each (pushed, as an etcd watch stream).
    /// </summary>
    private async Task<LoadResult> WatchLatency(int watchers, bool stream)
    {
        var name = $"bench-watch-{Guid.NewGuid():N}";
        var start = (await cluster.SendAsync(HttpMethod.Put, $"/v1/config/{name}", new { value = 0 })).GetProperty("revision").GetUInt64();
        void Deliver(JsonElement e, long at, Action<long, long> onEvent)
        {
            if (e.TryGetProperty("version", out var version))
            {
                onEvent(version.GetInt64(), at);
            }
        }

        Task Watch(Action<long, long> onEvent, Action onError, CancellationToken stop) => stream
            ? StreamEvents(cluster.OpenStreamAsync(HttpMethod.Get, $"/v1/events/stream?after={start}&kind=config&name={name}", null, cluster.AnyEndpoint(), stop), "data: ", (e, at) => Deliver(e, at, onEvent), stop, onError)
            : LongPoll(onEvent, onError, stop);

        async Task LongPoll(Action<long, long> onEvent, Action onError, CancellationToken stop)
        {
            var after = start;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var page = await cluster.SendAsync(HttpMethod.Get, $"/v1/events?after={after}&kind=config&name={name}&waitMs=1000", at: cluster.AnyEndpoint(), cancellation: stop);
                    var received = Stopwatch.GetTimestamp();
                    foreach (var e in page.GetProperty("events").EnumerateArray())
                    {
                        Deliver(e, received, onEvent);
                    }

                    after = page.GetProperty("resumeAfter").GetUInt64();
                }
                catch (OperationCanceledException)
                {
                }
                catch (HttpRequestException)
                {
                    onError();
                }
            }
        }

        return await MeasureWatch(stream ? "watch-latency-stream" : "watch-latency", watchers, version => cluster.SendAsync(HttpMethod.Put, $"/v1/config/{name}", new { value = version }), Watch, streamsOpenFirst: stream);
    }

    /// <summary>
    /// The watch measurement, shared by every target: <paramref name="watchers"/> run
    /// <paramref name="watch"/>, which reports each notification as (the document's version, when it
    /// arrived); one writer puts versions 2, 3, ... every <see cref="WatchPutInterval"/> (zero: back to
    /// back). Latency is from sending the put to each notification, as the issue's reference figures
    /// count; the note adds it from the put's acknowledgement (a notification that came first counts 0).
    /// </summary>
    private async Task<LoadResult> MeasureWatch(string workload, int watchers, Func<long, Task> put, Func<Action<long, long>, Action, CancellationToken, Task> watch, bool streamsOpenFirst)
    {
        var sent = new ConcurrentDictionary<long, long>();
        var acked = new ConcurrentDictionary<long, long>();
        var notified = new ConcurrentQueue<(long Version, long At)>();
        long errors = 0;
        using var stop = new CancellationTokenSource(duration);
        var watching = Enumerable.Range(0, watchers)
            .Select(_ => Task.Run(() => watch((version, at) => notified.Enqueue((version, at)), () => Interlocked.Increment(ref errors), stop.Token)))
            .ToArray();
        if (streamsOpenFirst)
        {
            // Let every stream open before the first put, so none starts with a backlog.
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }

        var clock = Stopwatch.StartNew();
        var cpuBefore = ClusterCpu.Seconds(siloPids);
        for (long version = 2; !stop.IsCancellationRequested; version++)
        {
            sent[version] = Stopwatch.GetTimestamp();
            await put(version);
            acked[version] = Stopwatch.GetTimestamp();
            if (WatchPutInterval > TimeSpan.Zero)
            {
                await Task.Delay(WatchPutInterval);
            }
        }

        await Task.WhenAll(watching);
        var fromSent = new List<long>();
        var fromAck = new List<long>();
        var beforeAck = 0;
        foreach (var (version, at) in notified)
        {
            if (sent.TryGetValue(version, out var sentAt) && acked.TryGetValue(version, out var ackedAt))
            {
                fromSent.Add(at - sentAt);
                fromAck.Add(Math.Max(0, at - ackedAt));
                beforeAck += at < ackedAt ? 1 : 0;
            }
        }

        fromAck.Sort();
        var interval = WatchPutInterval > TimeSpan.Zero ? $"a put every {WatchPutInterval.TotalMilliseconds:0.#} ms" : "puts back to back";
        var note = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"from sending the put ({interval}); from its ack: p50 {LoadResult.PercentileMs(fromAck, 0.50):0.00}, p99 {LoadResult.PercentileMs(fromAck, 0.99):0.00} ms, {100.0 * beforeAck / Math.Max(1, fromAck.Count):0}% came before the ack");
        return LoadResult.From(workload, watchers, fromSent, errors, clock.Elapsed, ClusterCpu.Seconds(siloPids) - cpuBefore, note);
    }

    /// <summary>
    /// Reads one event stream until cancelled, handing the JSON of each line that starts with
    /// <paramref name="prefix"/>, and when the line arrived, to <paramref name="onEvent"/>: Server-Sent Events ("data: ") or
    /// newline-delimited JSON (etcd's watch, prefix "").
    /// </summary>
    private static async Task StreamEvents(Task<HttpResponseMessage> opening, string prefix, Action<JsonElement, long> onEvent, CancellationToken stop, Action onError)
    {
        try
        {
            using var response = await opening;
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop));
            for (var line = await reader.ReadLineAsync(stop); line is not null; line = await reader.ReadLineAsync(stop))
            {
                if (line.Length > prefix.Length && line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    var at = Stopwatch.GetTimestamp();
                    using var data = JsonDocument.Parse(line.AsMemory(prefix.Length));
                    onEvent(data.RootElement, at);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            onError();
        }
    }

    private async Task<LoadResult> KeepAlive(int clients)
    {
        var sessions = new ulong[clients];
        return await Loop("keepalive", clients, async i => sessions[i] = await SessionAsync(30_000), (i, _) => cluster.SendAsync(HttpMethod.Post, $"/v1/sessions/{sessions[i]}/keepalive"));
    }

    /// <summary>
    /// Distributed transactions with two participants on loopback: begin, then wait until every
    /// participant acknowledged commit (prepare, vote, decision, delivery, acknowledgement).
    /// </summary>
    private async Task<LoadResult> TwoPhaseCommit(int clients)
    {
        await using var participants = await BenchParticipants.StartAsync();
        var run = Guid.NewGuid().ToString("N")[..8];
        return await Loop("txn-2pc", clients, _ => Task.CompletedTask, async (i, n) =>
        {
            var id = $"bench-{run}-{i}-{n}";
            await cluster.SendAsync(HttpMethod.Post, "/v1/distributed-transactions", new
            {
                id,
                participants = new[]
                {
                    new { name = "a", endpoint = participants.Endpoint("a"), work = (object)new { n } },
                    new { name = "b", endpoint = participants.Endpoint("b"), work = (object)new { n } },
                },
            });
            var view = await cluster.SendAsync(HttpMethod.Get, $"/v1/distributed-transactions/{id}?waitMs=30000&until=finished");
            if (view.GetProperty("state").GetString() != "committed")
            {
                throw new HttpRequestException($"{id} ended {view.GetProperty("state").GetString()}");
            }
        });
    }

    /// <summary>Writes steadily with <paramref name="put"/>, kills the leader with SIGKILL, and reports the gap until the next successful write.</summary>
    private async Task<LoadResult> Failover(Func<long, Task> put)
    {
        if (clusterDirectory is null)
        {
            throw new ArgumentException("failover needs --cluster-dir (the pid files of scripts/cluster.sh)");
        }

        var leaderUrl = await cluster.DiscoverLeaderAsync();
        var leaderId = (await cluster.SendAsync(HttpMethod.Get, "/v1/cluster", at: leaderUrl)).GetProperty("nodeId").GetUInt64();
        long lastBefore = 0, firstAfter = 0, errors = 0, killedAt = 0;
        var latencies = new List<long>();
        var clock = Stopwatch.StartNew();
        for (long n = 0; clock.Elapsed < duration + TimeSpan.FromSeconds(10) && firstAfter == 0; n++)
        {
            if (killedAt == 0 && clock.Elapsed > TimeSpan.FromSeconds(2))
            {
                var pidFile = Path.Combine(clusterDirectory, $"silo-{leaderId}.pid");
                Process.GetProcessById(int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture)).Kill();
                killedAt = Stopwatch.GetTimestamp();
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                await put(n);
                latencies.Add(Stopwatch.GetTimestamp() - started);
                if (killedAt == 0)
                {
                    lastBefore = Stopwatch.GetTimestamp();
                }
                else if (started > killedAt)
                {
                    firstAfter = Stopwatch.GetTimestamp();
                }
            }
            catch (Exception e) when (e is HttpRequestException or CoordinationException)
            {
                errors++;
            }
        }

        var gapMs = firstAfter == 0 ? double.NaN : (firstAfter - killedAt) * 1000.0 / Stopwatch.Frequency;
        return LoadResult.From("failover", 1, latencies, errors, clock.Elapsed, 0, $"kill -9 of leader {leaderId} to the next good write: {gapMs:0} ms");
    }
}
