using System.Diagnostics;

namespace Coordination.Tests.Faults;

/// <summary>The faults the nemesis injects, each healed before the next.</summary>
public enum Fault
{
    KillLeader,
    KillRandom,
    KillMinority,

    /// <summary>SIGSTOP longer than the session TTL, then SIGCONT.</summary>
    PauseLeader,
    PauseRandom,

    /// <summary>Two silos cut off from three, both ways.</summary>
    PartitionMajorityMinority,
    IsolateLeader,

    /// <summary>Each silo reaches only its two neighbours.</summary>
    Ring,

    /// <summary>The leader's messages to every other silo are lost; theirs still reach it.</summary>
    OneWayFromLeader,

    /// <summary>
    /// A new, empty silo is started with --join, added as a learner, and promoted once caught up,
    /// while another fault (kill, pause, partition) is active.
    /// </summary>
    AddSilo,

    /// <summary>A follower is removed (and then stopped) while another fault is active.</summary>
    RemoveFollower,

    /// <summary>The leader is removed (it steps down; then it is stopped) while another fault is active.</summary>
    RemoveLeader,
}

/// <summary>
/// Applies one fault at a time to a <see cref="FaultCluster"/>, chosen by a seeded random source.
/// Membership changes keep the cluster between <see cref="MembersMin"/> and <see cref="MembersMax"/>
/// silos: an add at the maximum becomes a follower's removal, a removal at the minimum an add.
/// </summary>
public sealed class Nemesis(FaultCluster cluster, Random random)
{
    /// <summary>Longer than the workload's session TTL, so paused leaders lose their sessions' keepalives.</summary>
    public static readonly TimeSpan PauseHold = TimeSpan.FromMilliseconds(3_500);

    public static readonly TimeSpan FaultHold = TimeSpan.FromMilliseconds(2_500);

    public const int MembersMin = 4;
    public const int MembersMax = 6;

    private readonly ClusterOperator _operator = new(cluster);

    /// <summary>
    /// The fixed schedule CI runs: every fault once; the membership changes early enough that later
    /// faults also hit the added silo and a cluster that lost its first leader by removal.
    /// </summary>
    public static IReadOnlyList<Fault> FixedSchedule { get; } =
    [
        Fault.KillLeader, Fault.AddSilo, Fault.KillRandom, Fault.KillMinority, Fault.PauseLeader, Fault.RemoveLeader,
        Fault.PauseRandom, Fault.PartitionMajorityMinority, Fault.IsolateLeader, Fault.RemoveFollower, Fault.Ring, Fault.OneWayFromLeader,
    ];

    // The faults held while a membership change runs (never aimed at the silo being removed).
    private static readonly Fault[] DuringChange = [Fault.KillLeader, Fault.KillRandom, Fault.PauseRandom, Fault.PartitionMajorityMinority, Fault.IsolateLeader];

    /// <summary>Injects <paramref name="fault"/>, holds it, heals everything and waits for a stable leader; returns what it did.</summary>
    public async Task<string> Run(Fault fault)
    {
        var size = cluster.Ids.Count;
        fault = fault switch
        {
            Fault.AddSilo when size >= MembersMax => Fault.RemoveFollower,
            Fault.RemoveFollower or Fault.RemoveLeader when size <= MembersMin => Fault.AddSilo,
            _ => fault,
        };
        if (fault is Fault.AddSilo or Fault.RemoveFollower or Fault.RemoveLeader)
        {
            return await ChangeMembership(fault);
        }

        var done = Inject(fault, await LeaderOrFirst(), spare: 0);
        await Task.Delay(fault is Fault.PauseLeader or Fault.PauseRandom ? PauseHold : FaultHold);
        cluster.HealAll();
        await cluster.StableLeaderAsync();
        return done;
    }

    private async Task<ulong> LeaderOrFirst()
    {
        var leader = await cluster.CurrentLeaderAsync();
        return leader != 0 ? leader : cluster.Ids[0];
    }

