using Coordination.Api;
using Coordination.Grains;

namespace Coordination.Silo.Grains;

/// <summary>
/// Wakes waiters on one grain's events instead of on every applied entry: a lock's 64 queued
/// acquirers, or watchers of one document, no longer each wake up and query on every write to
/// anything. The apply thread calls <see cref="Notify"/> for each event; waiters hold a
/// <see cref="Subscription"/> per key. Keys without subscribers cost nothing. Each subscription
/// also keeps the events it was woken for (up to <see cref="DeliveredEventsMax"/>), so a waiter
/// answers from them instead of queueing a read behind the Raft loop.
/// </summary>
public sealed class GrainSignals
{
    /// <summary>Events a subscription keeps between two takes; beyond it they are dropped and the waiter reads instead.</summary>
    public const int DeliveredEventsMax = 256;

    private readonly Lock _gate = new();
    private readonly Dictionary<Key, Signal> _signals = [];

    // Signals with an event kept in the entry being announced; fired once the whole entry is kept.
    private readonly List<Signal> _due = [];
    private readonly Action<GrainEvent> _keep;

    public GrainSignals() => _keep = Keep;

    /// <summary>Subscriptions alive now (tests, metrics).</summary>
    public int Subscriptions
    {
        get
        {
            lock (_gate)
            {
                return _signals.Values.Sum(s => s.Subscribers.Count);
            }
        }
    }

    /// <summary>Announces one applied event (an entry of one event).</summary>
    public void Notify(GrainEvent e) => NotifyEntry(e, static (e, keep) => keep(e));

    /// <summary>
    /// Called on the apply thread with the events of one applied entry (<paramref name="forEachEvent"/>
    /// hands each to its callback). They are kept for their subscribers under one hold of the gate,
    /// and the subscribers woken only after the last: a waiter never takes part of a revision, as it
    /// could when it woke on a revision's first event and took before the second was kept (it then
    /// resumed after that revision and never saw the rest).
    /// </summary>
    public void NotifyEntry<TState>(TState state, Action<TState, Action<GrainEvent>> forEachEvent)
    {
        lock (_gate)
        {
            if (_signals.Count == 0)
            {
                return;
            }

            forEachEvent(state, _keep);
            foreach (var signal in _due)
            {
                signal.Due = false;
                Wake(signal);
            }

            _due.Clear();
        }
    }

    /// <summary>Under the gate: keeps <paramref name="e"/> for the subscribers of its keys and marks them due.</summary>
    private void Keep(GrainEvent e)
    {
        KeepFor(new Key(e.Kind, e.Name, 0), e);
        if (e.SessionId != 0)
        {
            KeepFor(new Key(e.Kind, e.Name, e.SessionId), e);
        }
    }

    private void KeepFor(Key key, GrainEvent e)
    {
        if (_signals.TryGetValue(key, out var signal))
        {
            foreach (var subscriber in signal.Subscribers)
            {
                subscriber.Keep(e);
            }

            if (!signal.Due)
            {
                signal.Due = true;
                _due.Add(signal);
            }
        }
    }

    /// <summary>The whole state was replaced (a snapshot): every waiter must look again.</summary>
    public void NotifyAll()
    {
        lock (_gate)
        {
            foreach (var key in _signals.Keys.ToArray())
            {
                WakeToRead(key);
            }
        }
    }

    public IGrainEventSubscription Subscribe(GrainKind kind, string name, ulong sessionId)
    {
        var key = new Key(kind, name, sessionId);
        lock (_gate)
        {
            if (!_signals.TryGetValue(key, out var signal))
            {
                _signals[key] = signal = new Signal();
            }

            var subscription = new Subscription(this, key, signal.Fired.Task);
            signal.Subscribers.Add(subscription);
            return subscription;
        }
    }

    /// <summary>The state was replaced: every subscriber of the key must read, and is woken.</summary>
    private void WakeToRead(Key key)
    {
        if (_signals.TryGetValue(key, out var signal))
        {
            foreach (var subscriber in signal.Subscribers)
            {
                subscriber.Keep(null);
            }

            Wake(signal);
        }
    }

    private static void Wake(Signal signal)
    {
        signal.Fired.TrySetResult();
        signal.Fired = NewFired();
    }

    private Task Rearm(Key key)
    {
        lock (_gate)
        {
            return _signals[key].Fired.Task;
        }
    }

    private void Unsubscribe(Key key, Subscription subscription)
    {
        lock (_gate)
        {
            var subscribers = _signals[key].Subscribers;
            subscribers.Remove(subscription);
            if (subscribers.Count == 0)
            {
                _signals.Remove(key);
            }
        }
    }

    private static TaskCompletionSource NewFired() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal readonly record struct Key(GrainKind Kind, string Name, ulong SessionId);

    private sealed class Signal
    {
        /// <summary>In <see cref="_due"/> for the entry being announced (a flag, not a search: a mass expiry has thousands of events).</summary>
        public bool Due { get; set; }

        public TaskCompletionSource Fired { get; set; } = NewFired();

        public List<Subscription> Subscribers { get; } = [];
    }

    internal sealed class Subscription(GrainSignals owner, Key key, Task armed) : IGrainEventSubscription
    {
        // Guarded by owner._gate.
        private readonly Queue<GrainEvent> _kept = new();
        private bool _mustRead;
        private Task _armed = armed;
        private int _disposed;

        /// <summary>Whether a wake-up is due (tests: the next <see cref="NextAsync"/> completes at once).</summary>
        internal bool IsWoken => _armed.IsCompleted;

        public async Task NextAsync(CancellationToken cancellation)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            await _armed.WaitAsync(cancellation);
            // Re-armed before the caller reads again, so an event after that read is not missed.
            _armed = owner.Rearm(key);
        }

        public bool TryTakeEvents(ulong after, out IReadOnlyList<GrainEvent> events)
        {
            lock (owner._gate)
            {
                var complete = !_mustRead;
                events = complete ? [.. _kept.Where(e => e.Revision > after)] : [];
                _kept.Clear();
                _mustRead = false;
                return complete;
            }
        }

        /// <summary>Called under the owner's gate.</summary>
        public void Keep(GrainEvent? e)
        {
            if (e is null || _kept.Count >= DeliveredEventsMax)
            {
                _mustRead = true;
                _kept.Clear();
            }
            else if (!_mustRead)
            {
                _kept.Enqueue(e);
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unsubscribe(key, this);
            }
        }
    }
}
