using Coordination.Silo.Hosting;

namespace Coordination.Tests.Silo;

public sealed class SteadyWallClockTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(20);
    private readonly SteppableTimeProvider _time = new(manual: true);
    private readonly SteadyWallClock _clock;
    private readonly List<TimeSpan> _steps = [];

    public SteadyWallClockTests()
    {
        _clock = new SteadyWallClock(_time, TimeSpan.FromSeconds(1), slewRate: 0.05);
        _clock.Stepped += _steps.Add;
    }

    private long WallMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Reads the clock every tick for <paramref name="duration"/>, as the Raft loop does; returns the readings.</summary>
    private List<(long Clock, long Wall)> Run(TimeSpan duration, TimeSpan? every = null)
    {
        var step = every ?? Tick;
        var readings = new List<(long, long)>();
        for (var elapsed = TimeSpan.Zero; elapsed < duration; elapsed += step)
        {
            _time.Advance(step);
            readings.Add((_clock.NowMs(), WallMs));
        }

        return readings;
    }

    [Fact]
    public void Without_steps_it_reads_the_wall_clock()
    {
        Assert.All(Run(TimeSpan.FromSeconds(5)), r => Assert.Equal(r.Wall, r.Clock));
        Assert.Empty(_steps);
    }

    [Fact]
    public void Drift_and_small_corrections_below_the_threshold_pass_through()
    {
        _clock.NowMs();
        for (var i = 0; i < 100; i++)
        {
            _time.Advance(Tick);
            _time.StepWall(TimeSpan.FromMilliseconds(3)); // a wall clock 15% fast: far more than any real drift
            Assert.Equal(WallMs, _clock.NowMs());
        }

        Assert.Empty(_steps);
        Assert.Equal(0, _clock.Steps);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-1)]
    public void A_step_of_an_hour_is_not_followed_and_is_absorbed_at_the_slew_rate(int direction)
    {
        var hour = TimeSpan.FromHours(direction);
        Run(TimeSpan.FromSeconds(1));
        var before = _clock.NowMs();
        _time.StepWall(hour);
        _time.Advance(Tick);
        var after = _clock.NowMs();

        Assert.Equal((long)Tick.TotalMilliseconds, after - before);
        Assert.Equal([hour], _steps);
        Assert.Equal(hour, _clock.Offset);

        // Ten seconds later, half a second of the hour (5%) is absorbed, and time moved at most 5%
        // faster or slower than the monotonic clock between any two readings.
        var readings = Run(TimeSpan.FromSeconds(10));
        Assert.Equal(hour - TimeSpan.FromMilliseconds(500 * direction), _clock.Offset);
        var previous = after;
        foreach (var (clock, _) in readings)
        {
            Assert.InRange(clock - previous, 18, 22);
            previous = clock;
        }

        // The whole hour goes in 20 hours of slewing, and then the clock reads the wall clock again.
        Run(TimeSpan.FromHours(20), every: TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.Zero, _clock.Offset);
        Assert.All(Run(TimeSpan.FromSeconds(1)), r => Assert.Equal(r.Wall, r.Clock));
        Assert.Single(_steps);
    }

    [Fact]
    public void A_step_between_rare_readings_is_still_seen()
    {
        _clock.NowMs();
        _time.Advance(TimeSpan.FromMinutes(10));
        _time.StepWall(TimeSpan.FromMinutes(30));
        var first = _clock.NowMs();
        Assert.Equal(WallMs - (long)TimeSpan.FromMinutes(30).TotalMilliseconds, first);
        Assert.Equal(1, _clock.Steps);
    }

    [Fact]
    public void A_clock_behind_a_time_known_to_have_passed_moves_up_to_it_and_runs_on_from_there()
    {
        var wall = _clock.NowMs();
        Assert.Equal(wall, _clock.NotBeforeMs(wall - 5_000));

        var later = wall + (long)TimeSpan.FromHours(1).TotalMilliseconds;
        Assert.Equal(later, _clock.NotBeforeMs(later));
        _time.Advance(Tick);
        Assert.Equal(later + 20 - 1, _clock.NowMs()); // on at the wall's rate, slewing back at 5%
        Assert.Empty(_steps);
    }

    [Fact]
    public void A_pause_between_the_wall_and_the_monotonic_reading_is_not_taken_for_a_step()
    {
        var time = new PausingTimeProvider();
        var clock = new SteadyWallClock(time, TimeSpan.FromSeconds(1), slewRate: 0.05);
        clock.NowMs();
        time.PauseAfterNextMonotonicReading(TimeSpan.FromSeconds(2));
        var paused = clock.NowMs();
        var next = clock.NowMs();

        Assert.Equal(0, clock.Steps);
        Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds(), next);
        Assert.Equal(next, paused);
    }

    /// <summary>A clock whose process stalls (both clocks move on) right after the monotonic clock is read.</summary>
    private sealed class PausingTimeProvider : TimeProvider
    {
        private static readonly DateTimeOffset Start = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);
        private long _ticks;
        private TimeSpan _pause;
        private bool _pauseDue;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public void PauseAfterNextMonotonicReading(TimeSpan pause) => _pause = pause;

        public override long GetTimestamp()
        {
            _pauseDue = _pause > TimeSpan.Zero;
            return _ticks;
        }

        public override DateTimeOffset GetUtcNow()
        {
            if (_pauseDue)
            {
                (_ticks, _pause, _pauseDue) = (_ticks + _pause.Ticks, TimeSpan.Zero, false);
            }

            return Start + TimeSpan.FromTicks(_ticks);
        }
    }

    [Fact]
    public void Settings_outside_their_range_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SteadyWallClock(_time, TimeSpan.Zero, 0.05));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SteadyWallClock(_time, TimeSpan.FromSeconds(1), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SteadyWallClock(_time, TimeSpan.FromSeconds(1), 1));
    }
}
