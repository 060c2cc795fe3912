using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Coordination.Consensus;
using Coordination.Tests.Linearizability;
using Coordination.Tests.Linearizability.Models;

namespace Coordination.Tests.Faults;

/// <summary>
/// Concurrent clients doing mixed operations against random serving members while the nemesis
/// injects faults, each operation recorded as invoke / ok / fail / unknown with monotonic
/// timestamps: config clients (put, compare-and-set, get on two documents), a sequence client,
/// lock clients guarding a <see cref="FencedStore"/> with their tokens (and a semaphore), election
/// clients (campaign, observe, proclaim, resign), membership-group clients (join, list, leave), and
/// a watcher of one document whose writer also records into the config history. Every loop is
/// bounded by <see cref="OpsPerClientMax"/> and by the stop token.
/// </summary>
public sealed class Workload(FaultCluster cluster, int seed, FencedStore store)
{
    public const int OpsPerClientMax = 20_000;
    public const string WatchedDocument = "f-watch";
    private const long SessionTtlMs = 3_000;
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromMilliseconds(1_500);
    private const int DocumentsPerEpoch = 2;
    private const string SequenceName = "f-seq";

    private readonly ConcurrentBag<string> _unexpected = [];
    private readonly ConcurrentBag<(long Session, long AliveSince, int Client, string[] Locks)> _abandoned = [];
    private int _epoch;

    /// <summary>
    /// Config documents and lock names change with every epoch (the test advances it after each
    /// fault). A timed-out operation stays pending in its partition for the rest of the history,
    /// and each pending one doubles the states to search; fresh keys keep every partition short,
    /// as Jepsen's independent keys do.
    /// </summary>
    public void NextEpoch() => Interlocked.Increment(ref _epoch);

    /// <summary>Every config document the clients have written (all epochs).</summary>
    public IEnumerable<string> Documents => Enumerable.Range(0, Volatile.Read(ref _epoch) + 1).SelectMany(e => Enumerable.Range(0, DocumentsPerEpoch).Select(i => Document(e, i)));

    private static string Document(int epoch, int i) => $"f-doc-{i}-e{epoch}";

    private string LockName => $"f-lock-e{Volatile.Read(ref _epoch)}";

    private const string SemaphorePrefix = "f-sem-e";

    /// <summary>Permits of every semaphore the lock clients use (three clients, two permits: it fills up).</summary>
    public const int SemaphorePermits = 2;

    private string SemaphoreName => $"{SemaphorePrefix}{Volatile.Read(ref _epoch)}";

    private const string ElectionPrefix = "f-elect-e";

    private string ElectionName => $"{ElectionPrefix}{Volatile.Read(ref _epoch)}";

    private const string GroupPrefix = "f-group-e";

    private string GroupName => $"{GroupPrefix}{Volatile.Read(ref _epoch)}";

    /// <summary>Clients of each kind: three lock, election and group clients, so queues and groups fill up.</summary>
    private const int ClientsPerKind = 3;

    public HistoryRecorder<ConfigInput, ConfigOutput> Config { get; } = new();

    public HistoryRecorder<SequenceInput, SequenceOutput> Sequence { get; } = new();

    public HistoryRecorder<LockInput, LockOutput> Locks { get; } = new();

    public HistoryRecorder<SemaphoreInput, SemaphoreOutput> Semaphores { get; } = new();

    public HistoryRecorder<ElectionInput, ElectionOutput> Elections { get; } = new();

    public HistoryRecorder<MembershipInput, MembershipOutput> Groups { get; } = new();

    /// <summary>
    /// Writes of <see cref="WatchedDocument"/>: one document across the whole run (the watch must
    /// span every fault), so its history is too long to search; it is checked by the watch
    /// (every version once, in order) and for durability instead.
    /// </summary>
    public HistoryRecorder<ConfigInput, ConfigOutput> Watched { get; } = new();

    /// <summary>Versions of <see cref="WatchedDocument"/> in the order the watcher saw their events.</summary>
    public List<long> WatchSeen { get; } = [];

    /// <summary>Answers no contract allows (status or code), as "operation: status code".</summary>
    public IReadOnlyCollection<string> Unexpected => _unexpected;

    public FencedStore Store => store;

