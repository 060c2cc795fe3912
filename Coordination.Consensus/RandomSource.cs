namespace Coordination.Consensus;

/// <summary>The only randomness consensus uses (election jitter). Injected so that a seed reproduces a run.</summary>
public interface IRandomSource
{
    /// <summary>A uniformly distributed integer in [<paramref name="minInclusive"/>, <paramref name="maxExclusive"/>).</summary>
    int Next(int minInclusive, int maxExclusive);
}

/// <summary>A small deterministic generator (SplitMix64): the same seed gives the same sequence on every platform.</summary>
public sealed class SplitMixRandom(ulong seed) : IRandomSource
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public int Next(int minInclusive, int maxExclusive)
    {
        Invariant.Require(maxExclusive > minInclusive, "an empty range has no random value");
        return minInclusive + (int)(NextUInt64() % (ulong)(maxExclusive - minInclusive));
    }

    /// <summary>True with probability <paramref name="probability"/>.</summary>
    public bool Chance(double probability) => (NextUInt64() >> 11) * (1.0 / (1UL << 53)) < probability;
}
