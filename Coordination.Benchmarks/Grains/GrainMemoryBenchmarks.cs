using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Coordination.Grains;

namespace Coordination.Benchmarks.Grains;

/// <summary>
/// Bytes of memory per idle session, held lock and group member at one million of each. Each
/// benchmark builds the population once on a fresh state machine and prints the retained bytes
/// (<see cref="GC.GetTotalMemory(bool)"/> after a full collection, before and after) as a
/// <c>// GrainMemory:</c> line in the log; the measured time is the time to build it.
/// "Idle" means nothing happens to it any more. A lock that nobody holds or waits for is not in
/// memory at all (virtual activation), so the lock figure is for a held, uncontended lock,
/// including its entry in the holder session's attachment set.
/// Run: <c>dotnet run -c Release --project Coordination.Benchmarks -- --filter '*GrainMemory*'</c>.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 0, iterationCount: 1, invocationCount: 1)]
public class GrainMemoryBenchmarks
{
    private const int Count = 1_000_000;

    /// <summary>Locks and members are spread over this many sessions (1,000 attachments each, under <see cref="Limits.AttachmentsPerSessionMax"/>).</summary>
    private const int Owners = 1_000;

    private const long NowMs = 1_700_000_000_000;

    private ulong _index;

    [Benchmark]
    public void Idle_sessions() => Measure("session", owners: false, (machine, _) =>
    {
        for (var i = 0; i < Count; i++)
        {
            machine.Apply(++_index, NowMs, new CreateSession(Limits.SessionTtlMsMax));
        }
    });

    [Benchmark]
    public void Held_locks() => Measure("held lock", owners: true, (machine, owners) =>
    {
        for (var i = 0; i < Count; i++)
        {
            machine.Apply(++_index, NowMs, new AcquireLock($"lock-{i:D7}", owners[i % Owners], LockMode.Exclusive));
        }
    });

    [Benchmark]
    public void Group_members() => Measure("member", owners: true, (machine, owners) =>
    {
        for (var i = 0; i < Count; i++)
        {
            // 1,000 groups of 1,000 members; each owner session is in every group once.
            machine.Apply(++_index, NowMs, new JoinGroup($"group-{i / Owners:D4}", owners[i % Owners], $"m{i % Owners}", []));
        }
    });

    /// <summary>Retained bytes added by <paramref name="populate"/>; the owner sessions it may use are created before the first reading.</summary>
    private void Measure(string what, bool owners, Action<CoordinationStateMachine, ulong[]> populate)
    {
        _index = 0;
        var machine = new CoordinationStateMachine();
        ulong[] sessions = owners
            ? [.. Enumerable.Range(0, Owners).Select(_ => ((SessionCreated)machine.Apply(++_index, NowMs, new CreateSession(Limits.SessionTtlMsMax))).SessionId)]
            : [];
        var before = GC.GetTotalMemory(forceFullCollection: true);
        populate(machine, sessions);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"// GrainMemory: {(after - before) / (double)Count:F1} bytes per {what} ({Count:N0} of them, {machine.Counts})");
        GC.KeepAlive(machine);
    }
}
