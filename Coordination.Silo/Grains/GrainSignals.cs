using Coordination.Api;
using Coordination.Grains;

namespace Coordination.Silo.Grains;

/// <summary>
/// Wakes waiters on one grain's events instead of on every applied entry: a lock's 64 queued
/// acquirers, or watchers of one document, no longer each wake up and query on every write to
/// anything. The apply thread calls <see cref="Notify"/> for each event; waiters hold a
/// <see cref="Subscription"/> per key. Keys without subscribers cost nothing.
/// </summary>
public sealed class GrainSignals
{
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
                return _signals.Values.Sum(s => s.Subscribers);
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

            Fire(new Key(e.Kind, e.Name, 0));
            if (e.SessionId != 0)
            {
                Fire(new Key(e.Kind, e.Name, e.SessionId));
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
                Fire(key);
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

            signal.Subscribers++;
            return new Subscription(this, key, signal.Fired.Task);
        }
    }

    private void Fire(Key key)
    {
        if (_signals.TryGetValue(key, out var signal))
        {
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

    private void Unsubscribe(Key key)
    {
        lock (_gate)
        {
            if (--_signals[key].Subscribers == 0)
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

        public int Subscribers { get; set; }
    }

    private sealed class Subscription(GrainSignals owner, Key key, Task armed) : IGrainEventSubscription
    {
        private Task _armed = armed;
        private int _disposed;

        public async Task NextAsync(CancellationToken cancellation)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            await _armed.WaitAsync(cancellation);
            // Re-armed before the caller reads again, so an event after that read is not missed.
            _armed = owner.Rearm(key);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unsubscribe(key);
            }
        }
    }
}
