namespace Coordination.Grains;

/// <summary>
/// Leader election commands (etcd's election API shape). Validate first, then change; a leader
/// that leaves for any reason is replaced by the next candidate in the same step.
/// </summary>
internal static class ElectionGrain
{
    private const GrainKind Kind = GrainKind.Election;

    internal static Rejected? CheckValue(byte[] value) => value.Length > Limits.ElectionValueBytesMax
        ? new Rejected(ErrorCode.LimitExceeded, $"An election value is at most {Limits.ElectionValueBytesMax} bytes (ElectionValueBytesMax).")
        : null;

    public static CommandResult Campaign(ElectionState state, Campaign c, StepContext ctx)
    {
        if (CheckValue(c.Value) is { } valueRejected)
        {
            return valueRejected;
        }

        if (ctx.Sessions.CheckAttach(c.SessionId, Kind, c.Name, ctx.NowMs) is { } sessionRejected)
        {
            return sessionRejected;
        }

        if (state.Candidates.Count >= Limits.CandidatesPerElectionMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"Election '{c.Name}' has {Limits.CandidatesPerElectionMax} candidates (CandidatesPerElectionMax).");
        }

        state.Candidates.Add(new Candidate(c.SessionId, c.Value, ctx.NowMs));
        ctx.Sessions.Attach(c.SessionId, Kind, c.Name);
        if (state.Candidates.Count == 1)
        {
            Promote(state, c.Name, ctx);
            return new LeaderElected(c.Name, state.LeaderToken);
        }

        ctx.Emit(EventType.CandidateQueued, Kind, c.Name, c.SessionId);
        return new CandidateQueued(c.Name, state.Candidates.Count - 1);
    }

    public static CommandResult Proclaim(ElectionState state, Proclaim c, StepContext ctx)
    {
        if (state.IsEmpty)
        {
            return new Rejected(ErrorCode.NotFound, $"Election '{c.Name}' has no leader.");
        }

        if (c.Token != state.LeaderToken)
        {
            return new Rejected(ErrorCode.WrongToken, $"Token {c.Token} is not the current term of election '{c.Name}'.");
        }

        if (CheckValue(c.Value) is { } valueRejected)
        {
            return valueRejected;
        }

        state.Candidates[0] = state.Candidates[0] with { Value = c.Value };
        ctx.Emit(EventType.LeaderProclaimed, Kind, c.Name, state.Candidates[0].SessionId, state.LeaderToken);
        return new LeaderProclaimed(c.Name, state.LeaderToken);
    }

    public static CommandResult Resign(ElectionState state, Resign c, StepContext ctx)
    {
        var index = state.IndexOf(c.SessionId);
        if (index < 0)
        {
            return new Rejected(ErrorCode.NotFound, $"Session {c.SessionId} is not a candidate in election '{c.Name}'.");
        }

        var wasLeader = RemoveCandidate(state, c.Name, index, ctx);
        ctx.Sessions.Detach(c.SessionId, Kind, c.Name);
        if (wasLeader)
        {
            ReplaceLeader(state, c.Name, ctx);
        }

        return new CandidacyWithdrawn(c.Name, wasLeader);
    }

    /// <summary>
    /// Sessions ended (the caller drops them): removes all their candidacies, then promotes once,
    /// so one step never makes two leaders with the same term token.
    /// </summary>
    public static void Remove(ElectionState state, string name, IReadOnlyList<Removal> removals, StepContext ctx)
    {
        var leaderLeft = false;
        foreach (var removal in removals)
        {
            GrainInvariant.Require(removal.EndsSession, $"Election '{name}' removes only ended sessions.");
            var index = state.IndexOf(removal.SessionId);
            GrainInvariant.Require(index >= 0, $"Session {removal.SessionId} is attached to election '{name}' without a candidacy.");
            leaderLeft |= RemoveCandidate(state, name, index, ctx);
        }

        if (leaderLeft)
        {
            ReplaceLeader(state, name, ctx);
        }
    }

    /// <summary>Removes one candidate; true if it was the leader (the caller then replaces it, once).</summary>
    private static bool RemoveCandidate(ElectionState state, string name, int index, StepContext ctx)
    {
        var candidate = state.Candidates[index];
        state.Candidates.RemoveAt(index);
        ctx.Emit(EventType.CandidateLeft, Kind, name, candidate.SessionId);
        return index == 0;
    }

    private static void ReplaceLeader(ElectionState state, string name, StepContext ctx)
    {
        if (state.Candidates.Count > 0)
        {
            Promote(state, name, ctx);
        }
        else
        {
            state.LeaderToken = 0;
            state.LeaderSinceMs = 0;
            ctx.Emit(EventType.NoLeader, Kind, name);
        }
    }

    /// <summary>The head candidate leads from this entry; its term token is this entry's index, above every earlier term.</summary>
    private static void Promote(ElectionState state, string name, StepContext ctx)
    {
        GrainInvariant.Require(ctx.Index > state.LeaderToken, $"Election '{name}': term token would not increase.");
        state.LeaderToken = ctx.Index;
        state.LeaderSinceMs = ctx.NowMs;
        ctx.Emit(EventType.LeaderElected, Kind, name, state.Candidates[0].SessionId, state.LeaderToken);
    }
}
