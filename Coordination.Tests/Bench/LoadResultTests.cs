extern alias bench;

using System.Diagnostics;
using bench::Coordination.Bench;

namespace Coordination.Tests.Bench;

public sealed class LoadResultTests
{
    private static long Ms(double ms) => (long)(ms * Stopwatch.Frequency / 1000.0);

    [Fact]
    public void The_longest_pause_is_the_widest_gap_between_completions_in_any_order()
    {
        var started = 1_000_000L;
        List<long> completions = [started + Ms(30), started + Ms(10), started + Ms(250), started + Ms(20), started + Ms(260)];

        Assert.Equal(220, LoadResult.LongestGapMs(started, completions), precision: 3);
    }

    [Fact]
    public void The_wait_for_the_first_completion_counts_as_a_pause()
    {
        var started = 5L;

        Assert.Equal(400, LoadResult.LongestGapMs(started, [started + Ms(400), started + Ms(410)]), precision: 3);
        Assert.Equal(0, LoadResult.LongestGapMs(started, []));
    }
}
