namespace Coordination.Tests.Faults;

/// <summary>
/// The resource a lock protects, in the test process: a counter that lock holders read and
/// increment. With <see cref="Enforce"/> it fences both reads and writes — it refuses a token
/// lower than the highest it has seen (Kleppmann, "How to do distributed locking", 2016) — so
/// a holder whose lease ran out during a pause cannot write back a stale read. Without it (the
/// control run) it trusts every caller. A lost update shows as <see cref="Value"/> below the
/// number of accepted increments. Thread-safe.
/// </summary>
public sealed class FencedStore(bool enforce)
{
    private readonly Lock _gate = new();
    private long _highestToken;

    public bool Enforce { get; } = enforce;

    public long Value { get; private set; }

    public long AcceptedWrites { get; private set; }

    public long RefusedCalls { get; private set; }

    public long LostUpdates
    {
        get
        {
            lock (_gate)
            {
                return AcceptedWrites - Value;
            }
        }
    }

    /// <summary>The value, or null when the token is stale.</summary>
    public long? Read(long token)
    {
        lock (_gate)
        {
            return Admit(token) ? Value : null;
        }
    }

    /// <summary>Sets the value read earlier plus one; false when the token is stale.</summary>
    public bool WriteIncrement(long token, long read)
    {
        lock (_gate)
        {
            if (!Admit(token))
            {
                return false;
            }

            Value = read + 1;
            AcceptedWrites++;
            return true;
        }
    }

    private bool Admit(long token)
    {
        if (Enforce && token < _highestToken)
        {
            RefusedCalls++;
            return false;
        }

        _highestToken = Math.Max(_highestToken, token);
        return true;
    }
}