    /// <summary>Runs every client until <paramref name="stop"/>; the watcher keeps going until <paramref name="watchUntil"/>.</summary>
    public Task Run(CancellationToken stop, CancellationToken watchUntil, Func<long> watchTarget)
    {
        var clients = new List<Task>();
        for (var i = 0; i < 3; i++)
        {
            var client = i;
            clients.Add(Task.Run(() => ConfigClient(client, stop)));
        }

        for (var i = 0; i < 3; i++)
        {
            var client = 10 + i;
            clients.Add(Task.Run(() => LockClient(client, stop)));
        }

        for (var i = 0; i < ClientsPerKind; i++)
        {
            var elector = 40 + i;
            var member = 50 + i;
            clients.Add(Task.Run(() => SessionClient(elector, stop, ElectionCycle)));
            clients.Add(Task.Run(() => SessionClient(member, stop, GroupCycle)));
        }

        clients.Add(Task.Run(() => SequenceClient(20, stop)));
        clients.Add(Task.Run(() => WatchWriter(30, stop)));
        Clients = Task.WhenAll(clients);
        return Task.WhenAll(Clients, Task.Run(() => Watcher(31, watchUntil, watchTarget)));
    }

    /// <summary>Every client but the watcher: done soon after the stop token, each with its session given up.</summary>
    public Task Clients { get; private set; } = Task.CompletedTask;

    // A member the clients may use now (one snapshot: members come and go under the nemesis).
    private Uri AnySilo(Random random)
    {
        var serving = cluster.Serving;
        return cluster.Url(serving[random.Next(serving.Count)]);
    }

    private void Unexpect(string operation, Reply reply) =>
        _unexpected.Add($"{operation}: {(int)reply.Status} {reply.Code} after {reply.Attempts} attempt(s) ({(reply.Body.ValueKind == System.Text.Json.JsonValueKind.Object && reply.Body.TryGetProperty("detail", out var d) ? d.GetString() : "")})");

    private async Task ConfigClient(int client, CancellationToken stop)
    {
        var random = new Random(seed * 100 + client);
        using var http = new FaultHttp(OperationTimeout);
        var lastVersion = new Dictionary<string, long>();
        for (var n = 0; n < OpsPerClientMax && !stop.IsCancellationRequested; n++)
        {
            var doc = Document(Volatile.Read(ref _epoch), random.Next(DocumentsPerEpoch));
            var roll = random.Next(10);
            var input = roll < 4 ? new ConfigInput(doc, ConfigOp.Put, $"c{client}-{n}")
                : roll < 7 ? new ConfigInput(doc, ConfigOp.CompareAndSet, $"c{client}-{n}", lastVersion.GetValueOrDefault(doc))
                : new ConfigInput(doc, ConfigOp.Get);
            var output = await ConfigCall(http, () => AnySilo(random), client, input);
            if (output is { Version: > 0 })
            {
                lastVersion[doc] = output.Version;
            }
        }
    }

    /// <summary>One config operation, recorded; the output when it is known.</summary>
    public async Task<ConfigOutput?> ConfigCall(FaultHttp http, Func<Uri> silo, int client, ConfigInput input)
    {
        var recorder = input.Name == WatchedDocument ? Watched : Config;
        var handle = recorder.Invoke(client, input);
        var key = $"{seed}-{client}-{handle}";
        var reply = input.Op switch
        {
            ConfigOp.Put => await http.SendSettled(silo, HttpMethod.Put, $"/v1/config/{input.Name}", new { value = input.Value }, key),
            ConfigOp.CompareAndSet => await http.SendSettled(silo, HttpMethod.Put, $"/v1/config/{input.Name}", new { value = input.Value, expectedVersion = input.ExpectedVersion }, key),
            _ => await http.Send(silo(), HttpMethod.Get, $"/v1/config/{input.Name}"),
        };
        ConfigOutput? output = null;
        if (reply.Is(HttpStatusCode.OK))
        {
            output = input.Op == ConfigOp.Get
                ? ConfigOutput.Read(reply.Body.GetProperty("version").GetInt64(), reply.Body.GetProperty("value").GetString())
                : ConfigOutput.Written(reply.Body.GetProperty("version").GetInt64());
        }
        else if (input.Op == ConfigOp.Get && reply.Is("not-found"))
        {
            output = ConfigOutput.Read(0, null);
        }
        else if (input.Op == ConfigOp.CompareAndSet && reply.Is("version-mismatch"))
        {
            output = ConfigOutput.Mismatch;
        }

        Finish(recorder, handle, reply, output, input.Op.ToString());
        return output;
    }

