namespace Coordination.Tests.Storage;

/// <summary>The seed of a randomized test: COORDINATION_TEST_SEED replays a failure, whose message always prints its seed.</summary>
internal static class TestSeed
{
    public static int Choose() =>
        int.TryParse(Environment.GetEnvironmentVariable("COORDINATION_TEST_SEED"), out var given) ? given : Environment.TickCount;
}
