namespace Coordination.Grains;

/// <summary>Sequence commands.</summary>
internal static class SequenceGrain
{
    public static CommandResult Reserve(SequenceState state, ReserveSequence c, StepContext ctx)
    {
        if (c.Count is < 1 or > Limits.SequenceReserveCountMax)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"Count must be 1..{Limits.SequenceReserveCountMax} (SequenceReserveCountMax).");
        }

        if (state.Last > ulong.MaxValue - (ulong)c.Count)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"Sequence '{c.Name}' is exhausted.");
        }

        var first = state.Last + 1;
        state.Last += (ulong)c.Count;
        ctx.Emit(EventType.SequenceReserved, GrainKind.Sequence, c.Name, token: first, version: c.Count);
        return new SequenceReserved(c.Name, first, c.Count);
    }
}
