namespace Coordination.Grains;

/// <summary>
/// What a grain may use while applying one log entry: the entry's index and log time, the
/// session table (to attach and detach), the deadline index and the event history. One instance
/// per state machine, re-stamped for each entry; grains never keep a reference to it.
/// </summary>
internal sealed class StepContext(SessionTable sessions, DeadlineIndex deadlines, EventHistory events)
{
    /// <summary>The log index of the entry being applied: the revision of every change it makes.</summary>
    public ulong Index { get; private set; }

    /// <summary>Log time of the entry (never earlier than any previous entry's).</summary>
    public long NowMs { get; private set; }

    public SessionTable Sessions { get; } = sessions;

    public DeadlineIndex Deadlines { get; } = deadlines;

    public EventHistory Events { get; } = events;

    /// <summary>The state machine's <see cref="CoordinationStateMachine.SequenceFloor"/> (kept here, where sequences read it).</summary>
    public ulong SequenceFloor { get; set; }

    public void Stamp(ulong index, long nowMs)
    {
        Index = index;
        NowMs = nowMs;
        Deadlines.BeginStep();
    }

    public void Emit(EventType type, GrainKind kind, string name, ulong sessionId = 0, ulong token = 0, string subject = "", long version = 0) =>
        Events.Append(new GrainEvent(Index, type, kind, name, sessionId, token, subject, version));
}