    private void Finish<TIn, TOut>(HistoryRecorder<TIn, TOut> recorder, int handle, Reply reply, TOut? output, string operation)
        where TOut : class
    {
        if (output is not null)
        {
            recorder.Ok(handle, output);
        }
        else if (reply.Delivery == Delivery.NotSent)
        {
            recorder.Fail(handle);
        }
        else
        {
            if (reply.Delivery == Delivery.Answered)
            {
                Unexpect(operation, reply);
            }

            recorder.Unknown(handle);
        }
    }

    private async Task SequenceClient(int client, CancellationToken stop)
    {
        var random = new Random(seed * 100 + client);
        using var http = new FaultHttp(OperationTimeout);
        for (var n = 0; n < OpsPerClientMax && !stop.IsCancellationRequested; n++)
        {
            await SequenceCall(http, () => AnySilo(random), client, 1 + random.Next(3));
        }
    }

    public async Task SequenceCall(FaultHttp http, Func<Uri> silo, int client, int count)
    {
        var input = new SequenceInput(SequenceName, count);
        var handle = Sequence.Invoke(client, input);
        var reply = await http.SendSettled(silo, HttpMethod.Post, $"/v1/sequences/{SequenceName}/next", new { count }, $"{seed}-{client}-{handle}");
        Finish(Sequence, handle, reply, reply.Is(HttpStatusCode.OK) ? new SequenceOutput(reply.Body.GetProperty("first").GetInt64()) : null, "next");
    }

    /// <summary>
    /// One part of a session client's loop, run with a live session: <paramref name="ended"/> says the
    /// session is seen gone, <paramref name="abandon"/> that an outcome is unknown and the session must
    /// not be used again. Every name the session may be attached to goes into <paramref name="used"/>.
    /// </summary>
    private delegate Task SessionCycle(FaultHttp http, Random random, int client, long session, HashSet<string> used, Action ended, Action abandon);

    private Task LockClient(int client, CancellationToken stop) => SessionClient(client, stop, LockCycle);

    // A client with a session (TTL SessionTtlMs) kept alive before every cycle; a new session when it ended or was abandoned.
    private async Task SessionClient(int client, CancellationToken stop, SessionCycle cycle)
    {
        var random = new Random(seed * 100 + client);
        using var http = new FaultHttp(OperationTimeout);
        long session = 0, aliveSince = 0;
        var used = new HashSet<string>();

        // The session is gone (seen): it ended somewhere after it was last known alive.
        void Ended()
        {
            RecordEnd(client, session, aliveSince, used);
            (session, used) = (0, []);
        }

        // An unknown outcome: stop using the session; its end is confirmed below, or after the run.
        void Abandon()
        {
            _abandoned.Add((session, aliveSince, client, [.. used]));
            (session, used) = (0, []);
        }

        for (var n = 0; n < OpsPerClientMax && !stop.IsCancellationRequested; n++)
        {
            if (session == 0 && !_abandoned.IsEmpty)
            {
                // Wait for abandoned sessions to end now: a session end recorded only after the run
                // has a window over everything, and every such window multiplies the search.
                await SettleAbandonedSessions(http, random, attemptsMax: 40);
            }

            if (session == 0)
            {
                var invoke = Stopwatch.GetTimestamp();
                var created = await http.Send(AnySilo(random), HttpMethod.Post, "/v1/sessions", new { ttlMs = SessionTtlMs });
                if (created.Is(HttpStatusCode.Created))
                {
                    (session, aliveSince) = (created.Body.GetProperty("sessionId").GetInt64(), invoke);
                }

                continue;
            }

            var keepaliveInvoke = Stopwatch.GetTimestamp();
            var keepalive = await http.Send(AnySilo(random), HttpMethod.Post, $"/v1/sessions/{session}/keepalive");
            if (keepalive.Is(HttpStatusCode.OK))
            {
                aliveSince = keepaliveInvoke;
            }
            else if (keepalive.Is("session-expired") || keepalive.Is("session-not-found"))
            {
                Ended();
                continue;
            }

            // The cycle sees the set of the moment: Ended and Abandon replace it.
            await cycle(http, random, client, session, used, Ended, Abandon);
        }

        // Stopped: nobody keeps the session alive now, so it will expire, and whatever it held
        // (a candidacy left standing, a group member) leaves with it. Its end must be in the
        // histories like any other (SettleAbandonedSessions records it once the session is gone).
        if (session != 0)
        {
            Abandon();
        }
    }

