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
    private readonly Action<GrainEvent> _notify;

    public GrainSignals() => _notify = Notify;

    /// <summary>The cached delegate of <see cref="Notify"/> (no allocation per applied entry).</summary>
    public Action<GrainEvent> NotifyAction => _notify;

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

    /// <summary>Called on the apply thread for each applied event.</summary>
    public void Notify(GrainEvent e)
    {
        lock (_gate)
        {
            if (_signals.Count == 0)
            {
                return;
            }

            Fire(new Key(e.Kind, e.Name, 0), e);
            if (e.SessionId != 0)
            {
                Fire(new Key(e.Kind, e.Name, e.SessionId), e);
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
                Fire(key, null);
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

    /// <summary>Keeps <paramref name="e"/> for every subscriber of the key (null: the state was replaced, they must read) and wakes them.</summary>
    private void Fire(Key key, GrainEvent? e)
    {
        if (_signals.TryGetValue(key, out var signal))
        {
            foreach (var subscriber in signal.Subscribers)
            {
                subscriber.Keep(e);
            }

            signal.Fired.TrySetResult();
            signal.Fired = NewFired();
        }
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

    private readonly record struct Key(GrainKind Kind, string Name, ulong SessionId);

    private sealed class Signal
    {
        public TaskCompletionSource Fired { get; set; } = NewFired();

        public List<Subscription> Subscribers { get; } = [];
    }

    private sealed class Subscription(GrainSignals owner, Key key, Task armed) : IGrainEventSubscription
    {
        // Guarded by owner._gate.
        private readonly Queue<GrainEvent> _kept = new();
        private bool _mustRead;
        private Task _armed = armed;
        private int _disposed;

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
