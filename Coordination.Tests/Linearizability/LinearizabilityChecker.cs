using Coordination.Consensus;

namespace Coordination.Tests.Linearizability;

/// <summary>The checker's answer. <see cref="Unknown"/> is never a pass: the search ran out of its budget.</summary>
public enum Verdict
{
    Linearizable,
    NotLinearizable,
    Unknown,
}

/// <summary>Limits of one check. Every partition gets its own budget.</summary>
public sealed record CheckOptions
{
    /// <summary>Model steps one partition may try before its answer is <see cref="Verdict.Unknown"/>.</summary>
    public long StepsPerPartitionMax { get; init; } = 5_000_000;

    /// <summary>Operations one partition may hold (the linearized set is a bitset of this many bits).</summary>
    public int OperationsPerPartitionMax { get; init; } = 20_000;

    public static CheckOptions Default { get; } = new();
}

/// <summary>
/// The answer for one partition. <see cref="LongestPrefix"/> is the longest linearization found
/// (indexes into the original history), and <see cref="Stuck"/> the first operation that no
/// order could place after it: the place to start reading a violation.
/// </summary>
public sealed record PartitionResult(string Partition, Verdict Verdict, int Operations, long Steps, IReadOnlyList<int> LongestPrefix, int? Stuck);

public sealed record CheckResult(Verdict Verdict, IReadOnlyList<PartitionResult> Partitions)
{
    public PartitionResult? FirstFailure => Partitions.FirstOrDefault(p => p.Verdict != Verdict.Linearizable);
}

/// <summary>
/// Decides whether a history is linearizable with respect to a model: the search of Wing and Gong
/// ("Testing and verifying concurrent objects", 1993) with Lowe's improvements ("Testing for
/// linearizability", 2017) in the shape Porcupine (github.com/anishathalye/porcupine) gives it:
/// a doubly linked list of call and return entries sorted by time, from which a call is lifted
/// out when it is linearized next and put back on backtracking; a cache of (linearized set, state)
/// pairs already explored prunes the search; and the history is split by partition first
/// (Herlihy and Wing's locality, "P-compositionality" in Lowe) so each partition is searched alone.
/// Two more prunings keep histories from a faulty cluster tractable, both exact: an operation the
/// model declares state-preserving (<see cref="IModel{TState, TInput, TOutput}.ChangesNothing"/>)
/// is linearized as soon as it is legal, without branching (it could be moved there from any later
/// place), and an unknown operation that would change nothing here is skipped rather than linearized. Without them, long windows of reads, refusals and session ends
/// multiply the linearized sets the cache has to tell apart.
/// </summary>
/// <remarks>
/// Unknown outcomes: the operation's return is placed after every other event and it is optional
/// — the search succeeds once every operation with a known outcome is linearized, whether or not
/// the unknown ones were. Failed operations are dropped: they had no effect and told us nothing.
/// Pure function of its inputs; safe to call from any thread.
/// </remarks>
public static class LinearizabilityChecker
{
    public static CheckResult Check<TState, TInput, TOutput>(
        IModel<TState, TInput, TOutput> model,
        IReadOnlyList<Operation<TInput, TOutput>> history,
        CheckOptions? options = null)
        where TState : notnull
        where TOutput : class
    {
        options ??= CheckOptions.Default;
        var partitions = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < history.Count; i++)
        {
            var op = history[i];
            Invariant.Require(op.Outcome != Outcome.Ok || (op.Output is not null && op.Complete >= op.Invoke), $"operation {i}: an ok operation has an output and completes after its invoke");
            if (op.Outcome == Outcome.Fail)
            {
                continue;
            }

            var key = model.PartitionOf(op.Input);
            if (!partitions.TryGetValue(key, out var list))
            {
                partitions[key] = list = [];
            }

            list.Add(i);
        }

        var results = partitions.Select(p => new PartitionSearch<TState, TInput, TOutput>(model, history, p.Key, p.Value, options).Run()).ToList();
        var verdict = results.Any(r => r.Verdict == Verdict.NotLinearizable) ? Verdict.NotLinearizable
            : results.Any(r => r.Verdict == Verdict.Unknown) ? Verdict.Unknown
            : Verdict.Linearizable;
        return new CheckResult(verdict, results);
    }
}

