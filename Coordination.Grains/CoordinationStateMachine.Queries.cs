namespace Coordination.Grains;

/// <summary>
/// Read-only queries: they never go through the log and never change state. They answer as of
/// <see cref="AppliedIndex"/>; the host decides how fresh that must be (ReadIndex or lease).
/// Every answer is a copy the caller may keep.
/// </summary>
public sealed partial class CoordinationStateMachine
{
    /// <summary>Holders and waiters of lock <paramref name="name"/>; an unused lock has neither.</summary>
    public LockInfo GetLock(string name) =>
        _locks.Find(name)?.ToInfo(name) ?? new LockInfo(name, 0, [], []);

    /// <summary>The leader, its value and term token, and the candidates; no leader for an unused election.</summary>
    public ElectionInfo GetElection(string name) =>
        _elections.Find(name)?.ToInfo(name) ?? new ElectionInfo(name, null, 0, 0, []);

    /// <summary>The members of <paramref name="group"/> in member-id order.</summary>
    public IReadOnlyList<Member> ListMembers(string group) =>
        _groups.Find(group) is { } state ? [.. state.Members.Values] : [];

    /// <summary>The current version of document <paramref name="name"/>, or null if it does not exist.</summary>
    public ConfigVersion? GetConfig(string name) =>
        _configs.Find(name) is { } state ? state.Versions[^1] : null;

    /// <summary>The kept versions of document <paramref name="name"/>, oldest first (at most <see cref="Limits.HistoryVersionsMax"/>).</summary>
    public IReadOnlyList<ConfigVersion> GetConfigHistory(string name) =>
        _configs.Find(name) is { } state ? [.. state.Versions] : [];

    /// <summary>
    /// The last value handed out by sequence <paramref name="name"/> (the next is one more); 0 if never
    /// used, except in a cluster restored from a saved state, where it is at least the
    /// <see cref="SequenceFloor"/>.
    /// </summary>
    public ulong GetSequence(string name) => Math.Max(_sequences.Find(name)?.Last ?? 0, SequenceFloor);

    public SessionInfo? GetSession(ulong sessionId) => _sessions.Find(sessionId)?.ToInfo();

    /// <summary>Sessions with an id above <paramref name="afterSessionId"/>, in id order, at most <paramref name="max"/> (capped by <see cref="Limits.SessionsPerPageMax"/>).</summary>
    public IReadOnlyList<SessionInfo> ListSessions(ulong afterSessionId = 0, int max = Limits.SessionsPerPageMax)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        return [.. _sessions.InIdOrder.SkipWhile(s => s.Id <= afterSessionId).Take(Math.Min(max, Limits.SessionsPerPageMax)).Select(s => s.ToInfo())];
    }

    /// <summary>Number of open sessions and of active (non-empty) grains per kind; for metrics and tests.</summary>
    public GrainCounts Counts => new(_sessions.Count, _locks.Count, _elections.Count, _groups.Count, _configs.Count, _sequences.Count, _events.Count);
}

/// <summary>How much is in memory: open sessions, active grains per kind, kept events.</summary>
public sealed record GrainCounts(int Sessions, int Locks, int Elections, int Groups, int Configs, int Sequences, int Events);