    // Try-acquire the epoch's lock, write to the fenced store with the token, release; then a semaphore cycle.
    private async Task LockCycle(FaultHttp http, Random random, int client, long session, HashSet<string> used, Action ended, Action abandon)
    {
        var gone = false;
        void Ended()
        {
            gone = true;
            ended();
        }

        void Abandon()
        {
            gone = true;
            abandon();
        }

        var lockName = LockName;
        var handle = Locks.Invoke(client, new LockInput(lockName, LockOp.Acquire, session));
        var reply = await http.SendSettled(() => AnySilo(random), HttpMethod.Post, $"/v1/locks/{lockName}/acquire", new { sessionId = session, waitMs = 0 }, $"{seed}-{client}-a{handle}");
        if (reply.Is(HttpStatusCode.OK))
        {
            var token = reply.Body.GetProperty("token").GetInt64();
            Locks.Ok(handle, LockOutput.Granted(token));
            used.Add(lockName);
            if (store.Read(token) is { } value)
            {
                store.WriteIncrement(token, value);
            }

            var release = Locks.Invoke(client, new LockInput(lockName, LockOp.Release, session, token));
            var released = await http.SendSettled(() => AnySilo(random), HttpMethod.Post, $"/v1/locks/{lockName}/release", new { sessionId = session, token }, $"{seed}-{client}-r{release}");
            if (!Answer(Locks, released, release, LockOutput.Released, LockOutput.NotHolder, Ended, Abandon))
            {
                Unexpect("release", released);
            }
        }
        else if (!Answer(Locks, reply, handle, LockOutput.Busy, LockOutput.NotHolder, Ended, () => { used.Add(lockName); Abandon(); }))
        {
            Unexpect("acquire", reply);
        }
        else
        {
            await Task.Delay(20 + random.Next(30), CancellationToken.None);
        }

        if (!gone)
        {
            await SemaphoreCycle(http, random, client, session, used, ended, abandon);
        }
    }

    private static bool SessionGone(Reply reply) => reply.Is("session-expired") || reply.Is("session-not-found");

    /// <summary>
    /// Campaign in the epoch's election; observe it; proclaim a new value when leading; resign half
    /// of the time (otherwise the candidacy stays, and the next campaign is refused as already a
    /// candidate, or the session's end takes it away). Unknown outcomes need no new session: the
    /// model accepts either outcome of each, and the session's end is recorded for the election.
    /// </summary>
    private async Task ElectionCycle(FaultHttp http, Random random, int client, long session, HashSet<string> used, Action ended, Action abandon)
    {
        var name = ElectionName;
        var value = $"c{client}n{random.Next(1_000_000)}";
        var campaign = Elections.Invoke(client, new ElectionInput(name, ElectionOp.Campaign, session, Value: value));
        var reply = await http.SendSettled(() => AnySilo(random), HttpMethod.Post, $"/v1/elections/{name}/campaign", new { sessionId = session, value }, $"{seed}-{client}-ec{campaign}");
        if (reply.Delivery != Delivery.NotSent)
        {
            used.Add(name);
        }

        if (SessionGone(reply))
        {
            Elections.Fail(campaign);
            ended();
            return;
        }

        var output = reply.Is(HttpStatusCode.OK)
            ? reply.Body.GetProperty("leader").GetBoolean() ? ElectionOutput.Elected(reply.Body.GetProperty("token").GetInt64()) : ElectionOutput.Queued(reply.Body.GetProperty("position").GetInt32())
            : reply.Is("already-exists") ? ElectionOutput.AlreadyCandidate : null;
        Finish(Elections, campaign, reply, output, "campaign");

        await ElectionObserve(http, random, client, name);
        if (output is { Result: ElectionResult.Elected })
        {
            var proclaimed = $"p{client}n{random.Next(1_000_000)}";
            var proclaim = Elections.Invoke(client, new ElectionInput(name, ElectionOp.Proclaim, Token: output.Token, Value: proclaimed));
            var answer = await http.SendSettled(() => AnySilo(random), HttpMethod.Post, $"/v1/elections/{name}/proclaim", new { token = output.Token, value = proclaimed }, $"{seed}-{client}-ep{proclaim}");
            Finish(Elections, proclaim, answer, answer.Is(HttpStatusCode.OK) ? ElectionOutput.Proclaimed(answer.Body.GetProperty("token").GetInt64())
                : answer.Is("wrong-token") ? ElectionOutput.WrongToken : answer.Is("not-found") ? ElectionOutput.NotFound : null, "proclaim");
        }

        if (random.Next(2) == 0)
        {
            var resign = Elections.Invoke(client, new ElectionInput(name, ElectionOp.Resign, session));
            var answer = await http.SendSettled(() => AnySilo(random), HttpMethod.Post, $"/v1/elections/{name}/resign", new { sessionId = session }, $"{seed}-{client}-er{resign}");
            Finish(Elections, resign, answer, answer.Is(HttpStatusCode.OK) ? ElectionOutput.Resigned(answer.Body.GetProperty("wasLeader").GetBoolean())
                : answer.Is("not-found") ? ElectionOutput.NotFound : null, "resign");
            await ElectionObserve(http, random, client, name);
        }

        await Task.Delay(20 + random.Next(30), CancellationToken.None);
    }

