using System.Diagnostics;
using System.Text.Json;
using Coordination.Client;
using Coordination.Client.Transactions;

namespace Coordination.Bench;

/// <summary>
/// The workloads through the .NET client (<c>--api client</c>): the same operations as over REST, with
/// the client's leader tracking, retries, idempotency keys and typed answers in the path. Load tool
/// client i uses <see cref="Clients"/>[i mod n], one per silo, each reading from its own silo first
/// (as an application instance would), so reads spread over the silos as the REST workloads' do.
/// </summary>
public sealed partial class Workloads
{
    /// <summary>When set, the workloads run through these clients instead of raw REST calls.</summary>
    public IReadOnlyList<CoordinationClient>? Clients { get; init; }

    private CoordinationClient Via(int client) => Clients![client % Clients.Count];

    private static JsonElement Number(long n) => JsonSerializer.SerializeToElement(n);

    private Task<LoadResult> RunThroughClientAsync(string workload, int clients) => workload switch
    {
        "config-put" => Loop(workload, clients, _ => Task.CompletedTask, (i, n) => Via(i).PutConfigAsync($"bench-put-{i}", Number(n))),
        "get-linearizable" => Loop(workload, clients, Seed, (i, _) => Via(i).GetConfigAsync("bench-get")),
        "get-stale" => Loop(workload, clients, Seed, (i, _) => Via(i).GetConfigAsync("bench-get", ReadConsistency.Stale)),
        "lock-cycle" => WithSessions(clients, keepAlive: true, sessions => Loop(workload, clients, _ => Task.CompletedTask, async (i, _) =>
        {
            var held = await sessions[i].AcquireLockAsync($"bench-own-{i}");
            await held.ReleaseAsync();
        })),
        "lock-contended" => ClientLockContended(clients, ContendedShape.FourRequests),
        "lock-contended-linearizable" => ClientLockContended(clients, ContendedShape.FourRequestsLinearizable),
        "lock-contended-txn" => ClientLockContended(clients, ContendedShape.OneStep),
        "lock-contended-fetch" => ClientLockContended(clients, ContendedShape.ReadWithGrant),
        "watch-latency" => ClientWatchLatency(clients),
        "keepalive" => WithSessions(clients, keepAlive: false, sessions => Loop(workload, clients, _ => Task.CompletedTask, (i, _) => sessions[i].KeepAliveAsync())),
        "txn-internal" => Loop(workload, clients, _ => Task.CompletedTask, (i, n) => Via(i).CommitTransactionAsync(
            new TransactionBuilder().Put($"bench-txn-{i}-a", Number(n)).Put($"bench-txn-{i}-b", Number(-n)).Build())),
        "txn-2pc" => ClientTwoPhaseCommit(clients),
        "failover" => Failover(n => Via(0).PutConfigAsync("bench-failover", Number(n))),
        _ => throw new ArgumentException($"workload '{workload}' is not implemented through the client; known: {string.Join(", ", Names.Where(n => n != "watch-latency-stream"))}"),
    };

    /// <summary>Runs <paramref name="run"/> with a session per load-tool client, each created through its own client, and ends them afterwards.</summary>
    private async Task<LoadResult> WithSessions(int clients, bool keepAlive, Func<CoordinationSession[], Task<LoadResult>> run)
    {
        var sessions = new CoordinationSession[clients];
        try
        {
            for (var i = 0; i < clients; i++)
            {
                sessions[i] = await Via(i).CreateSessionAsync(TimeSpan.FromSeconds(60), keepAlive);
            }

            return await run(sessions);
        }
        finally
        {
            foreach (var session in sessions.Where(s => s is not null))
            {
                await session.DisposeAsync();
            }
        }
    }

    /// <summary>The contended lock through the client: <see cref="LockContended"/>'s shapes, with lock handles and a transaction built by <see cref="TransactionBuilder"/>.</summary>
    private async Task<LoadResult> ClientLockContended(int clients, ContendedShape shape)
    {
        var name = $"bench-contended-{Guid.NewGuid():N}";
        long grants = 0;
        var turns = new Turns(clients);
        await Via(0).PutConfigAsync(name, Number(0));
        var result = await WithSessions(clients, keepAlive: true, sessions => Loop(WorkloadName(shape), clients, _ => Task.CompletedTask, async (i, _) =>
        {
            var held = await sessions[i].AcquireLockAsync(name, readConfig: shape == ContendedShape.ReadWithGrant ? name : null);
            Interlocked.Increment(ref grants);
            var document = shape switch
            {
                ContendedShape.ReadWithGrant when held.ConfigRead => held.Config,
                ContendedShape.FourRequestsLinearizable => await Via(i).GetConfigAsync(name),
                _ => await Via(i).GetConfigAsync(name, ReadConsistency.Stale, minRevision: held.Token),
            };
            turns.Record(i, document!.Value.GetInt64());
            var next = Number(document!.Value.GetInt64() + 1);
            if (ReleasesInOneStep(shape))
            {
                await Via(i).CommitTransactionAsync(new TransactionBuilder().Put(name, next).ReleaseLock(held).Build());
            }
            else
            {
                await held.PutConfigAsync(name, next);
                await held.ReleaseAsync();
            }
        }));
        var final = (await Via(0).GetConfigAsync(name))!.Value.GetInt64();
        return result with { Note = $"{CountVerdict(final, grants)}; {turns.Summary()}" };
    }

    /// <summary>Watchers on the client's config watch (long-polls, resumed from the last revision), spread over the silos.</summary>
    private async Task<LoadResult> ClientWatchLatency(int watchers)
    {
        var name = $"bench-watch-{Guid.NewGuid():N}";
        var start = (await Via(0).PutConfigAsync(name, Number(0))).Revision;
        var next = 0;
        async Task Watch(Action<long, long> onEvent, Action onError, CancellationToken stop)
        {
            var client = Via(Interlocked.Increment(ref next));
            try
            {
                await foreach (var change in client.WatchConfigAsync(name, start, stop))
                {
                    var at = Stopwatch.GetTimestamp();
                    if (change.Version is { } version)
                    {
                        onEvent(version, at);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (CoordinationException)
            {
                onError();
            }
        }

        return await MeasureWatch("watch-latency", watchers, version => Via(0).PutConfigAsync(name, Number(version)), Watch, streamsOpenFirst: false);
    }

    /// <summary><see cref="TwoPhaseCommit"/> through the client: begin, then wait until finished.</summary>
    private async Task<LoadResult> ClientTwoPhaseCommit(int clients)
    {
        await using var participants = await BenchParticipants.StartAsync();
        var run = Guid.NewGuid().ToString("N")[..8];
        return await Loop("txn-2pc", clients, _ => Task.CompletedTask, async (i, n) =>
        {
            var id = $"bench-{run}-{i}-{n}";
            var work = JsonSerializer.SerializeToElement(new { n });
            await Via(i).BeginDistributedTransactionAsync(new DistributedTransactionRequest(
                [new("a", new Uri(participants.Endpoint("a")), work), new("b", new Uri(participants.Endpoint("b")), work)], id));
            var view = await Via(i).WaitForDistributedTransactionAsync(id, DistributedTransactionMilestone.Finished, TimeSpan.FromSeconds(30));
            if (view.State != DistributedTransactionState.Committed)
            {
                throw new CoordinationException("bench-not-committed", 0, $"{id} ended {view.State}");
            }
        });
    }
}
