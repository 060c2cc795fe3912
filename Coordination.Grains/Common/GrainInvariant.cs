namespace Coordination.Grains;

/// <summary>
/// Assertions that stay on in release builds (STYLE.md, TigerBeetle): a grain whose invariant is
/// broken can no longer be trusted, so the replica must stop rather than spread corrupt state.
/// </summary>
public static class GrainInvariant
{
    /// <summary>Throws <see cref="GrainInvariantException"/> when <paramref name="condition"/> is false.</summary>
    public static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new GrainInvariantException(message);
        }
    }
}

/// <summary>A grain invariant was violated: a bug, never bad client input (that is a rejection).</summary>
public sealed class GrainInvariantException(string message) : Exception(message);

/// <summary>
/// Encoded bytes (a command or a snapshot) are malformed, fail their checksum, or use an unknown
/// command id or format version. The host must stop applying: skipping the entry would make this
/// replica diverge from the others.
/// </summary>
public sealed class CorruptDataException(string message) : Exception(message);
