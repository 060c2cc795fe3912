namespace Coordination.Tests.Linearizability.Models;

public enum SemaphoreOp
{
    /// <summary>Try-acquire one permit (waitMs 0).</summary>
    Acquire,
    Release,

    /// <summary>The session ended somewhere between invoke and completion (as <see cref="LockOp.SessionEnded"/>).</summary>
    SessionEnded,
}

public sealed record SemaphoreInput(string Name, SemaphoreOp Op, long Session);

public enum SemaphoreResult
{
    Granted,
    Busy,
    Released,
    NotHolder,
    Ended,
}

public sealed record SemaphoreOutput(SemaphoreResult Result);

/// <summary>The holding sessions, ascending, joined by commas (value equality for the search cache).</summary>
public sealed record SemaphoreState(string Holders)
{
    public IReadOnlyList<long> Sessions => Holders.Length == 0 ? [] : [.. Holders.Split(',').Select(long.Parse)];

    public static SemaphoreState Of(IEnumerable<long> sessions) => new(string.Join(',', sessions.Order()));
}

/// <summary>
/// A semaphore of <see cref="Permits"/> permits, one per session (docs/api.md, "Locks", mode
/// semaphore): a try-acquire is granted exactly when a permit is free, so the holders never
/// exceed the permits. Partitioned by lock name.
/// </summary>
public sealed class SemaphoreModel(int permits) : IModel<SemaphoreState, SemaphoreInput, SemaphoreOutput>
{
    public int Permits { get; } = permits;

    public SemaphoreState Initial { get; } = new("");

    public string PartitionOf(SemaphoreInput input) => input.Name;

    public bool ChangesNothing(SemaphoreInput input, SemaphoreOutput output) => output.Result is SemaphoreResult.Busy or SemaphoreResult.NotHolder;

    public void Step(SemaphoreState state, SemaphoreInput input, SemaphoreOutput? output, List<SemaphoreState> next)
    {
        var holders = state.Sessions;
        var holds = holders.Contains(input.Session);
        var result = output?.Result;
        switch (input.Op)
        {
            case SemaphoreOp.Acquire when !holds && holders.Count < Permits && result is null or SemaphoreResult.Granted:
                next.Add(SemaphoreState.Of([.. holders, input.Session]));
                break;
            case SemaphoreOp.Acquire when (holds || holders.Count >= Permits) && result is null or SemaphoreResult.Busy:
                next.Add(state);
                break;
            case SemaphoreOp.Release when holds && result is null or SemaphoreResult.Released:
            case SemaphoreOp.SessionEnded when holds && result is null or SemaphoreResult.Ended:
                next.Add(SemaphoreState.Of(holders.Where(s => s != input.Session)));
                break;
            case SemaphoreOp.Release when !holds && result is null or SemaphoreResult.NotHolder:
            case SemaphoreOp.SessionEnded when !holds && result is null or SemaphoreResult.Ended:
                next.Add(state);
                break;
        }
    }
}
