namespace Coordination.Grains;

/// <summary>
/// All live sessions by id, in id order, and the bookkeeping that ties grains to them. Grains call
/// <see cref="CheckAttach"/> before they change anything, then <see cref="Attach"/>, so that a
/// rejected command never leaves a half-made attachment.
/// </summary>
internal sealed class SessionTable
{
    private readonly SortedDictionary<ulong, SessionState> _sessions = [];

    public int Count => _sessions.Count;

    public IEnumerable<SessionState> InIdOrder => _sessions.Values;

    public SessionState? Find(ulong id) => _sessions.GetValueOrDefault(id);

    public void Add(SessionState session) =>
        GrainInvariant.Require(_sessions.TryAdd(session.Id, session), $"Session {session.Id} already exists.");

    public void Remove(ulong id) => GrainInvariant.Require(_sessions.Remove(id), $"Session {id} does not exist.");

    /// <summary>
    /// Why <paramref name="sessionId"/> may not take on a new attachment to (kind, name) at
    /// <paramref name="nowMs"/>, or null when it may.
    /// </summary>
    public Rejected? CheckAttach(ulong sessionId, GrainKind kind, string name, long nowMs)
    {
        if (Find(sessionId) is not { } session)
        {
            return NotFound(sessionId);
        }

        if (CheckLive(session, nowMs) is { } expired)
        {
            return expired;
        }

        if (session.Attachments?.Contains(new Attachment(kind, name)) == true)
        {
            return new Rejected(ErrorCode.AlreadyExists, $"Session {sessionId} is already attached to {kind} '{name}'.");
        }

        if (session.AttachmentCount >= Limits.AttachmentsPerSessionMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"Session {sessionId} has {Limits.AttachmentsPerSessionMax} attachments (AttachmentsPerSessionMax).");
        }

        return null;
    }

    public static Rejected NotFound(ulong sessionId) => new(ErrorCode.SessionNotFound, $"Session {sessionId} does not exist.");

    /// <summary>A session whose deadline has passed may do nothing more, even before <see cref="AdvanceTime"/> removes it.</summary>
    public static Rejected? CheckLive(SessionState session, long nowMs) =>
        nowMs >= session.DeadlineMs ? new Rejected(ErrorCode.SessionExpired, $"Session {session.Id} expired at {session.DeadlineMs}.") : null;

    public void Attach(ulong sessionId, GrainKind kind, string name)
    {
        var session = Find(sessionId);
        GrainInvariant.Require(session is not null, $"Attach to missing session {sessionId}.");
        session!.Attachments ??= [];
        GrainInvariant.Require(session.Attachments.Add(new Attachment(kind, name)), $"Session {sessionId} was already attached to {kind} '{name}'.");
    }

    public void Detach(ulong sessionId, GrainKind kind, string name)
    {
        var session = Find(sessionId);
        GrainInvariant.Require(session?.Attachments?.Remove(new Attachment(kind, name)) == true, $"Session {sessionId} was not attached to {kind} '{name}'.");
        if (session!.Attachments!.Count == 0)
        {
            // Back to the idle shape: an idle session holds no empty set.
            session.Attachments = null;
        }
    }
}
