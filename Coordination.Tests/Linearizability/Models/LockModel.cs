namespace Coordination.Tests.Linearizability.Models;

public enum LockOp
{
    /// <summary>Try-acquire (waitMs 0) for <see cref="LockInput.Session"/>.</summary>
    Acquire,

    /// <summary>Release by <see cref="LockInput.Session"/> with <see cref="LockInput.Token"/>.</summary>
    Release,

    /// <summary>
    /// The session ended (expired or revoked). Its invoke is the last moment the session was known
    /// alive (the last successful keepalive), its completion the moment it was seen gone, so the
    /// expiry may be placed anywhere between.
    /// </summary>
    SessionEnded,

    /// <summary>Linearizable read of the holder.</summary>
    Read,
}

public sealed record LockInput(string Name, LockOp Op, long Session, long Token = 0);

public enum LockResult
{
    Granted,
    Busy,
    Released,

    /// <summary>`409 lock-not-held` or `409 wrong-token`.</summary>
    NotHolder,

    /// <summary>Acknowledges <see cref="LockOp.SessionEnded"/>.</summary>
    Ended,

    /// <summary>A read: <see cref="LockOutput.Holder"/> (0: free) and its <see cref="LockOutput.Token"/>.</summary>
    Read,
}

public sealed record LockOutput(LockResult Result, long Token = 0, long Holder = 0)
{
    public static LockOutput Granted(long token) => new(LockResult.Granted, token);

    public static LockOutput Busy { get; } = new(LockResult.Busy);

    public static LockOutput Released { get; } = new(LockResult.Released);

    public static LockOutput NotHolder { get; } = new(LockResult.NotHolder);

    public static LockOutput Ended { get; } = new(LockResult.Ended);

    public static LockOutput Read(long holder, long token) => new(LockResult.Read, token, holder);
}

/// <summary>
/// <see cref="Holder"/> 0 is a free lock. <see cref="HolderToken"/> 0 means "granted by an
/// operation whose outcome is unknown": the token exists but was never seen.
/// <see cref="LastToken"/> is a lower bound on every earlier grant's token.
/// </summary>
public sealed record LockState(long Holder, long HolderToken, long LastToken);

/// <summary>
/// An exclusive lock with fencing tokens (docs/api.md, "Locks"): at most one holder at a time,
/// and every grant's token is greater than every earlier grant's. Tokens are log indexes, so
/// they have gaps; the model asks only that they increase. A grant whose outcome is unknown
/// keeps the bound where it was, which is sound (the hidden token is above the bound, and any
/// later token must be above it too) but lets a later token equal to the hidden one pass.
/// Partitioned by lock name.
/// </summary>
public sealed class LockModel : IModel<LockState, LockInput, LockOutput>
{
    public static LockModel Instance { get; } = new();

    public LockState Initial { get; } = new(0, 0, 0);

    public string PartitionOf(LockInput input) => input.Name;

    // Not reads: a read can reveal the token of a grant whose outcome was unknown.
    public bool ChangesNothing(LockInput input, LockOutput output) => output.Result is LockResult.Busy or LockResult.NotHolder;

    public void Step(LockState state, LockInput input, LockOutput? output, List<LockState> next)
    {
        var free = new LockState(0, 0, Math.Max(state.LastToken, state.HolderToken));
        switch (input.Op)
        {
            case LockOp.Acquire:
                if (state.Holder == 0 && output is null)
                {
                    next.Add(state with { Holder = input.Session });
                }
                else if (state.Holder == 0 && output is { Result: LockResult.Granted } && output.Token > state.LastToken)
                {
                    next.Add(new LockState(input.Session, output.Token, output.Token));
                }
                else if (state.Holder != 0 && (output is null || output.Result == LockResult.Busy))
                {
                    next.Add(state);
                }

                break;
            case LockOp.Release:
                var holds = state.Holder == input.Session && (state.HolderToken == 0 || state.HolderToken == input.Token);
                if (holds && (output is null || output.Result == LockResult.Released))
                {
                    next.Add(free with { LastToken = Math.Max(free.LastToken, input.Token) });
                }

                // An unseen token may differ from the one released, so a refusal is possible too.
                if ((!holds || state.HolderToken == 0) && (output is null || output.Result == LockResult.NotHolder))
                {
                    next.Add(state);
                }

                break;
            case LockOp.SessionEnded when output is null || output.Result == LockResult.Ended:
                next.Add(state.Holder == input.Session ? free : state);
                break;
            case LockOp.Read when output is null:
                next.Add(state);
                break;
            case LockOp.Read when output.Result == LockResult.Read && output.Holder == state.Holder:
                if (state.Holder == 0 || state.HolderToken == output.Token)
                {
                    next.Add(state);
                }
                else if (state.HolderToken == 0 && output.Token > state.LastToken)
                {
                    next.Add(state with { HolderToken = output.Token, LastToken = output.Token });
                }

                break;
        }
    }
}
