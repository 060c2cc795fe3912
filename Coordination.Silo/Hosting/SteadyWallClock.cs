namespace Coordination.Silo.Hosting;

/// <summary>
/// Wall-clock time for entry stamps and due deadlines: it runs at the system clock's rate but does not
/// follow its steps. Log time decides session expiry, lock wait deadlines and maximum holds, so a
/// leader whose clock stepped an hour ahead (an NTP step, a clock set by hand) would expire every
/// session at once, and one that stepped back would stop time for everyone until its clock caught up.
/// Each reading compares how far the wall clock moved with how far the monotonic clock moved since
/// the previous one; a difference above <see cref="StepThreshold"/> is a step, taken out by an offset.
/// The offset then shrinks at <see cref="SlewRate"/> of the monotonic time passing, so the clock
/// converges on the stepped one (it may have been a correction) without any deadline passing more
/// than that rate faster or slower than real time. Thread-safe.
/// </summary>
public sealed class SteadyWallClock
{
    /// <summary>Readings retried when a pause split one (see <see cref="NotBeforeMs"/>).</summary>
    private const int ReadAttemptsMax = 3;

    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private bool _started;
    private long _lastWallTicks;
    private long _lastTimestamp;
    private long _offsetTicks;
    private double _slewRemainder;

    /// <param name="stepThreshold">A disagreement between wall and monotonic time taken as a step; smaller ones (drift, slewing by NTP) pass through.</param>
    /// <param name="slewRate">How fast an offset is absorbed, as a fraction of elapsed time (0.05: an hour's step in 20 hours).</param>
    public SteadyWallClock(TimeProvider time, TimeSpan stepThreshold, double slewRate)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(stepThreshold, TimeSpan.Zero);
        if (slewRate is <= 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(slewRate), slewRate, "The slew rate must be above 0 and below 1.");
        }

        _time = time;
        StepThreshold = stepThreshold;
        SlewRate = slewRate;
    }

    public TimeSpan StepThreshold { get; }

    public double SlewRate { get; }

    /// <summary>Steps of the wall clock taken out so far.</summary>
    public long Steps { get; private set; }

    /// <summary>How far this clock reads from the wall clock now (positive: behind a clock that stepped ahead).</summary>
    public TimeSpan Offset
    {
        get
        {
            lock (_lock)
            {
                return TimeSpan.FromTicks(-_offsetTicks);
            }
        }
    }

    /// <summary>Called with the size of each step taken out (positive: the wall clock jumped ahead).</summary>
    public event Action<TimeSpan>? Stepped;

    /// <summary>Now, in Unix milliseconds.</summary>
    public long NowMs() => NotBeforeMs(long.MinValue);

    /// <summary>
    /// Now, but not before <paramref name="floorMs"/>: a time this clock knows has passed (the newest
    /// stamp in the log, which some leader wrote before this node applied it). A clock that reads
    /// earlier is behind (it started before its first synchronization, or a correction was taken for
    /// a step) and is moved up to it, and on from there; left behind, a leader would stop log time
    /// until its own clock caught up, and with it every expiry.
    /// </summary>
    public long NotBeforeMs(long floorMs)
    {
        TimeSpan? step = null;
        long nowMs;
        lock (_lock)
        {
            // Read under the lock, so readings from several threads are taken and compared in one order;
            // the wall clock on both sides of the monotonic one, so a pause between the two readings
            // (a GC, a stalled VM) is not taken for a step and then for its undoing at the next one.
            long wall, timestamp;
            for (var attempt = 0; ; attempt++)
            {
                var wallBefore = _time.GetUtcNow().UtcTicks;
                timestamp = _time.GetTimestamp();
                wall = _time.GetUtcNow().UtcTicks;
                if (Math.Abs(wall - wallBefore) <= StepThreshold.Ticks / 2 || attempt == ReadAttemptsMax - 1)
                {
                    break;
                }
            }

            if (_started)
            {
                var monotonicTicks = _time.GetElapsedTime(_lastTimestamp, timestamp).Ticks;
                var disagreement = wall - _lastWallTicks - monotonicTicks;
                if (Math.Abs(disagreement) > StepThreshold.Ticks)
                {
                    _offsetTicks -= disagreement;
                    Steps++;
                    step = TimeSpan.FromTicks(disagreement);
                }
                else
                {
                    // Kept exact (a remainder carried over), so readings microseconds apart still slew.
                    var slew = (Math.Max(0, monotonicTicks) * SlewRate) + _slewRemainder;
                    var whole = (long)slew;
                    _slewRemainder = slew - whole;
                    _offsetTicks = _offsetTicks > 0 ? Math.Max(0, _offsetTicks - whole) : Math.Min(0, _offsetTicks + whole);
                }
            }

            _started = true;
            _lastWallTicks = wall;
            _lastTimestamp = timestamp;
            nowMs = ToUnixMs(wall + _offsetTicks);
            if (nowMs < floorMs)
            {
                _offsetTicks += (floorMs - nowMs) * TimeSpan.TicksPerMillisecond;
                nowMs = floorMs;
            }
        }

        if (step is { } size)
        {
            Stepped?.Invoke(size);
        }

        return nowMs;
    }

    private static long ToUnixMs(long utcTicks) => (utcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMillisecond;
}
