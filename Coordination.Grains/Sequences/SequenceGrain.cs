namespace Coordination.Grains;

/// <summary>Sequence commands.</summary>
internal static class SequenceGrain
{
    public static CommandResult Reserve(SequenceState state, ReserveSequence c, StepContext ctx)
    {
        if (Check(state, c.Name, c.Count, ctx.SequenceFloor) is { } refused)
        {
            return refused;
        }

        var first = Last(state, ctx.SequenceFloor) + 1;
        state.Last = first - 1 + (ulong)c.Count;
        ctx.Emit(EventType.SequenceReserved, GrainKind.Sequence, c.Name, token: first, version: c.Count);
        return new SequenceReserved(c.Name, first, c.Count);
    }

    /// <summary>The value the sequence counts on from: its own last one, or the floor (a restored cluster) if higher.</summary>
    private static ulong Last(SequenceState state, ulong floor) => Math.Max(state.Last, floor);

    /// <summary>Why reserving <paramref name="count"/> values would be refused, or null.</summary>
    public static Rejected? Check(SequenceState state, string name, int count, ulong floor)
    {
        if (count is < 1 or > Limits.SequenceReserveCountMax)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"Count must be 1..{Limits.SequenceReserveCountMax} (SequenceReserveCountMax).");
        }

        return Last(state, floor) > ulong.MaxValue - (ulong)count ? new Rejected(ErrorCode.LimitExceeded, $"Sequence '{name}' is exhausted.") : null;
    }
}
