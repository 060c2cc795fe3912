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
    public async Task A_wake_up_carries_its_events_in_order_and_only_those_after_the_readers_position()
    {
        var signals = new GrainSignals();
        using var subscription = signals.Subscribe(GrainKind.Lock, "db", 7);
        signals.Notify(Event(GrainKind.Lock, "db", session: 7, revision: 4));
        signals.Notify(Event(GrainKind.Lock, "db", session: 8, revision: 5));
        signals.Notify(Event(GrainKind.Lock, "db", session: 7, revision: 6));
        await subscription.NextAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));

        // The reader had already seen revision 4 (it subscribed, then read): only 6 is new, and 5 was another session's.
        Assert.True(subscription.TryTakeEvents(4, out var events));
        Assert.Equal([6UL], events.Select(e => e.Revision));
        Assert.True(subscription.TryTakeEvents(0, out var again));
        Assert.Empty(again);
    }

    [Fact]
    public void A_waiter_is_woken_only_once_every_event_of_the_entry_is_kept()
    {
        // A lock release that grants the next waiter: two events of one revision for lock "db".
        var signals = new GrainSignals();
        using var watcher = (GrainSignals.Subscription)signals.Subscribe(GrainKind.Lock, "db", 0);
        var entry = new[] { Event(GrainKind.Lock, "db", session: 7, revision: 9), Event(GrainKind.Lock, "db", session: 8, revision: 9) };
        var wokenBeforeTheLast = new List<bool>();
        signals.NotifyEntry(entry, (events, keep) =>
        {
            foreach (var e in events)
            {
                wokenBeforeTheLast.Add(watcher.IsWoken);
                keep(e);
            }
        });

        Assert.Equal([false, false], wokenBeforeTheLast);
        Assert.True(watcher.IsWoken);
        Assert.True(watcher.TryTakeEvents(8, out var events));
        Assert.Equal([7UL, 8UL], events.Select(e => e.SessionId));
    }

    [Fact]
    public void Events_that_were_not_all_kept_make_the_waiter_read_instead()
    {
        var signals = new GrainSignals();
        using var flooded = signals.Subscribe(GrainKind.Config, "app", 0);
        using var replaced = signals.Subscribe(GrainKind.Lock, "db", 0);
        for (var revision = 1UL; revision <= GrainSignals.DeliveredEventsMax + 1; revision++)
        {
            signals.Notify(Event(GrainKind.Config, "app", revision: revision));
        }

        signals.Notify(Event(GrainKind.Lock, "db", revision: 300));
        signals.NotifyAll();

        Assert.False(flooded.TryTakeEvents(0, out _));
        Assert.False(replaced.TryTakeEvents(0, out _));
        // Having been told to read, the next take starts clean.
        signals.Notify(Event(GrainKind.Config, "app", revision: 400));
        Assert.True(flooded.TryTakeEvents(0, out var fresh));
        Assert.Equal([400UL], fresh.Select(e => e.Revision));
    }

    [Fact]
    public void A_request_retried_with_its_idempotency_key_announces_no_event_again()
    {
        // Found by the fault test: the retry's entry did not reach the grains, and the grains' newest
        // entry (the first attempt) was announced a second time, so a watcher saw one version twice.
        var adapter = new GrainStateMachineAdapter();
        using var watch = adapter.Signals.Subscribe(GrainKind.Config, "app", 0);
        var put = RequestEnvelope.Encode("put-1", CommandCodec.Encode(new PutConfig("app", "1"u8.ToArray(), PutConfig.AnyVersion)));
        adapter.Apply(1, 1_000, put);
        adapter.Apply(2, 1_000, put);

        Assert.True(watch.TryTakeEvents(0, out var events));
        Assert.Equal([1UL], events.Select(e => e.Revision));
    }

    [Fact]
    public void A_waiter_whose_events_overflowed_the_history_in_one_entry_is_told_to_read()
    {
        // One expiry of more sessions than the history holds: the revision is dropped whole and
        // reads as compacted. Its watchers must be woken to read, not left to miss it.
        var adapter = new GrainStateMachineAdapter();
        var create = RequestEnvelope.Encode(null, CommandCodec.Encode(new CreateSession(5_000)));
        ulong index = 0;
        for (var session = 0; session <= Limits.EventHistoryMax; session++)
        {
            adapter.Apply(++index, 1_000, create);
        }

        using var watch = (GrainSignals.Subscription)adapter.Signals.Subscribe(GrainKind.Session, "", 0);
        adapter.Apply(++index, 7_000, RequestEnvelope.Encode(null, CommandCodec.Encode(new AdvanceTime())));

        Assert.True(adapter.Grains.EventsOfLastEntryDropped);
        Assert.True(watch.IsWoken);
        Assert.False(watch.TryTakeEvents(index - 1, out _));
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
