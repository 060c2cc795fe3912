namespace Coordination.Tests.Silo;

/// <summary>
/// A clock whose wall time can jump while its monotonic time does not, as after an NTP step or a
/// clock set by hand. Monotonic time follows the system's unless <see cref="Manual"/>, when it moves
/// only by <see cref="Advance"/>; wall time is monotonic time plus an offset that
/// <see cref="StepWall"/> changes. Timers are the system's (hosts under test run in real time).
/// </summary>
internal sealed class SteppableTimeProvider(bool manual = false) : TimeProvider
{
    private static readonly DateTimeOffset ManualStart = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);
    private readonly long _systemStart = System.GetTimestamp();
    private readonly DateTimeOffset _wallStart = manual ? ManualStart : System.GetUtcNow();
    private long _manualTicks;
    private long _wallOffsetTicks;

    public bool Manual { get; } = manual;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Manual ? Interlocked.Read(ref _manualTicks) : System.GetElapsedTime(_systemStart).Ticks;

    public override DateTimeOffset GetUtcNow() => _wallStart + TimeSpan.FromTicks(GetTimestamp() + Interlocked.Read(ref _wallOffsetTicks));

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        System.CreateTimer(callback, state, dueTime, period);

    /// <summary>Moves monotonic (and so wall) time on; only for a <see cref="Manual"/> clock.</summary>
    public void Advance(TimeSpan by)
    {
        Assert.True(Manual, "only a manual clock is advanced by hand");
        Interlocked.Add(ref _manualTicks, by.Ticks);
    }

    /// <summary>Steps the wall clock by <paramref name="by"/> (negative: back) without moving monotonic time.</summary>
    public void StepWall(TimeSpan by) => Interlocked.Add(ref _wallOffsetTicks, by.Ticks);
}