    // Injects a fault that spares silo `spare` (0: none), and says what it did.
    private string Inject(Fault fault, ulong leader, ulong spare)
    {
        var ids = cluster.Ids;
        var others = ids.Where(id => id != leader).ToList();
        var candidates = ids.Where(id => id != spare).ToList();
        var victim = candidates[random.Next(candidates.Count)];
        var minority = candidates.OrderBy(_ => random.Next()).Take((ids.Count - 1) / 2).ToList();
        switch (fault)
        {
            case Fault.KillLeader:
                cluster.Kill(leader);
                return $"kill -9 leader {leader}";
            case Fault.KillRandom:
                cluster.Kill(victim);
                return $"kill -9 silo {victim}";
            case Fault.KillMinority:
                minority.ForEach(cluster.Kill);
                return $"kill -9 silos {string.Join(",", minority)}";
            case Fault.PauseLeader:
                cluster.Pause(leader);
                return $"SIGSTOP leader {leader}";
            case Fault.PauseRandom:
                cluster.Pause(victim);
                return $"SIGSTOP silo {victim}";
            case Fault.PartitionMajorityMinority:
                cluster.Isolate(minority);
                return $"partition {string.Join(",", minority)} | rest";
            case Fault.IsolateLeader:
                cluster.Isolate([leader]);
                return $"isolate leader {leader}";
            case Fault.Ring:
                cluster.Ring();
                return "ring";
            case Fault.OneWayFromLeader:
                others.ForEach(o => cluster.Cut(leader, o));
                return $"one-way: leader {leader} cannot send";
            default:
                throw new ArgumentOutOfRangeException(nameof(fault), fault, "not a fault to inject");
        }
    }

    // A membership change that starts while another fault is held, is retried through it and
    // after the heal (bounded by ClusterOperator), and ends with the cluster's members updated.
    private async Task<string> ChangeMembership(Fault change)
    {
        var leader = await LeaderOrFirst();
        var clock = Stopwatch.StartNew();
        ulong target;
        Task<int> operation;
        string what;
        if (change == Fault.AddSilo)
        {
            var (id, clientUrl, peerAddress) = cluster.StartNewcomer();
            (target, what) = (id, $"add silo {id}");
            operation = _operator.AddAsync(id, clientUrl, peerAddress);
        }
        else
        {
            var followers = cluster.Ids.Where(id => id != leader).ToList();
            target = change == Fault.RemoveLeader ? leader : followers[random.Next(followers.Count)];
            what = change == Fault.RemoveLeader ? $"remove leader {target}" : $"remove follower {target}";
            cluster.Retire(target);
            operation = _operator.RemoveAsync(target);
        }

        // Faults aimed at the leader are not held while the leader itself is removed: the change
        // would then remove a dead or cut-off silo, which is the follower case.
        var choices = change == Fault.RemoveLeader ? DuringChange.Where(f => f is not (Fault.KillLeader or Fault.IsolateLeader)).ToArray() : DuringChange;
        var background = Inject(choices[random.Next(choices.Length)], leader, spare: change == Fault.AddSilo ? 0 : target);
        await Task.WhenAny(operation, Task.Delay(background.StartsWith("SIGSTOP", StringComparison.Ordinal) ? PauseHold : FaultHold));
        var duringFault = operation.IsCompleted;
        cluster.HealAll();
        var attempts = await operation;
        var took = clock.Elapsed;
        if (change == Fault.AddSilo)
        {
            cluster.Admit(target);
        }
        else
        {
            cluster.Drop(target);
        }

        await cluster.StableLeaderAsync();
        return $"{what} during [{background}]: done {(duringFault ? "while the fault held" : "after the heal")}, {attempts} attempt(s), {took.TotalSeconds:F1} s; members {string.Join(",", cluster.Ids)}";
    }
}
