using System.Text;
using Coordination.Grains;

namespace Coordination.Tests.Grains;

/// <summary>
/// Drives one state machine the way the silo will: every command goes through the codec, gets the
/// next log index and the harness's log time, and every step ends with a full invariant check.
/// Time moves only when a test says so.
/// </summary>
internal sealed class GrainHarness
{
    public const long StartMs = 1_700_000_000_000;

    public CoordinationStateMachine Machine { get; private set; } = new();

    public ulong Index { get; private set; }

    public long NowMs { get; set; } = StartMs;

    /// <summary>Full invariant scan after each step; switched off only while a test builds up thousands of grains.</summary>
    public bool CheckEveryStep { get; set; } = true;

    public CommandResult Apply(Command command)
    {
        Index++;
        var result = Machine.Apply(Index, NowMs, CommandCodec.Encode(command));
        if (CheckEveryStep)
        {
            Machine.CheckInvariants();
        }

        return result;
    }

    public T Expect<T>(Command command)
        where T : CommandResult => Assert.IsType<T>(Apply(command));

    /// <summary>Applies a command that must be rejected with <paramref name="code"/> and proves it changed nothing.</summary>
    public Rejected Reject(Command command, ErrorCode code)
    {
        var before = Machine.EncodeState();
        var eventsBefore = Machine.EventsSince(0, EventFilter.All).Events.Count;
        var rejected = Assert.IsType<Rejected>(Apply(command));
        Assert.Equal(code, rejected.Code);
        Assert.Equal(before, Machine.EncodeState());
        Assert.Equal(eventsBefore, Machine.EventsSince(0, EventFilter.All).Events.Count);
        return rejected;
    }

    public ulong Session(long ttlMs = 10_000) => Expect<SessionCreated>(new CreateSession(ttlMs)).SessionId;

    public TimeAdvanced Tick(long elapsedMs)
    {
        NowMs += elapsedMs;
        return Expect<TimeAdvanced>(new AdvanceTime());
    }

    public ulong Lock(string name, ulong session, LockMode mode = LockMode.Exclusive, int permits = 0, long maxHoldMs = 0) =>
        Expect<LockGranted>(new AcquireLock(name, session, mode, permits, 0, maxHoldMs)).Token;

    public LockQueued Wait(string name, ulong session, long waitMs = 5_000, LockMode mode = LockMode.Exclusive, int permits = 0) =>
        Expect<LockQueued>(new AcquireLock(name, session, mode, permits, waitMs));

    /// <summary>Replaces the machine by one read from <paramref name="snapshot"/> (another machine's), carrying on at its index.</summary>
    public void Load(byte[] snapshot)
    {
        Machine = CoordinationStateMachine.ReadSnapshot(snapshot);
        Index = Machine.AppliedIndex;
    }

    /// <summary>As a restore does before the new cluster's first entry (<see cref="CoordinationStateMachine.SkipRevisions"/>).</summary>
    public void SkipRevisions(ulong revisions)
    {
        Machine.SkipRevisions(revisions);
        Index = Machine.AppliedIndex;
    }

    /// <summary>Replaces the machine by one restored from its own snapshot.</summary>
    public void Restore() => Machine = CoordinationStateMachine.ReadSnapshot(Machine.WriteSnapshot());

    public IReadOnlyList<GrainEvent> EventsAt(ulong revision) =>
        [.. Machine.EventsSince(revision - 1, EventFilter.All).Events.Where(e => e.Revision == revision)];

    public static byte[] Json(string json) => Encoding.UTF8.GetBytes(json);
}
