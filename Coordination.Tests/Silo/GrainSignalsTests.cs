using Coordination.Grains;
using Coordination.Silo.Grains;

namespace Coordination.Tests.Silo;

public class GrainSignalsTests
{
    private static GrainEvent Event(GrainKind kind, string name, ulong session = 0, ulong revision = 1) =>
        new(revision, EventType.LockGranted, kind, name, session, 0, "", 0);

    [Fact]
    public async Task A_subscriber_wakes_for_its_grain_only_and_for_its_session_only_when_it_asked_for_one()
    {
        var signals = new GrainSignals();
        using var grain = signals.Subscribe(GrainKind.Lock, "db", 0);
        using var session = signals.Subscribe(GrainKind.Lock, "db", 7);
        var grainNext = grain.NextAsync(CancellationToken.None);
        var sessionNext = session.NextAsync(CancellationToken.None);

        signals.Notify(Event(GrainKind.Lock, "other"));
        signals.Notify(Event(GrainKind.Config, "db"));
        Assert.False(grainNext.IsCompleted);

        signals.Notify(Event(GrainKind.Lock, "db", session: 8));
        await grainNext.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(sessionNext.IsCompleted);

        signals.Notify(Event(GrainKind.Lock, "db", session: 7));
        await sessionNext.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task An_event_between_a_wake_and_the_next_wait_is_not_lost()
    {
        var signals = new GrainSignals();
        using var subscription = signals.Subscribe(GrainKind.Config, "app", 0);
        signals.Notify(Event(GrainKind.Config, "app"));
        await subscription.NextAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));

        // Fired after the subscriber re-armed (inside NextAsync) but before it waits again.
        signals.Notify(Event(GrainKind.Config, "app", revision: 2));
        await subscription.NextAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(subscription.NextAsync(CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task A_snapshot_wakes_everyone_and_disposed_subscriptions_leave_nothing_behind()
    {
        var signals = new GrainSignals();
        var a = signals.Subscribe(GrainKind.Lock, "a", 1);
        var b = signals.Subscribe(GrainKind.Membership, "b", 0);
        Assert.Equal(2, signals.Subscriptions);
        var waits = new[] { a.NextAsync(CancellationToken.None), b.NextAsync(CancellationToken.None) };
        signals.NotifyAll();
        await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(5));

        a.Dispose();
        b.Dispose();
        b.Dispose();
        Assert.Equal(0, signals.Subscriptions);
        Assert.Throws<ObjectDisposedException>(() => a.NextAsync(CancellationToken.None).GetAwaiter().GetResult());
    }

    [Fact]
    public async Task A_cancelled_wait_ends_without_an_event()
    {
        var signals = new GrainSignals();
        using var subscription = signals.Subscribe(GrainKind.Lock, "db", 0);
        using var cancel = new CancellationTokenSource();
        var next = subscription.NextAsync(cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next);
    }
}
