namespace Coordination.Grains;

/// <summary>Sequence commands.</summary>
internal static class SequenceGrain
{
    public static CommandResult Reserve(SequenceState state, ReserveSequence c, StepContext ctx)
    {
        if (Check(state, c.Name, c.Count) is { } refused)
        {
            return refused;
        }

        var first = state.Last + 1;
        state.Last += (ulong)c.Count;
        ctx.Emit(EventType.SequenceReserved, GrainKind.Sequence, c.Name, token: first, version: c.Count);
        return new SequenceReserved(c.Name, first, c.Count);
    }

    /// <summary>Why reserving <paramref name="count"/> values would be refused, or null.</summary>
    public static Rejected? Check(SequenceState state, string name, int count)
    {
        if (count is < 1 or > Limits.SequenceReserveCountMax)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"Count must be 1..{Limits.SequenceReserveCountMax} (SequenceReserveCountMax).");
        }

        return state.Last > ulong.MaxValue - (ulong)count ? new Rejected(ErrorCode.LimitExceeded, $"Sequence '{name}' is exhausted.") : null;
    }
}