    // A linearizable read of the election: the leader (or none), its term and value, every candidate in order.
    private async Task ElectionObserve(FaultHttp http, Random random, int client, string name)
    {
        var handle = Elections.Invoke(client, new ElectionInput(name, ElectionOp.Observe));
        var reply = await http.Send(AnySilo(random), HttpMethod.Get, $"/v1/elections/{name}");
        ElectionOutput? output = null;
        if (reply.Is(HttpStatusCode.OK))
        {
            var leader = reply.Body.GetProperty("leader");
            var candidates = reply.Body.GetProperty("candidates").EnumerateArray().Select(c => c.GetProperty("sessionId").GetInt64()).ToList();
            output = leader.ValueKind == System.Text.Json.JsonValueKind.Null
                ? ElectionOutput.Observed(0, reply.Body.GetProperty("token").GetInt64(), "", candidates)
                : ElectionOutput.Observed(leader.GetProperty("sessionId").GetInt64(), reply.Body.GetProperty("token").GetInt64(), leader.GetProperty("value").GetString() ?? "", candidates);
        }

        Finish(Elections, handle, reply, output, "observe election");
    }

    /// <summary>
    /// Join the epoch's group under this client's member id; list; half of the time a member of
    /// any group client leaves (so members also leave by someone else's hand); list again.
    /// </summary>
    private async Task GroupCycle(FaultHttp http, Random random, int client, long session, HashSet<string> used, Action ended, Action abandon)
    {
        var group = GroupName;
        var member = $"m{client}";
        var join = Groups.Invoke(client, new MembershipInput(group, MembershipOp.Join, member, session));
        var reply = await http.SendSettled(() => AnySilo(random), HttpMethod.Put, $"/v1/groups/{group}/members/{member}", new { sessionId = session }, $"{seed}-{client}-gj{join}");
        if (reply.Delivery != Delivery.NotSent)
        {
            used.Add(group);
        }

        if (SessionGone(reply))
        {
            Groups.Fail(join);
            ended();
            return;
        }

        Finish(Groups, join, reply, reply.Is(HttpStatusCode.OK) ? new MembershipOutput(MembershipResult.Joined)
            : reply.Is("already-exists") ? new MembershipOutput(MembershipResult.AlreadyExists) : null, "join");
        await GroupList(http, random, client, group);
        if (random.Next(2) == 0)
        {
            var leaving = $"m{50 + random.Next(ClientsPerKind)}";
            var leave = Groups.Invoke(client, new MembershipInput(group, MembershipOp.Leave, leaving));
            var answer = await http.SendSettled(() => AnySilo(random), HttpMethod.Delete, $"/v1/groups/{group}/members/{leaving}", new { }, $"{seed}-{client}-gl{leave}");
            Finish(Groups, leave, answer, answer.Is(HttpStatusCode.OK) ? new MembershipOutput(MembershipResult.Left)
                : answer.Is("not-found") ? new MembershipOutput(MembershipResult.NotFound) : null, "leave");
            await GroupList(http, random, client, group);
        }

        await Task.Delay(20 + random.Next(30), CancellationToken.None);
    }