/// <summary>One partition's search; used once.</summary>
internal sealed class PartitionSearch<TState, TInput, TOutput>
    where TState : notnull
    where TOutput : class
{
    private sealed class Entry
    {
        public required int Id { get; init; }          // index within the partition
        public required bool IsCall { get; init; }
        public required long Time { get; init; }
        public bool Optional { get; init; }
        public Entry? Match { get; set; }             // a call's return, a return's call
        public Entry? Prev { get; set; }
        public Entry? Next { get; set; }
    }

    private readonly IModel<TState, TInput, TOutput> _model;
    private readonly IReadOnlyList<Operation<TInput, TOutput>> _history;
    private readonly string _partition;
    private readonly List<int> _ops;
    private readonly CheckOptions _options;
    private readonly List<TState> _scratch = [];

    public PartitionSearch(IModel<TState, TInput, TOutput> model, IReadOnlyList<Operation<TInput, TOutput>> history, string partition, List<int> ops, CheckOptions options)
    {
        _model = model;
        _history = history;
        _partition = partition;
        _ops = ops;
        _options = options;
    }

    public PartitionResult Run()
    {
        if (_ops.Count > _options.OperationsPerPartitionMax)
        {
            return new PartitionResult(_partition, Verdict.Unknown, _ops.Count, 0, [], null);
        }

        var head = BuildList();
        var linearized = new Bits(_ops.Count);
        var cache = new HashSet<(Bits, StateSet<TState>)>();
        var calls = new Stack<(Entry Call, StateSet<TState> Before, bool Forced)>();
        var state = new StateSet<TState>([_model.Initial]);
        List<int> longest = [];
        long steps = 0;

        var entry = head.Next;
        while (entry is not null)
        {
            if (!entry.IsCall && entry.Optional)
            {
                // Only returns of unknown operations (time +infinity) remain ahead: every known
                // operation is linearized, and the rest may never have happened.
                return new PartitionResult(_partition, Verdict.Linearizable, _ops.Count, steps, longest, null);
            }

            var backtrack = !entry.IsCall;
            if (entry.IsCall)
            {
                if (++steps > _options.StepsPerPartitionMax)
                {
                    return new PartitionResult(_partition, Verdict.Unknown, _ops.Count, steps, longest, null);
                }

                var next = Step(state, entry.Id);
                var unchanged = next is not null && next.Equals(state);
                var op = _history[_ops[entry.Id]];
                var noOp = unchanged && op.Outcome == Outcome.Ok && _model.ChangesNothing(op.Input, op.Output!);
                if (next is null || (unchanged && entry.Match!.Optional))
                {
                    // Impossible here; or an unknown operation that would change nothing, which is
                    // the same as leaving it out (it stays available for later).
                    entry = entry.Next;
                    continue;
                }

                var grown = linearized.With(entry.Id);
                if (cache.Add((grown, next)))
                {
                    // An operation that changes no state wherever it is legal (the model says so)
                    // is taken at once and never reconsidered: any linearization that places it
                    // later stays valid with it moved here (its call is already open, and without
                    // its filtering the states in between are a superset). Only such operations:
                    // one that is merely a no-op here (a session end for a non-holder) may be
                    // needed later where it does change the state.
                    calls.Push((entry, state, noOp));
                    state = next;
                    linearized = grown;
                    Lift(entry);
                    if (calls.Count > longest.Count)
                    {
                        longest = [.. calls.Reverse().Select(c => _ops[c.Call.Id])];
                    }

                    entry = head.Next;
                    continue;
                }

                // Explored before. For a forced no-op that means this whole prefix fails.
                backtrack = noOp;
                entry = entry.Next;
            }

            if (backtrack)
            {
                // A known return is reached before its call was linearized (or a forced step
                // failed): undo choices, past every forced one, back to a real choice.
                while (true)
                {
                    if (calls.Count == 0)
                    {
                        return new PartitionResult(_partition, Verdict.NotLinearizable, _ops.Count, steps, longest, FirstOutside(longest));
                    }

                    var (call, before, forced) = calls.Pop();
                    state = before;
                    linearized = linearized.Without(call.Id);
                    Unlift(call);
                    entry = call.Next;
                    if (!forced)
                    {
                        break;
                    }
                }
            }
        }

        return new PartitionResult(_partition, Verdict.Linearizable, _ops.Count, steps, longest, null);
    }

    // The operation with the earliest completion that the longest linearization could not take in.
    private int FirstOutside(List<int> longest)
    {
        var inside = longest.ToHashSet();
        return _ops.Where(i => !inside.Contains(i)).MinBy(i => _history[i].Complete);
    }

    private StateSet<TState>? Step(StateSet<TState> states, int id)
    {
        var op = _history[_ops[id]];
        var output = op.Outcome == Outcome.Ok ? op.Output : null;
        _scratch.Clear();
        foreach (var s in states.Items)
        {
            _model.Step(s, op.Input, output, _scratch);
        }

        return _scratch.Count == 0 ? null : new StateSet<TState>(_scratch);
    }

    private Entry BuildList()
    {
        var entries = new List<Entry>(_ops.Count * 2);
        for (var id = 0; id < _ops.Count; id++)
        {
            var op = _history[_ops[id]];
            var unknown = op.Outcome == Outcome.Unknown;
            var call = new Entry { Id = id, IsCall = true, Time = op.Invoke };
            var ret = new Entry { Id = id, IsCall = false, Time = unknown ? long.MaxValue : op.Complete, Optional = unknown, Match = call };
            call.Match = ret;
            entries.Add(call);
            entries.Add(ret);
        }

        // At equal times calls come first: touching operations count as concurrent, the
        // permissive reading, so a coarse clock can hide a violation but never invent one.
        entries.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.IsCall != b.IsCall ? (a.IsCall ? -1 : 1) : a.Id.CompareTo(b.Id));
        var head = new Entry { Id = -1, IsCall = false, Time = long.MinValue };
        var last = head;
        foreach (var e in entries)
        {
            last.Next = e;
            e.Prev = last;
            last = e;
        }

        return head;
    }

    private static void Lift(Entry call)
    {
        Unlink(call);
        Unlink(call.Match!);
    }

    private static void Unlink(Entry e)
    {
        e.Prev!.Next = e.Next;
        if (e.Next is not null)
        {
            e.Next.Prev = e.Prev;
        }
    }

    // Relinks in the reverse order of Lift; every entry still points at its old neighbours.
    private static void Unlift(Entry call)
    {
        Relink(call.Match!);
        Relink(call);
    }

    private static void Relink(Entry e)
    {
        e.Prev!.Next = e;
        if (e.Next is not null)
        {
            e.Next.Prev = e;
        }
    }
}

