namespace Coordination.Grains;

/// <summary>The state of one grain kind, as the registry and the snapshot format need it.</summary>
internal interface IGrainState<TSelf>
    where TSelf : class, IGrainState<TSelf>, new()
{
    /// <summary>True when the grain is back in its initial state: it is then dropped from memory.</summary>
    bool IsEmpty { get; }

    /// <summary>
    /// Throws <see cref="GrainInvariantException"/> if the grain's own invariants do not hold.
    /// Without <paramref name="full"/> only the checks that cost little per command run (after
    /// every command, in release builds too); <paramref name="full"/> adds whole-grain scans
    /// (duplicate sessions) for tests and snapshot restore.
    /// </summary>
    void CheckInvariants(string name, bool full);

    void Write(BinaryEncoder encoder);

    static abstract TSelf Read(ref BinaryDecoder decoder);
}

/// <summary>
/// Virtual activation for one grain kind: every name exists logically; only grains that differ
/// from their empty state are in memory. Handlers get a grain from <see cref="Activate"/> (the
/// stored one or a fresh empty one) and hand it back through <see cref="Settle"/>, which keeps it
/// only if it is non-empty. Ordered by ordinal name so snapshots and scans are deterministic.
/// </summary>
internal sealed class GrainRegistry<TState>(GrainKind kind)
    where TState : class, IGrainState<TState>, new()
{
    private readonly SortedDictionary<string, TState> _active = new(StringComparer.Ordinal);

    public GrainKind Kind { get; } = kind;

    public int Count => _active.Count;

    public IEnumerable<KeyValuePair<string, TState>> InNameOrder => _active;

    public TState? Find(string name) => _active.GetValueOrDefault(name);

    /// <summary>The grain for <paramref name="name"/>, or a rejection if the name is invalid or a new grain would exceed <see cref="Limits.GrainsPerKindMax"/>.</summary>
    public TState? Activate(string name, out Rejected? rejected)
    {
        rejected = null;
        if (!Names.IsValid(name))
        {
            rejected = new Rejected(ErrorCode.InvalidName, $"'{name}' is not a valid {Kind} name.");
            return null;
        }

        if (_active.TryGetValue(name, out var state))
        {
            return state;
        }

        if (_active.Count >= Limits.GrainsPerKindMax)
        {
            rejected = new Rejected(ErrorCode.LimitExceeded, $"{Limits.GrainsPerKindMax} {Kind} grains are active (GrainsPerKindMax).");
            return null;
        }

        return new TState();
    }

    /// <summary>Stores a grain after a command touched it, or drops it if it is empty again (deactivation).</summary>
    public void Settle(string name, TState state)
    {
        if (state.IsEmpty)
        {
            _active.Remove(name);
            return;
        }

        state.CheckInvariants(name, full: false);
        _active[name] = state;
    }

    public void CheckInvariants()
    {
        foreach (var (name, state) in _active)
        {
            GrainInvariant.Require(!state.IsEmpty, $"Empty {Kind} grain '{name}' is still active.");
            state.CheckInvariants(name, full: true);
        }
    }

    public void Write(BinaryEncoder encoder)
    {
        encoder.WriteCount(_active.Count);
        foreach (var (name, state) in _active)
        {
            encoder.WriteString(name);
            state.Write(encoder);
        }
    }

    public void Read(ref BinaryDecoder decoder)
    {
        GrainInvariant.Require(_active.Count == 0, "Snapshots are read into an empty registry.");
        var count = decoder.ReadCount(Limits.GrainsPerKindMax);
        string? previous = null;
        for (var i = 0; i < count; i++)
        {
            var name = decoder.ReadString(Limits.NameLengthMax);
            if (!Names.IsValid(name) || (previous is not null && string.CompareOrdinal(previous, name) >= 0))
            {
                throw new CorruptDataException($"Snapshot {Kind} name '{name}' is invalid or out of order.");
            }

            var state = TState.Read(ref decoder);
            if (state.IsEmpty)
            {
                throw new CorruptDataException($"Snapshot holds an empty {Kind} grain '{name}'.");
            }

            _active.Add(name, state);
            previous = name;
        }
    }
}
