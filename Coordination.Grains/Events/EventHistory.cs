namespace Coordination.Grains;

/// <summary>
/// The last <see cref="Limits.EventHistoryMax"/> events, oldest first, in a ring. Events leave
/// only by whole revisions, so "every event after revision r" is either fully present or
/// explicitly compacted (<see cref="CompactedThrough"/>), never partly missing.
/// </summary>
internal sealed class EventHistory
{
    private readonly GrainEvent[] _ring;
    private int _head;

    public EventHistory(int capacity = Limits.EventHistoryMax)
    {
        GrainInvariant.Require(capacity > 0, "Event history capacity must be positive.");
        _ring = new GrainEvent[capacity];
    }

    public int Count { get; private set; }

    /// <summary>The highest revision whose events are no longer (all) kept; 0 when nothing was dropped.</summary>
    public ulong CompactedThrough { get; private set; }

    private GrainEvent At(int logical) => _ring[(_head + logical) % _ring.Length];

    public void Append(GrainEvent e)
    {
        GrainInvariant.Require(Count == 0 || At(Count - 1).Revision <= e.Revision, "Events must be appended in revision order.");
        if (e.Revision <= CompactedThrough)
        {
            // One revision produced more events than the history holds; it is already reported as
            // compacted, so keeping a tail of it would be a partial revision.
            return;
        }

        if (Count == _ring.Length)
        {
            DropOldestRevision();
            if (e.Revision <= CompactedThrough)
            {
                return;
            }
        }

        _ring[(_head + Count) % _ring.Length] = e;
        Count++;
    }

    private void DropOldestRevision()
    {
        var revision = At(0).Revision;
        while (Count > 0 && At(0).Revision == revision)
        {
            _ring[_head] = null!;
            _head = (_head + 1) % _ring.Length;
            Count--;
        }

        CompactedThrough = revision;
    }

    /// <summary>Drops every event and reports everything through <paramref name="revision"/> as compacted (a restore that skips revisions).</summary>
    public void CompactThrough(ulong revision)
    {
        GrainInvariant.Require(revision >= CompactedThrough && (Count == 0 || revision >= At(Count - 1).Revision), "Compaction never moves back or keeps newer events.");
        Array.Clear(_ring);
        (_head, Count) = (0, 0);
        CompactedThrough = revision;
    }

    /// <summary>Calls <paramref name="action"/> for every kept event of <paramref name="revision"/> when it is the newest revision (the entry just applied).</summary>
    public void ForEachOfNewest(ulong revision, Action<GrainEvent> action)
    {
        var first = Count;
        while (first > 0 && At(first - 1).Revision == revision)
        {
            first--;
        }

        for (var i = first; i < Count; i++)
        {
            action(At(i));
        }
    }

    /// <summary>See <see cref="EventsPage"/> for the contract.</summary>
    public EventsPage Since(ulong afterRevision, EventFilter filter, int maxEvents, ulong appliedIndex)
    {
        if (afterRevision < CompactedThrough)
        {
            return new EventsPage(true, appliedIndex, []);
        }

        var events = new List<GrainEvent>();
        var low = FirstAfter(afterRevision);
        for (var i = low; i < Count; i++)
        {
            var e = At(i);
            if (events.Count >= maxEvents && e.Revision != events[^1].Revision)
            {
                // Stop only between revisions, so that resuming after the last returned revision
                // loses nothing.
                return new EventsPage(false, events[^1].Revision, events, More: true);
            }

            if (filter.Matches(e))
            {
                events.Add(e);
            }
        }

        return new EventsPage(false, Math.Max(appliedIndex, afterRevision), events);
    }

    /// <summary>Binary search: the logical position of the first event with a revision above <paramref name="revision"/>.</summary>
    private int FirstAfter(ulong revision)
    {
        int low = 0, high = Count;
        while (low < high)
        {
            var mid = (low + high) / 2;
            if (At(mid).Revision <= revision)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }

    public void Write(BinaryEncoder encoder)
    {
        encoder.WriteUInt64(CompactedThrough);
        encoder.WriteCount(Count);
        for (var i = 0; i < Count; i++)
        {
            var e = At(i);
            encoder.WriteUInt64(e.Revision);
            encoder.WriteByte((byte)e.Type);
            encoder.WriteByte((byte)e.Kind);
            encoder.WriteString(e.Name);
            encoder.WriteUInt64(e.SessionId);
            encoder.WriteUInt64(e.Token);
            encoder.WriteString(e.Subject);
            encoder.WriteInt64(e.Version);
        }
    }

    /// <summary>Fills this empty history from a snapshot.</summary>
    public void Read(ref BinaryDecoder decoder)
    {
        GrainInvariant.Require(Count == 0 && CompactedThrough == 0, "Snapshots are read into an empty history.");
        var history = this;
        history.CompactedThrough = decoder.ReadUInt64();
        var count = decoder.ReadCount(Limits.EventHistoryMax);
        for (var i = 0; i < count; i++)
        {
            var e = new GrainEvent(
                decoder.ReadUInt64(),
                decoder.ReadEnum<EventType>(),
                decoder.ReadEnum<GrainKind>(),
                decoder.ReadString(Limits.NameLengthMax),
                decoder.ReadUInt64(),
                decoder.ReadUInt64(),
                decoder.ReadString(Limits.NameLengthMax),
                decoder.ReadInt64());
            if (e.Revision <= history.CompactedThrough || (history.Count > 0 && e.Revision < history.At(history.Count - 1).Revision))
            {
                throw new CorruptDataException("Snapshot events are out of revision order.");
            }

            history.Append(e);
        }
    }
}