/// <summary>An immutable bitset with value equality: the set of linearized operations.</summary>
internal sealed class Bits : IEquatable<Bits>
{
    private readonly ulong[] _words;
    private readonly int _hash;

    public Bits(int count) : this(new ulong[(count + 63) / 64])
    {
    }

    private Bits(ulong[] words)
    {
        _words = words;
        var h = new HashCode();
        foreach (var w in words)
        {
            h.Add(w);
        }

        _hash = h.ToHashCode();
    }

    public Bits With(int i) => Flip(i, true);

    public Bits Without(int i) => Flip(i, false);

    private Bits Flip(int i, bool set)
    {
        var words = (ulong[])_words.Clone();
        var mask = 1UL << (i % 64);
        Invariant.Require(((words[i / 64] & mask) != 0) != set, "a bit is set only when clear and cleared only when set");
        words[i / 64] ^= mask;
        return new Bits(words);
    }

    public bool Equals(Bits? other) => other is not null && _hash == other._hash && _words.AsSpan().SequenceEqual(other._words);

    public override bool Equals(object? obj) => Equals(obj as Bits);

    public override int GetHashCode() => _hash;
}

/// <summary>A set of model states with value equality (the state of a nondeterministic model).</summary>
internal sealed class StateSet<TState> : IEquatable<StateSet<TState>>
    where TState : notnull
{
    private readonly HashSet<TState> _items;
    private readonly int _hash;

    public StateSet(IEnumerable<TState> states)
    {
        _items = [.. states];
        foreach (var s in _items)
        {
            _hash += s.GetHashCode(); // order-free
        }
    }

    public IReadOnlyCollection<TState> Items => _items;

    public bool Equals(StateSet<TState>? other) => other is not null && _hash == other._hash && _items.SetEquals(other._items);

    public override bool Equals(object? obj) => Equals(obj as StateSet<TState>);

    public override int GetHashCode() => _hash;
}