    private async Task GroupList(FaultHttp http, Random random, int client, string group)
    {
        var handle = Groups.Invoke(client, new MembershipInput(group, MembershipOp.List));
        var reply = await http.Send(AnySilo(random), HttpMethod.Get, $"/v1/groups/{group}/members");
        Finish(Groups, handle, reply, reply.Is(HttpStatusCode.OK)
            ? MembershipOutput.Listed(reply.Body.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("memberId").GetString()!))
            : null, "list");
    }

    // Try-acquire one permit of the epoch's semaphore and release it at once.
    private async Task SemaphoreCycle(FaultHttp http, Random random, int client, long session, HashSet<string> used, Action ended, Action abandon)
    {
        var name = SemaphoreName;
        var handle = Semaphores.Invoke(client, new SemaphoreInput(name, SemaphoreOp.Acquire, session));
        var reply = await http.SendSettled(() => AnySilo(random), HttpMethod.Post, $"/v1/locks/{name}/acquire",
            new { sessionId = session, mode = "semaphore", permits = SemaphorePermits, waitMs = 0 }, $"{seed}-{client}-sa{handle}");
        if (!reply.Is(HttpStatusCode.OK))
        {
            if (!Answer(Semaphores, reply, handle, new SemaphoreOutput(SemaphoreResult.Busy), new SemaphoreOutput(SemaphoreResult.NotHolder), ended, () => { used.Add(name); abandon(); }))
            {
                Unexpect("semaphore acquire", reply);
            }

            return;
        }

        Semaphores.Ok(handle, new SemaphoreOutput(SemaphoreResult.Granted));
        used.Add(name);
        var token = reply.Body.GetProperty("token").GetInt64();
        var release = Semaphores.Invoke(client, new SemaphoreInput(name, SemaphoreOp.Release, session));
        var released = await http.SendSettled(() => AnySilo(random), HttpMethod.Post, $"/v1/locks/{name}/release", new { sessionId = session, token }, $"{seed}-{client}-sr{release}");
        if (!Answer(Semaphores, released, release, new SemaphoreOutput(SemaphoreResult.Released), new SemaphoreOutput(SemaphoreResult.NotHolder), ended, abandon))
        {
            Unexpect("semaphore release", released);
        }
    }

    // Records a lock or semaphore reply that is not a grant; false for an answer no contract allows.
    private static bool Answer<TIn, TOut>(HistoryRecorder<TIn, TOut> recorder, Reply reply, int handle, TOut success, TOut notHolder, Action ended, Action abandon)
        where TOut : class
    {
        if (reply.Is(HttpStatusCode.OK) || reply.Is("lock-busy"))
        {
            recorder.Ok(handle, success);
        }
        else if (reply.Is("lock-not-held") || reply.Is("wrong-token"))
        {
            recorder.Ok(handle, notHolder);
        }
        else if (reply.Is("session-expired") || reply.Is("session-not-found"))
        {
            recorder.Fail(handle); // refused by the state machine: no effect, and the session is gone
            ended();
        }
        else if (reply.Delivery == Delivery.NotSent)
        {
            // No effect; but a release that never left leaves the lock held by this session, and
            // acquiring again would be refused as already-attached: start over with a new session.
            recorder.Fail(handle);
            abandon();
        }
        else
        {
            recorder.Unknown(handle);
            abandon();
            return reply.Delivery != Delivery.Answered;
        }

        return true;
    }

    /// <summary>
    /// After the run, with the cluster healed: waits (bounded) until every abandoned session is
    /// gone and records its end, so the lock history says when each could have let go.
    /// </summary>
    public async Task SettleAbandonedSessions(Uri silo)
    {
        using var http = new FaultHttp(OperationTimeout);
        await SettleAbandonedSessions(http, new Random(seed), attemptsMax: 200, silo);
        Assert.True(_abandoned.IsEmpty, $"{_abandoned.Count} abandoned sessions did not end within the bound");
    }

    // Only locks the session was granted, or may have been (unknown acquire), get an end: on any
    // other lock its end changes nothing. Sessions still alive after the attempts stay abandoned.
    private async Task SettleAbandonedSessions(FaultHttp http, Random random, int attemptsMax, Uri? silo = null)
    {
        var pending = new List<(long Session, long AliveSince, int Client, string[] Locks)>();
        while (_abandoned.TryTake(out var abandoned))
        {
            pending.Add(abandoned);
        }

        foreach (var (session, aliveSince, client, locks) in pending)
        {
            var ended = false;
            for (var attempt = 0; attempt < attemptsMax && !ended; attempt++)
            {
                var reply = await http.Send(silo ?? AnySilo(random), HttpMethod.Get, $"/v1/sessions/{session}");
                ended = reply.Is("session-not-found") || reply.Is("session-expired");
                if (!ended)
                {
                    await Task.Delay(100);
                }
            }

            if (ended)
            {
                RecordEnd(client, session, aliveSince, locks);
            }
            else
            {
                _abandoned.Add((session, aliveSince, client, locks));
            }
        }
    }

    // One end per lock, election or group the session touched: each is its own partition.
    private void RecordEnd(int client, long session, long aliveSince, IEnumerable<string> locks)
    {
        var seen = Stopwatch.GetTimestamp();
        foreach (var name in locks)
        {
            if (name.StartsWith(ElectionPrefix, StringComparison.Ordinal))
            {
                Elections.Record(Operation<ElectionInput, ElectionOutput>.Ok(client, new ElectionInput(name, ElectionOp.SessionEnded, session), ElectionOutput.Ended, aliveSince, seen));
            }
            else if (name.StartsWith(GroupPrefix, StringComparison.Ordinal))
            {
                Groups.Record(Operation<MembershipInput, MembershipOutput>.Ok(client, new MembershipInput(name, MembershipOp.SessionEnded, Session: session), new MembershipOutput(MembershipResult.Ended), aliveSince, seen));
            }
            else if (name.StartsWith(SemaphorePrefix, StringComparison.Ordinal))
            {
                Semaphores.Record(Operation<SemaphoreInput, SemaphoreOutput>.Ok(client, new SemaphoreInput(name, SemaphoreOp.SessionEnded, session), new SemaphoreOutput(SemaphoreResult.Ended), aliveSince, seen));
            }
            else
            {
                Locks.Record(Operation<LockInput, LockOutput>.Ok(client, new LockInput(name, LockOp.SessionEnded, session), LockOutput.Ended, aliveSince, seen));
            }
        }
    }

    private async Task WatchWriter(int client, CancellationToken stop)
    {
        var random = new Random(seed * 100 + client);
        using var http = new FaultHttp(OperationTimeout);
        for (var n = 0; n < OpsPerClientMax && !stop.IsCancellationRequested; n++)
        {
            await ConfigCall(http, () => AnySilo(random), client, new ConfigInput(WatchedDocument, ConfigOp.Put, $"w{n}"));
            await Task.Delay(50, CancellationToken.None);
        }
    }

    // Long-polls the watched document's events through a different random silo each time, resuming
    // after the last revision seen: a reconnect on every poll, across every fault.
    private async Task Watcher(int client, CancellationToken until, Func<long> target)
    {
        var random = new Random(seed * 100 + client);
        using var http = new FaultHttp(TimeSpan.FromSeconds(3));
        var after = 0L;
        for (var n = 0; n < OpsPerClientMax && !until.IsCancellationRequested && (target() == 0 || WatchSeen.Count < target()); n++)
        {
            var reply = await http.Send(AnySilo(random), HttpMethod.Get, $"/v1/events?after={after}&kind=config&name={WatchedDocument}&waitMs=1000");
            if (!reply.Is(HttpStatusCode.OK))
            {
                await Task.Delay(100, CancellationToken.None);
                continue;
            }

            if (reply.Body.GetProperty("compacted").GetBoolean())
            {
                Unexpect("watch compacted", reply);
            }

            lock (WatchSeen)
            {
                WatchSeen.AddRange(reply.Body.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("version").GetInt64()));
            }

            after = reply.Body.GetProperty("resumeAfter").GetInt64();
        }
    }
}
