namespace Coordination.Tests.Client;

/// <summary>
/// A clock that moves only when a test calls <see cref="Advance"/>, firing the timers that fall due
/// (Task.Delay, CancellationTokenSource timeouts, Polly). <see cref="WaitForTimerAsync"/> lets a test wait,
/// bounded, until the code under test has armed the timer it is about to fire, so no test sleeps or races.
/// </summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward and runs every timer that falls due, in due order, on this thread.</summary>
    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        DateTimeOffset target;
        lock (_lock)
        {
            target = _now + by;
        }

        for (var fired = 0; ; fired++)
        {
            Assert.True(fired < 10_000, "Timers keep falling due: a periodic timer with a zero period?");
            ManualTimer? due;
            lock (_lock)
            {
                due = _timers.Where(t => t.Due <= target).OrderBy(t => t.Due).FirstOrDefault();
                if (due is null)
                {
                    _now = target;
                    break;
                }

                _now = due.Due!.Value;
                due.Fired();
            }

            due.Callback(due.State);
        }

        Changed();
    }

    /// <summary>Waits (at most <see cref="FakeHandler.WaitMax"/>) until an armed timer falls due exactly <paramref name="dueIn"/> from now.</summary>
    public async Task WaitForTimerAsync(TimeSpan dueIn)
    {
        using var bound = new CancellationTokenSource(FakeHandler.WaitMax);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_timers.Any(t => t.Due - _now == dueIn))
                {
                    return;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                string armed;
                lock (_lock)
                {
                    armed = string.Join(", ", _timers.Select(t => (t.Due - _now)?.TotalMilliseconds));
                }

                Assert.Fail($"No timer due in {dueIn.TotalMilliseconds} ms was armed; armed (ms from now): [{armed}].");
            }
        }
    }

    private void Changed()
    {
        TaskCompletionSource old;
        lock (_lock)
        {
            old = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        old.TrySetResult();
    }

    private sealed class ManualTimer(ManualTimeProvider clock, TimerCallback callback, object? state) : ITimer
    {
        private TimeSpan _period = Timeout.InfiniteTimeSpan;

        public DateTimeOffset? Due { get; private set; }

        public TimerCallback Callback { get; } = callback;

        public object? State { get; } = state;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._lock)
            {
                clock._timers.Remove(this);
                _period = period;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : clock._now + dueTime;
                if (Due is not null)
                {
                    clock._timers.Add(this);
                }
            }

            clock.Changed();
            return true;
        }

        /// <summary>Called under the clock's lock when the timer fires: re-arm a periodic timer, else disarm.</summary>
        public void Fired()
        {
            clock._timers.Remove(this);
            if (_period > TimeSpan.Zero && _period != Timeout.InfiniteTimeSpan)
            {
                Due = clock._now + _period;
                clock._timers.Add(this);
            }
            else
            {
                Due = null;
            }
        }

        public void Dispose()
        {
            lock (clock._lock)
            {
                clock._timers.Remove(this);
                Due = null;
            }

            clock.Changed();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
