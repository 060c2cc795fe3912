namespace Coordination.Consensus;

/// <summary>
/// Assertions that stay on in release builds. A broken invariant in consensus code means the
/// state can no longer be trusted; the process must stop instead of spreading corrupt state.
/// </summary>
public static class Invariant
{
    /// <summary>Throws <see cref="InvariantViolationException"/> when <paramref name="condition"/> is false.</summary>
    public static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvariantViolationException(message);
        }
    }
}

/// <summary>An internal invariant was violated: a bug, or corrupt input that slipped past validation.</summary>
public sealed class InvariantViolationException(string message) : Exception(message);
